"""`nexus doctor` on Daytona, against the emulator: the key and the API, `--offline`, a sandbox
removed behind Nexus's back and a sandbox with no record."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.sdk import sync_client
from tests.doctor.helpers import by_code, doctor, findings, one
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def test_the_key_and_the_api_are_checked(daytona_env: NexusEnv) -> None:
    found = findings(doctor(daytona_env, "--json"))
    assert one(found, "DOCTOR_DAYTONA_OK")["severity"] == "ok"
    assert one(found, "DOCTOR_RECORDS_OK", "daytona")["severity"] == "ok"

    refused = doctor(daytona_env, "--json", extra_env={"DAYTONA_API_KEY": "dtn_not_a_key"})
    assert refused.returncode == 7, refused
    key = one(findings(refused), "DOCTOR_DAYTONA_KEY_INVALID")
    assert "DAYTONA_API_KEY" in key["fix"] and "dtn_not_a_key" not in json.dumps(key)

    nowhere = doctor(daytona_env, "--json", extra_env={"DAYTONA_API_URL": "http://127.0.0.1:9/api"})
    assert nowhere.returncode == 7, nowhere
    assert "--offline" in one(findings(nowhere), "DOCTOR_DAYTONA_UNREACHABLE")["fix"]

    offline = doctor(
        daytona_env, "--offline", "--json", extra_env={"DAYTONA_API_URL": "http://127.0.0.1:9/api"}
    )
    assert offline.returncode == 0, offline
    skipped = one(findings(offline), "DOCTOR_DAYTONA_SKIPPED")
    assert "--offline" in skipped["message"]


def test_a_removed_sandbox_and_an_unrecorded_one_are_found(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    gone = json.loads(
        ok(daytona_env.run("workspace", "create", "gone", "--backend", "daytona", "--json")).stdout
    )
    stray = json.loads(
        ok(daytona_env.run("workspace", "create", "stray", "--backend", "daytona", "--json")).stdout
    )
    client = sync_client(emulator.api_url, emulator.api_key)
    client.delete(client.get(gone["backendId"]))
    from nexus.store import StateStore

    store = StateStore(daytona_env.nexus_home / "state.db")
    try:
        store.remove("stray")
    finally:
        store.close()

    deadline = time.monotonic() + 60
    while True:  # a delete is asynchronous in Daytona: the sandbox goes through `destroying`
        result = doctor(daytona_env, "--json")
        found = findings(result)
        if by_code(found, "DOCTOR_WORKSPACE_MISSING") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result.returncode == 7, result
    missing = one(found, "DOCTOR_WORKSPACE_MISSING", "gone")
    assert "nexus workspace delete gone" in missing["fix"]
    orphan = one(found, "DOCTOR_ORPHAN", "stray")
    assert f"daytona sandbox delete {stray['backendId']}" in orphan["fix"]
    assert "nexus workspace recover" in orphan["fix"]

    # the commands printed: the orphan gets its record back and is deleted through Nexus
    ok(daytona_env.run("workspace", "recover"))
    ok(daytona_env.run("workspace", "delete", "stray", "--force"))
    ok(daytona_env.run("workspace", "delete", "gone", "--force"))
    after = findings(doctor(daytona_env, "--json"))
    assert not by_code(after, "DOCTOR_ORPHAN") and not by_code(after, "DOCTOR_WORKSPACE_MISSING")
