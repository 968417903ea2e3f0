"""Daytona: a delete the API refuses keeps the record; a lost store is rebuilt from sandbox labels."""

from __future__ import annotations

import json

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

WRONG_KEY = {"DAYTONA_API_KEY": "not-the-key"}


def sandbox_ids(emulator: EmulatorThread) -> set[str]:
    return {s.id for s in emulator.emulator.store.all()}


def test_delete_with_a_wrong_key_keeps_the_record(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    env = daytona_env
    created = json.loads(
        ok(env.run("workspace", "create", "paid", "--backend", "daytona", "--json")).stdout
    )
    sandbox = created["backendId"]

    refused = env.run("workspace", "delete", "paid", "--force", extra_env=WRONG_KEY)
    assert refused.returncode == 5, refused.stderr
    assert "DAYTONA_AUTH_FAILED" in refused.stderr and f"sandbox {sandbox}" in refused.stderr
    assert "delete it with forget" in refused.stderr and "--forget" in refused.stderr
    assert sandbox in sandbox_ids(emulator)
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert [(ws["name"], ws["status"]) for ws in listed] == [("paid", "running")]

    forgotten = env.run("workspace", "delete", "paid", "--forget", "--json", extra_env=WRONG_KEY)
    assert forgotten.returncode == 0, forgotten.stderr
    [left] = json.loads(forgotten.stdout)["leftBehind"]
    assert (left["backend"], left["kind"], left["id"]) == ("daytona", "sandbox", sandbox)
    assert left["reason"].startswith("DAYTONA_AUTH_FAILED")
    assert sandbox in left["command"] and "warning" in forgotten.stderr
    assert json.loads(ok(env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}
    assert sandbox in sandbox_ids(emulator)  # left behind, as reported

    # recover finds it again by its labels; then a real delete removes it
    report = json.loads(ok(env.run("workspace", "recover", "--json")).stdout)
    assert [ws["name"] for ws in report["recovered"]] == ["paid"]
    answer = ok(env.run("workspace", "exec", "paid", "--", "pwd"))
    assert answer.stdout.strip() == created["remotePath"]
    ok(env.run("workspace", "delete", "paid"))
    assert sandbox not in sandbox_ids(emulator)


def test_damaged_store_is_rebuilt_from_sandbox_labels(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    env = daytona_env
    created = json.loads(
        ok(
            env.run(
                "workspace",
                "create",
                "cloud",
                "--backend",
                "daytona",
                "--cpu",
                "2",
                "--label",
                "team=core",
                "--json",
            )
        ).stdout
    )
    db = env.nexus_home / "state.db"
    for side in (db.with_name("state.db-wal"), db.with_name("state.db-shm")):
        side.unlink(missing_ok=True)
    db.write_bytes(b"\0garbage\0" * 500)
    broken = env.run("workspace", "list")
    assert broken.returncode == 1 and "STORE_ERROR" in broken.stderr
    assert "nexus workspace recover" in broken.stderr

    report = json.loads(ok(env.run("workspace", "recover", "--json")).stdout)
    [ws] = report["recovered"]
    assert ws["name"] == "cloud" and ws["backendId"] == created["backendId"]
    assert ws["labels"] == {"team": "core"} and ws["resources"]["cpu"] == 2
    assert ws["remotePath"] == created["remotePath"]
    assert ok(env.run("workspace", "exec", "cloud", "--", "hostname")).stdout.strip()
    ok(env.run("workspace", "delete", "cloud"))
    assert created["backendId"] not in sandbox_ids(emulator)
