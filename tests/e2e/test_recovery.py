"""A lost or damaged state store, an unreachable backend at delete, a delete racing a create:
nothing a user pays for is orphaned, and every record that is dropped says what it left behind."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NEXUS_BIN, NexusEnv, remove_containers
from tests.e2e.test_docker_cli import container_of, ok
from tests.e2e.test_git_isolation import git

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

NOWHERE = {"DOCKER_HOST": "tcp://127.0.0.1:9"}  # nothing listens there: the engine is unreachable


@pytest.fixture
def installation(nexus_env: NexusEnv) -> Iterator[list[str]]:
    """Remembers the installation id before the test breaks the store, and removes its containers
    even when the store cannot be read any more."""
    ids: list[str] = []
    try:
        yield ids
    finally:
        for iid in ids:
            remove_containers(iid)


def branches(repo: Path) -> list[str]:
    out = git(repo, "branch", "--format=%(refname:short)").stdout
    return sorted(out.split())


def assert_store_error(result: subprocess.CompletedProcess[str], db: Path) -> None:
    assert result.returncode == 1, result
    assert "STORE_ERROR" in result.stderr, result.stderr
    assert str(db) in result.stderr
    assert "nexus workspace recover" in result.stderr
    assert "Traceback" not in result.stderr and "INTERNAL_ERROR" not in result.stderr


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted"])
def test_records_are_rebuilt_from_the_containers(
    nexus_env: NexusEnv, repo: Path, installation: list[str], damage: str
) -> None:
    ok(nexus_env.run("workspace", "create", "plain", "--no-worktree", "--label", "team=core"))
    ok(nexus_env.run("workspace", "create", "tree"))
    iid = nexus_env.installation_id()
    assert iid
    installation.append(iid)
    before = {
        ws["name"]: ws
        for ws in json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)["workspaces"]
    }
    assert before["tree"]["branch"] == "nexus/tree"
    worktree = repo / ".worktree" / "tree"
    assert worktree.is_dir()

    db = nexus_env.nexus_home / "state.db"
    for side in (db.with_name("state.db-wal"), db.with_name("state.db-shm")):
        side.unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(b"this is not an SQLite database, it is garbage\n" * 200)
    elif damage == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()

    if damage == "deleted":
        listed = ok(nexus_env.run("workspace", "list"))
        assert "2 workspace(s) of this installation have no record" in listed.stderr
        assert "nexus workspace recover" in listed.stderr
    else:
        broken = db.read_bytes()
        for command in (
            ("workspace", "list"),
            ("workspace", "info", "tree"),
            ("workspace", "exec", "tree", "--", "true"),
            ("workspace", "delete", "tree", "--force"),
            ("workspace", "create", "third"),
            ("workspace", "stop", "plain"),
        ):
            result = nexus_env.run(*command)
            if command[1] == "exec":  # exec reports Nexus's own failures as 255, like ssh
                assert result.returncode == 255
                result = subprocess.CompletedProcess(result.args, 1, result.stdout, result.stderr)
            assert_store_error(result, db)
        failed = json.loads(nexus_env.run("workspace", "list", "--json").stdout)
        assert failed["error"]["code"] == "STORE_ERROR"
        assert db.read_bytes() == broken  # nothing touched the damaged file

    report = json.loads(ok(nexus_env.run("workspace", "recover", "--json")).stdout)
    assert sorted(ws["name"] for ws in report["recovered"]) == ["plain", "tree"]
    assert report["failed"] == [] and report["installationId"] == iid
    if damage == "deleted":
        assert report["movedAside"] is None
    else:
        kept = Path(report["movedAside"])
        assert kept.name.startswith("state.db.broken-") and kept.read_bytes() == broken

    after = {
        ws["name"]: ws
        for ws in json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)["workspaces"]
    }
    for name in ("plain", "tree"):
        for key in ("status", "sshPort", "localPath", "branch", "remotePath", "resources"):
            assert after[name][key] == before[name][key], (name, key)
    assert after["plain"]["labels"] == {"team": "core"}
    assert after["tree"]["localPath"] == str(worktree)
    assert "no record" not in nexus_env.run("workspace", "list").stderr

    seen = ok(nexus_env.run("workspace", "exec", "tree", "--", "git", "branch", "--show-current"))
    assert seen.stdout == "nexus/tree\n"
    ok(nexus_env.run("workspace", "exec", "plain", "--", "cat", "README.md"))
    # the ssh config was rewritten too: plain ssh reaches it by its alias
    ssh = subprocess.run(
        ["ssh", "-F", str(nexus_env.nexus_home / "ssh" / "config"), "nexus-plain", "hostname"],
        capture_output=True,
        text=True,
        env=nexus_env.env,
        timeout=60,
    )
    assert ssh.stdout == "plain\n", ssh.stderr

    ok(nexus_env.run("workspace", "delete", "tree"))
    assert not worktree.exists()
    assert branches(repo) == ["main"]
    assert container_of("tree", iid) == {}
    ok(nexus_env.run("workspace", "delete", "plain"))
    assert container_of("plain", iid) == {}
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}


def test_delete_keeps_the_record_while_the_engine_is_unreachable(
    nexus_env: NexusEnv, installation: list[str]
) -> None:
    ok(nexus_env.run("workspace", "create", "kept", "--no-worktree"))
    iid = nexus_env.installation_id()
    assert iid
    installation.append(iid)
    container_id = container_of("kept", iid)["Id"]

    refused = nexus_env.run("workspace", "delete", "kept", "--force", extra_env=NOWHERE)
    assert refused.returncode == 5, refused.stderr
    assert "DOCKER_UNAVAILABLE" in refused.stderr and "is kept" in refused.stderr
    assert "delete it with forget" in refused.stderr and "--forget" in refused.stderr
    assert "Traceback" not in refused.stderr
    # the record and the container are both still there, as they were
    listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert [(ws["name"], ws["status"]) for ws in listed] == [("kept", "running")]
    assert container_of("kept", iid)["State"]["Running"] is True
    ok(nexus_env.run("workspace", "exec", "kept", "--", "true"))

    forgotten = nexus_env.run(
        "workspace", "delete", "kept", "--forget", "--json", extra_env=NOWHERE
    )
    assert forgotten.returncode == 0, forgotten.stderr
    [left] = json.loads(forgotten.stdout)["leftBehind"]
    assert left["backend"] == "docker" and left["kind"] == "container"
    assert left["id"] == container_id and left["name"] == f"nexus-kept-{iid}"
    assert left["command"] == f"docker rm -f {container_id}"
    assert left["reason"].startswith("DOCKER_UNAVAILABLE")
    assert "warning" in forgotten.stderr and f"docker rm -f {container_id}" in forgotten.stderr
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}
    # what it printed is exactly what removes the container left behind
    assert container_of("kept", iid)["Id"] == container_id
    subprocess.run(shlex.split(left["command"]), check=True, capture_output=True)
    assert container_of("kept", iid) == {}


def test_forget_is_silent_when_the_container_is_already_gone(
    nexus_env: NexusEnv, repo: Path, installation: list[str]
) -> None:
    ok(nexus_env.run("workspace", "create", "gone"))
    iid = nexus_env.installation_id()
    assert iid
    installation.append(iid)
    subprocess.run(
        ["docker", "rm", "-f", "-v", f"nexus-gone-{iid}"], check=True, capture_output=True
    )
    forgotten = ok(nexus_env.run("workspace", "delete", "gone", "--forget", "--json"))
    assert json.loads(forgotten.stdout)["leftBehind"] == []
    assert "warning" not in forgotten.stderr
    assert not (repo / ".worktree" / "gone").exists()
    assert branches(repo) == ["main"]


def test_delete_of_a_removed_container_cleans_the_worktree(
    nexus_env: NexusEnv, repo: Path, installation: list[str]
) -> None:
    ok(nexus_env.run("workspace", "create", "vanished"))
    iid = nexus_env.installation_id()
    assert iid
    installation.append(iid)
    subprocess.run(
        ["docker", "rm", "-f", "-v", f"nexus-vanished-{iid}"], check=True, capture_output=True
    )
    deleted = ok(nexus_env.run("workspace", "delete", "vanished"))
    assert "warning" not in deleted.stderr
    assert not (repo / ".worktree" / "vanished").exists()
    assert branches(repo) == ["main"]
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}


def test_delete_force_cancels_a_create_in_its_worktree_phase(
    nexus_env: NexusEnv, repo: Path, installation: list[str]
) -> None:
    # the user's own hook: it runs on the host during `git worktree add`, and takes a while
    marks = nexus_env.home / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ntouch {marks}/checkout\nsleep 4\n")
    hook.chmod(0o755)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(repo / ".git")], check=True)

    create = subprocess.Popen(
        [NEXUS_BIN, "workspace", "create", "racy"],
        cwd=repo,
        env=nexus_env.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not (marks / "checkout").exists():  # the create is inside `git worktree add`
            assert create.poll() is None, create.communicate()
            time.sleep(0.05)
        iid = nexus_env.installation_id()
        assert iid
        installation.append(iid)

        busy = nexus_env.run("workspace", "delete", "racy")
        assert busy.returncode == 4 and "WORKSPACE_BUSY" in busy.stderr

        deleted = ok(nexus_env.run("workspace", "delete", "racy", "--force"))
        assert "cancelled and cleaned up" in deleted.stdout
        _, stderr = create.communicate(timeout=60)
    finally:
        if create.poll() is None:
            create.kill()
    assert create.returncode == 130 and "CANCELLED" in stderr, stderr
    assert "Traceback" not in stderr
    assert not (repo / ".worktree" / "racy").exists()
    assert branches(repo) == ["main"]
    assert "racy" not in git(repo, "worktree", "list").stdout
    assert container_of("racy", iid) == {}
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_home_from_before_the_id_file_is_recovered_under_its_old_id(
    nexus_env: NexusEnv, installation: list[str], damage: str
) -> None:
    """A home made before Nexus kept ``installation-id`` beside the store, whose store is then
    lost: no command mints a new id (that would orphan the containers); recover finds the old
    one on the engine from the host keys the home keeps."""
    ok(nexus_env.run("workspace", "create", "legacy", "--no-worktree"))
    iid = nexus_env.installation_id()
    assert iid
    installation.append(iid)
    id_file = nexus_env.nexus_home / "installation-id"
    id_file.unlink()  # as a home from before the file
    db = nexus_env.nexus_home / "state.db"
    for side in (db.with_name("state.db-wal"), db.with_name("state.db-shm")):
        side.unlink(missing_ok=True)
    if damage == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()

    for command in (("workspace", "list"), ("workspace", "create", "other", "--no-worktree")):
        refused = nexus_env.run(*command)
        assert_store_error(refused, db)
        assert "legacy" in refused.stderr  # the workspace whose host key the home keeps
    # nothing was minted or made meanwhile
    assert not id_file.exists()
    assert db.exists() == (damage == "truncated")
    if damage == "truncated":
        assert db.read_bytes() == b""
    assert container_of("other", iid) == {}

    report = json.loads(ok(nexus_env.run("workspace", "recover", "--json")).stdout)
    assert report["installationId"] == iid
    assert [ws["name"] for ws in report["recovered"]] == ["legacy"]
    assert report["failed"] == []
    assert (report["movedAside"] is None) == (damage == "deleted")
    assert id_file.read_text().strip() == iid

    ok(nexus_env.run("workspace", "exec", "legacy", "--", "true"))
    ok(nexus_env.run("workspace", "delete", "legacy"))
    assert container_of("legacy", iid) == {}
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}


def test_a_failed_engine_read_forgets_what_an_earlier_list_saw(
    nexus_env: NexusEnv, installation: list[str]
) -> None:
    """A long-lived process (the sidecar) lists, then the engine goes away: the next list must
    not report the containers the earlier read saw as still lacking a record."""
    import asyncio

    from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
    from nexus.service.context import NexusContext
    from nexus.service.workspaces import WorkspaceService

    context = NexusContext()
    try:
        service = WorkspaceService(context)
        iid = context.store.installation_id
        installation.append(iid)
        # a container of this installation whose record is lost, and its host key in this home
        subprocess.run(
            ["docker", "run", "-d", "--name", f"nexus-ghost-{iid}", "--label",
             f"nexus.installation={iid}", "--label", "nexus.workspace=ghost",
             "debian:bookworm-slim", "sleep", "300"],
            check=True, capture_output=True,
        )  # fmt: skip
        keys = context.paths.host_keys_dir
        keys.mkdir(parents=True)
        (keys / "ghost_ed25519").write_text("a host key\n")

        # and a record of another workspace: list reads the engine for it anyway
        context.store.reserve(
            Workspace(name="kept", backend=BackendType.DOCKER, status=WorkspaceStatus.STOPPED)
        )

        assert [ws.name for ws in asyncio.run(service.list())] == ["kept"]
        assert service.unrecorded == ("ghost",)

        backend = context.backends.get(BackendType.DOCKER)
        backend._client = None  # type: ignore[attr-defined]
        backend._host = NOWHERE["DOCKER_HOST"]  # type: ignore[attr-defined]  # the engine is gone
        [kept] = asyncio.run(service.list())
        assert kept.status is WorkspaceStatus.UNKNOWN
        assert not service.unrecorded
        assert backend.unrecorded(set()) == []  # type: ignore[attr-defined]
    finally:
        context.close()
