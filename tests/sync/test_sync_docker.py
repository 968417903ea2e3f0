"""`nexus sync` against a real Docker workspace with the real Mutagen: a local folder synced into a
path of the container that is not its mounted folder (the remote-engine case)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MUTAGEN_BIN, NexusEnv
from tests.e2e.test_docker_cli import ok
from tests.sync.conftest import (
    daemon_pids,
    kill_daemon,
    remote,
    remote_text,
    session_of,
    settled,
    sync_json,
)

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

SYNCED = "/home/nexus/synced"


def _create(env: NexusEnv, name: str) -> None:
    ok(env.run("workspace", "create", name, "--from", str(env.project), "--no-worktree"))


def _start(env: NexusEnv, name: str) -> dict[str, Any]:
    return sync_json(env, "start", name, "--remote", SYNCED)


def _flush(env: NexusEnv, name: str) -> dict[str, Any]:
    return sync_json(env, "flush", name)


def test_files_go_both_ways_and_version_control_stays_here(sync_env: NexusEnv) -> None:
    env = sync_env
    project = env.project
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[core]\n\tbare = false\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('v1')\n")
    (project / "sub").mkdir()
    (project / "sub" / ".git").write_text("gitdir: /somewhere/else\n")  # a worktree's .git file
    (project / "debug.log").write_text("ignored by the default patterns\n")
    _create(env, "sy1")

    report = _start(env, "sy1")
    assert report["configured"] and report["remote"] == SYNCED
    session = settled(env, "sy1")
    assert session["state"] == "watching" and session["connected"], session
    assert session["mode"] == "two-way-safe" and session["ignoreVcs"] is True
    info = json.loads(ok(env.run("workspace", "info", "sy1", "--json")).stdout)
    assert info["sync"] == {
        "local": str(project), "remote": SYNCED, "mode": "two-way-safe", "ignore": []
    }  # fmt: skip
    assert f"{project} ⇄ {SYNCED}" in ok(env.run("workspace", "info", "sy1")).stdout
    assert ".git" in session["ignores"] and session["successfulCycles"] >= 1
    # the first cycle was done when start returned
    assert remote_text(env, "sy1", f"{SYNCED}/src/app.py") == "print('v1')\n"
    assert remote_text(env, "sy1", f"{SYNCED}/README.md") == "hello from the host\n"
    for never in (".git", "sub/.git", "debug.log"):
        assert remote(env, "sy1", f"test ! -e {SYNCED}/{never}").returncode == 0, never

    # this machine -> the workspace: create, edit, delete
    (project / "src" / "app.py").write_text("print('v2')\n")
    (project / "new.txt").write_text("made here\n")
    (project / "README.md").unlink()
    _flush(env, "sy1")
    assert remote_text(env, "sy1", f"{SYNCED}/src/app.py") == "print('v2')\n"
    assert remote_text(env, "sy1", f"{SYNCED}/new.txt") == "made here\n"
    assert remote(env, "sy1", f"test ! -e {SYNCED}/README.md").returncode == 0

    # the workspace -> this machine: create, edit, delete, and a repository it plants
    script = (
        f"cd {SYNCED} && echo 'made there' > there.txt && echo \"print('v3')\" > src/app.py"
        " && rm new.txt && mkdir -p planted/.git/hooks"
        " && printf '#!/bin/sh\\necho pwned\\n' > planted/.git/hooks/post-checkout"
        " && echo '[core]' > planted/.git/config && echo kept > planted/file.txt"
    )
    assert remote(env, "sy1", script).returncode == 0
    _flush(env, "sy1")
    assert (project / "there.txt").read_text() == "made there\n"
    assert (project / "src" / "app.py").read_text() == "print('v3')\n"
    assert not (project / "new.txt").exists()
    assert (project / "planted" / "file.txt").read_text() == "kept\n"
    assert not (project / "planted" / ".git").exists()  # no git config or hooks reach this host
    # and this machine's own .git never went, nor came back changed
    assert (project / ".git" / "config").read_text() == "[core]\n\tbare = false\n"
    assert session_of(env, "sy1")["conflictCount"] == 0


def test_a_conflict_is_shown_and_both_sides_are_kept(sync_env: NexusEnv) -> None:
    env = sync_env
    _create(env, "sy2")
    _start(env, "sy2")
    paused = sync_json(env, "pause", "sy2")["sessions"][0]
    assert paused["state"] == "paused" and paused["paused"] is True
    (env.project / "both.txt").write_text("written here\n")
    assert remote(env, "sy2", f"echo 'written there' > {SYNCED}/both.txt").returncode == 0
    resumed = sync_json(env, "resume", "sy2")["sessions"][0]
    assert resumed["paused"] is False
    session = _flush(env, "sy2")["sessions"][0]

    assert session["state"] == "conflicts", session
    assert session["conflictCount"] == 1
    conflict = session["conflicts"][0]
    assert conflict["path"] == "both.txt"
    assert conflict["local"] == ["created file: both.txt"]
    assert conflict["workspace"] == ["created file: both.txt"]
    # two-way-safe loses nothing: each side keeps its own version
    assert (env.project / "both.txt").read_text() == "written here\n"
    assert remote_text(env, "sy2", f"{SYNCED}/both.txt") == "written there\n"
    human = ok(env.run("sync", "status", "sy2")).stdout
    assert "1 conflict(s)" in human and "both.txt" in human

    # making the two agree resolves it
    assert remote(env, "sy2", f"echo 'written here' > {SYNCED}/both.txt").returncode == 0
    _flush(env, "sy2")
    assert settled(env, "sy2")["state"] == "watching"


def test_the_sync_follows_the_workspace_and_its_daemon(sync_env: NexusEnv) -> None:
    env = sync_env
    _create(env, "sy3")
    _start(env, "sy3")
    assert daemon_pids(env.nexus_home), "Nexus runs its own daemon under NEXUS_HOME"
    assert not (env.home / ".mutagen").exists() and not (env.home / ".mutagen-dev").exists()

    ok(env.run("workspace", "stop", "sy3"))
    stopped = session_of(env, "sy3")
    assert stopped["state"] == "paused", stopped
    (env.project / "while-stopped.txt").write_text("waits\n")

    ok(env.run("workspace", "start", "sy3"))
    assert session_of(env, "sy3")["paused"] is False
    _flush(env, "sy3")
    assert remote_text(env, "sy3", f"{SYNCED}/while-stopped.txt") == "waits\n"

    # a daemon that died is started again, and its session resumes
    kill_daemon(env.nexus_home)
    recovered = session_of(env, "sy3")
    assert recovered["paused"] is False
    (env.project / "after-crash.txt").write_text("still syncing\n")
    _flush(env, "sy3")
    assert settled(env, "sy3")["state"] == "watching"
    assert remote_text(env, "sy3", f"{SYNCED}/after-crash.txt") == "still syncing\n"

    ok(env.run("workspace", "delete", "sy3", "--force"))
    assert not (env.nexus_home / "sync").exists(), "no session or daemon files are left"
    assert daemon_pids(env.nexus_home) == []
    assert (env.project / "after-crash.txt").exists()  # the local files stay


def test_sync_stop_keeps_the_files_and_forgets_the_sync(sync_env: NexusEnv) -> None:
    env = sync_env
    _create(env, "sy4")
    _start(env, "sy4")
    stopped = sync_json(env, "stop", "sy4")
    assert stopped["sessions"] == [] and stopped["configured"] is False
    assert remote_text(env, "sy4", f"{SYNCED}/README.md") == "hello from the host\n"
    assert (env.project / "README.md").exists()
    assert not (env.nexus_home / "sync").exists()
    assert daemon_pids(env.nexus_home) == []
    # a stopped sync is not resumed by a workspace restart
    ok(env.run("workspace", "stop", "sy4"))
    ok(env.run("workspace", "start", "sy4"))
    assert sync_json(env, "status", "sy4")["sessions"] == []


def _error(done, code: str, exit_code: int) -> str:  # type: ignore[no-untyped-def]
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    error = json.loads(done.stdout)["error"]
    assert error["code"] == code, error
    assert error["resolution"], error
    return str(error["message"])


def test_bad_input_gets_a_code_and_a_resolution(sync_env: NexusEnv, tmp_path: Path) -> None:
    env = sync_env
    assert _error(env.run("sync", "status", "nope", "--json"), "WORKSPACE_NOT_FOUND", 3)
    _create(env, "sy5")
    assert _error(env.run("sync", "pause", "sy5", "--json"), "SYNC_NOT_FOUND", 3)
    assert _error(env.run("sync", "flush", "sy5", "--json"), "SYNC_NOT_FOUND", 3)
    # a Docker workspace mounts its folder: syncing into it would sync it into itself
    assert "mounts its folder" in _error(
        env.run("sync", "start", "sy5", "--json"), "INVALID_ARGUMENT", 2
    )
    inside = env.run("sync", "start", "sy5", "--remote", "/workspace/sub", "--json")
    assert "into itself" in _error(inside, "INVALID_ARGUMENT", 2)
    gone = env.run(
        "sync", "start", "sy5", "--local", "/no/such/folder", "--remote", SYNCED, "--json"
    )
    _error(gone, "SOURCE_NOT_FOUND", 2)
    mode = env.run("sync", "start", "sy5", "--remote", SYNCED, "--mode", "sideways", "--json")
    assert "sideways" in _error(mode, "INVALID_ARGUMENT", 2)

    # Mutagen missing, named wrongly, or without its agents
    missing = env.run(
        "sync", "start", "sy5", "--remote", SYNCED, "--json",
        extra_env={"NEXUS_MUTAGEN": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "not installed" in _error(missing, "SYNC_FAILED", 6)
    wrong = env.run(
        "sync", "start", "sy5", "--remote", SYNCED, "--json",
        extra_env={"NEXUS_MUTAGEN": str(tmp_path / "mutagen")},
    )  # fmt: skip
    assert "NEXUS_MUTAGEN" in _error(wrong, "SYNC_FAILED", 6)
    lonely = tmp_path / "bin"
    lonely.mkdir()
    shutil.copy2(MUTAGEN_BIN, lonely / "mutagen")
    no_agents = env.run(
        "sync", "start", "sy5", "--remote", SYNCED, "--json",
        extra_env={"NEXUS_MUTAGEN": str(lonely / "mutagen")},
    )  # fmt: skip
    assert "mutagen-agents.tar.gz" in _error(no_agents, "SYNC_FAILED", 6)
    assert not (env.nexus_home / "sync").exists()  # nothing was started

    # a stopped workspace cannot sync
    ok(env.run("workspace", "stop", "sy5"))
    _error(
        env.run("sync", "start", "sy5", "--remote", SYNCED, "--json"), "WORKSPACE_NOT_RUNNING", 7
    )
    ok(env.run("workspace", "start", "sy5"))

    # a local folder that vanished: resume says so, the start of the workspace warns
    local = tmp_path / "local"
    local.mkdir()
    (local / "f.txt").write_text("x\n")
    sync_json(env, "start", "sy5", "--local", str(local), "--remote", SYNCED)
    sync_json(env, "pause", "sy5")
    shutil.rmtree(local)
    assert str(local) in _error(env.run("sync", "resume", "sy5", "--json"), "SOURCE_NOT_FOUND", 2)
    ok(env.run("workspace", "stop", "sy5"))
    started = ok(env.run("workspace", "start", "sy5"))
    assert "is gone" in started.stderr and "Traceback" not in started.stderr
    assert session_of(env, "sy5")["paused"] is True
    assert remote_text(env, "sy5", f"{SYNCED}/f.txt") == "x\n"  # nothing was deleted there
