"""`nexus workspace provider daytona snapshot …` end to end: the CLI, the unmodified SDK, the
emulator's sandboxes (real containers, `docker commit` snapshots) and its SSH gateway."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest

from nexus.backends.daytona.ops.snapshots import SNAPSHOT_NOT_FOUND
from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def snapshot(env: NexusEnv, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    return env.run("workspace", "provider", "daytona", "snapshot", action, *args, "--json")


def data(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(ok(result).stdout)
    return parsed


def error_code(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    return str(json.loads(result.stdout)["error"]["code"])


def create_workspace(env: NexusEnv, name: str, *extra: str) -> dict[str, Any]:
    return data(env.run("workspace", "create", name, "--backend", "daytona", *extra, "--json"))


def sh(env: NexusEnv, name: str, script: str) -> subprocess.CompletedProcess[str]:
    return env.run("workspace", "exec", name, "--", "sh", "-c", script)


def plain_ssh(env: NexusEnv, name: str, command: str) -> subprocess.CompletedProcess[str]:
    """OpenSSH with the user's config (the Nexus block): strict host key checking, pinned key."""
    config = str(env.home / ".ssh" / "config")
    return subprocess.run(
        ["ssh", "-F", config, "-o", "BatchMode=yes", f"nexus-{name}", command],
        capture_output=True,
        text=True,
        timeout=120,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_restore_brings_back_what_the_snapshot_captured(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    env = daytona_env
    ws = create_workspace(env, "snap")
    ok(sh(env, "snap", "echo before > kept.txt"))
    name = unique("base")

    made = data(snapshot(env, "create", "snap", "--name", name))
    assert made["snapshot"]["name"] == name and made["snapshot"]["state"] == "active"
    record = emulator.emulator.store.snapshots[name]
    assert record.source_sandbox_id == ws["backendId"]

    ok(sh(env, "snap", "echo changed > kept.txt; echo later > later.txt"))
    assert ok(sh(env, "snap", "cat kept.txt later.txt")).stdout == "changed\nlater\n"

    restored = data(snapshot(env, "restore", "snap", "--name", name))
    assert restored["previousBackendId"] == ws["backendId"]
    assert restored["backendId"] != ws["backendId"] and restored["previousDeleted"] is True

    # the file written before the snapshot is back, the later change is gone
    assert ok(sh(env, "snap", "cat kept.txt")).stdout == "before\n"
    assert sh(env, "snap", "test -e later.txt").returncode == 1

    # same workspace: name, alias, record; the new sandbox behind it, the old one gone
    listed = data(env.run("workspace", "list", "--json"))["workspaces"]
    assert [(w["name"], w["status"], w["backendId"]) for w in listed] == [
        ("snap", "running", restored["backendId"])
    ]
    assert emulator.emulator.store.find(ws["backendId"]) is None
    new = emulator.emulator.store.get(restored["backendId"])
    assert new.labels["nexus.workspace"] == "snap" and new.snapshot == name
    # plain OpenSSH through the same alias reaches the new sandbox, its host key pinned
    via_ssh = plain_ssh(env, "snap", f"cat {ws['remotePath']}/kept.txt")
    assert via_ssh.stdout == "before\n", via_ssh.stderr
    known_hosts = (env.nexus_home / "ssh" / "known_hosts").read_text()
    assert "nexus-snap" in known_hosts

    listed_snapshots = data(snapshot(env, "list", "snap"))
    assert [(s["name"], s["state"]) for s in listed_snapshots["snapshots"]] == [(name, "active")]

    deleted = data(snapshot(env, "delete", "snap", "--name", name))
    assert deleted["deleted"] is True
    gone = emulator.emulator.store.snapshots.get(name)
    assert gone is None or gone.state == "removing"
    assert data(snapshot(env, "list", "snap"))["snapshots"] == []
    # the sandbox started from it keeps running
    assert ok(sh(env, "snap", "cat kept.txt")).stdout == "before\n"


def test_create_from_snapshot(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    env = daytona_env
    create_workspace(env, "origin")
    ok(sh(env, "origin", "echo baseline > state.txt"))
    name = unique("baseline")
    data(snapshot(env, "create", "origin", "--name", name))

    copy = create_workspace(env, "copy", "--from-snapshot", name)
    assert copy["image"] == name
    assert ok(sh(env, "copy", "cat state.txt")).stdout == "baseline\n"
    # a snapshot lists under the workspace it was made of, not under the copy
    assert data(snapshot(env, "list", "copy"))["snapshots"] == []
    data(snapshot(env, "delete", "origin", "--name", name))


def test_failed_restore_keeps_the_old_sandbox(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    env = daytona_env
    ws = create_workspace(env, "keep")
    ok(sh(env, "keep", "echo original > mine.txt"))
    name = unique("keep")
    data(snapshot(env, "create", "keep", "--name", name))
    ok(sh(env, "keep", "echo newer > mine.txt"))
    sandboxes_before = {s.id for s in emulator.emulator.store.all()}

    emulator.faults.http_error(400, count=1, method="POST", path=r"^/api/sandbox$")
    failed = snapshot(env, "restore", "keep", "--name", name)
    assert error_code(failed) == "DAYTONA_ERROR"

    listed = data(env.run("workspace", "list", "--json"))["workspaces"]
    assert [(w["name"], w["status"], w["backendId"]) for w in listed] == [
        ("keep", "running", ws["backendId"])
    ]
    assert ok(sh(env, "keep", "cat mine.txt")).stdout == "newer\n"
    assert {s.id for s in emulator.emulator.store.all()} == sandboxes_before
    data(snapshot(env, "delete", "keep", "--name", name))


def test_bad_snapshot_input_gets_stable_codes(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    env = daytona_env
    create_workspace(env, "odd")
    assert error_code(snapshot(env, "restore", "odd", "--name", "never-made")) == (
        SNAPSHOT_NOT_FOUND
    )
    assert error_code(snapshot(env, "delete", "odd", "--name", "never-made")) == SNAPSHOT_NOT_FOUND
    assert error_code(snapshot(env, "create", "odd")) == "INVALID_ARGUMENT"  # no --name
    assert error_code(snapshot(env, "create", "odd", "--name", "two words")) == "INVALID_ARGUMENT"
    # a snapshot Nexus does not know cannot start a workspace either
    missing = env.run(
        "workspace", "create", "ghost", "--backend", "daytona", "--from-snapshot", "nope", "--json"
    )
    assert error_code(missing) == SNAPSHOT_NOT_FOUND
    assert data(env.run("workspace", "list", "--json"))["workspaces"][0]["name"] == "odd"

    name = unique("dup")
    data(snapshot(env, "create", "odd", "--name", name))
    # names are unique in the organization
    assert error_code(snapshot(env, "create", "odd", "--name", name)) == "INVALID_ARGUMENT"
    # deleted behind Nexus's back: restore says so, delete forgets it
    emulator.emulator.store.snapshots.pop(name)
    assert data(snapshot(env, "list", "odd"))["snapshots"][0]["state"] == "missing"
    assert error_code(snapshot(env, "restore", "odd", "--name", name)) == SNAPSHOT_NOT_FOUND
    assert data(snapshot(env, "delete", "odd", "--name", name))["deleted"] is False
    assert data(snapshot(env, "list", "odd"))["snapshots"] == []


def test_emulator_snapshot_api_behaves_like_the_real_one(emulator: EmulatorThread) -> None:
    """What Nexus relies on, through the unmodified SDK: the behaviours copied from the real
    API (apps/api sandbox.service.ts, snapshot.controller.ts, snapshot-access.guard.ts)."""
    from daytona import (
        CreateSandboxFromSnapshotParams,
        DaytonaBadRequestError,
        DaytonaNotFoundError,
    )

    from tests.daytona_emulator.sdk import sync_client

    client = sync_client(emulator.api_url, emulator.api_key)
    sandbox = client.create(
        CreateSandboxFromSnapshotParams(labels={"test": "snapshot-api"}), timeout=120
    )
    try:
        name = unique("api")
        sandbox.create_snapshot(name)
        first = client.snapshot.get(name)
        assert (first.state, first.source_sandbox_id, first.image_name) == (
            "active",
            sandbox.id,
            None,
        )
        # a taken name is not refused: the second snapshot is just never persisted
        sandbox.create_snapshot(name)
        assert client.snapshot.get(name).id == first.id
        sandbox.refresh_data()
        assert sandbox.state == "started"
        with pytest.raises(DaytonaBadRequestError, match="must not contain HTML tags, URLs"):
            sandbox.create_snapshot("see https://example.com")
        by_source = client.snapshot.list(source_sandbox_id=sandbox.id)
        assert [s.name for s in by_source.items] == [name]

        # DELETE takes an id: a name gets 400 (the SDK resolves names first)
        with httpx_client(emulator) as http:
            assert http.delete(f"/snapshots/{name}").status_code == 400
            assert http.delete("/snapshots/never-made").status_code == 404
        with pytest.raises(DaytonaNotFoundError):
            client.snapshot.delete(emulator.emulator.config.default_snapshot)  # general
        client.snapshot.delete(name)
        removing = emulator.emulator.store.snapshots.get(name)
        assert removing is None or removing.state == "removing"
        with pytest.raises(DaytonaBadRequestError):  # removing or gone: no new sandbox from it
            client.create(CreateSandboxFromSnapshotParams(snapshot=name), timeout=60)
    finally:
        client.delete(sandbox)


def httpx_client(emulator: EmulatorThread) -> Any:
    import httpx

    return httpx.Client(
        base_url=emulator.api_url,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        trust_env=False,
        timeout=30,
    )
