"""A local worktree synced with a Daytona sandbox (the emulator, through its SSH gateway) by the
real Mutagen: `create --from PATH`, both directions, token renewal, and the lifecycle."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MUTAGEN_BIN, NexusEnv
from tests.daytona_backend.test_daytona_failures import _revoke_elsewhere, _token
from tests.daytona_emulator import EmulatorThread
from tests.e2e.test_docker_cli import ok
from tests.sync.conftest import (
    daemon_pids,
    remote,
    remote_text,
    session_of,
    settled,
    sync_json,
)

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def _git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=path, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture
def synced_repo(daytona_env: NexusEnv) -> Path:
    """The project as a git repository with a few files; Mutagen available."""
    if not MUTAGEN_BIN.exists():
        pytest.fail(f"no Mutagen at {MUTAGEN_BIN}: run scripts/setup.sh", pytrace=False)
    daytona_env.env["NEXUS_MUTAGEN"] = str(MUTAGEN_BIN)
    path = daytona_env.project
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('v1')\n")
    (path / ".gitignore").write_text("*.log\n")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "add", "-A")
    _git(path, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "one")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(path)], check=True)
    return path


def _create(env: NexusEnv, name: str, source: Path) -> dict[str, Any]:
    created = ok(
        env.run(
            "workspace", "create", name, "--backend", "daytona", "--from", str(source), "--json"
        )
    )
    return dict(json.loads(created.stdout))


def test_a_local_worktree_syncs_with_the_sandbox(
    daytona_env: NexusEnv, emulator: EmulatorThread, synced_repo: Path
) -> None:
    env = daytona_env
    ws = _create(env, "dsy", synced_repo)
    worktree = synced_repo / ".worktree" / "dsy"
    assert ws["localPath"] == str(worktree)
    where = ws["remotePath"]
    # the first cycle was done when create returned
    assert remote_text(env, "dsy", f"{where}/src/app.py") == "print('v1')\n"
    assert remote(env, "dsy", f"test ! -e {where}/.git").returncode == 0  # git stays here
    session = settled(env, "dsy")
    assert session["state"] == "watching" and session["connected"], session
    assert session["remote"]["url"] == f"nexus-dsy:{where}"
    assert session["local"]["path"] == str(worktree)

    # this machine -> the sandbox
    (worktree / "src" / "app.py").write_text("print('v2')\n")
    (worktree / "notes.md").write_text("local note\n")
    (worktree / ".gitignore").unlink()
    sync_json(env, "flush", "dsy")
    assert remote_text(env, "dsy", f"{where}/src/app.py") == "print('v2')\n"
    assert remote_text(env, "dsy", f"{where}/notes.md") == "local note\n"
    assert remote(env, "dsy", f"test ! -e {where}/.gitignore").returncode == 0

    # the sandbox -> this machine (a repository it makes there never reaches the host)
    script = (
        f"cd {where} && echo built > out.txt && echo \"print('v3')\" > src/app.py && rm notes.md"
        " && git init -q inner && echo x > inner/x.txt"
    )
    assert remote(env, "dsy", script).returncode == 0
    sync_json(env, "flush", "dsy")
    assert (worktree / "out.txt").read_text() == "built\n"
    assert (worktree / "src" / "app.py").read_text() == "print('v3')\n"
    assert not (worktree / "notes.md").exists()
    assert (worktree / "inner" / "x.txt").read_text() == "x\n"
    assert not (worktree / "inner" / ".git").exists()
    # the worktree is still a working git worktree on this machine, on its branch
    assert _git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip() == "nexus/dsy"
    assert "out.txt" in _git(worktree, "status", "--porcelain")

    # the editor opens the local worktree; the sync keeps the sandbox current
    opened = ok(env.run("workspace", "open", "dsy", "--mode", "local", "--print", "--json"))
    assert json.loads(opened.stdout)["localPath"] == str(worktree)

    # a token revoked by another client: Mutagen's ssh renews it (the ssh config's Match exec)
    old = _token(env, "dsy")
    _revoke_elsewhere(emulator, ws["backendId"])
    sync_json(env, "pause", "dsy")
    (worktree / "after-revoke.txt").write_text("still flows\n")
    sync_json(env, "resume", "dsy")
    sync_json(env, "flush", "dsy")
    assert remote_text(env, "dsy", f"{where}/after-revoke.txt") == "still flows\n"
    assert _token(env, "dsy") != old

    # stop pauses, start resumes, delete terminates and leaves nothing of the sync
    ok(env.run("workspace", "stop", "dsy"))
    assert session_of(env, "dsy")["state"] == "paused"
    ok(env.run("workspace", "start", "dsy"))
    (worktree / "after-start.txt").write_text("resumed\n")
    sync_json(env, "flush", "dsy")
    assert settled(env, "dsy")["state"] == "watching"
    assert remote_text(env, "dsy", f"{where}/after-start.txt") == "resumed\n"
    _git(worktree, "add", "-A")
    _git(worktree, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "w")
    ok(env.run("workspace", "delete", "dsy"))
    assert not (env.nexus_home / "sync").exists()
    assert daemon_pids(env.nexus_home) == []


def test_create_from_a_folder_without_mutagen_makes_nothing(
    daytona_env: NexusEnv, emulator: EmulatorThread, tmp_path: Path
) -> None:
    env = daytona_env
    before = {s.id for s in emulator.emulator.store.all()}
    failed = env.run(
        "workspace", "create", "nomg", "--backend", "daytona", "--from", str(env.project),
        "--json", extra_env={"NEXUS_MUTAGEN": str(tmp_path / "absent")},
    )  # fmt: skip
    assert failed.returncode == 6, failed.stdout + failed.stderr
    assert json.loads(failed.stdout)["error"]["code"] == "SYNC_FAILED"
    assert {s.id for s in emulator.emulator.store.all()} == before
    assert json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"] == []
