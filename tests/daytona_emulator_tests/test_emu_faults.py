"""Fault injection surfaces as the SDK's real exception types."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from daytona import (
    CreateSandboxFromSnapshotParams,
    Daytona,
    DaytonaAuthenticationError,
    DaytonaBadRequestError,
    DaytonaForbiddenError,
    DaytonaInternalServerError,
    DaytonaRateLimitError,
    DaytonaServiceUnavailableError,
    DaytonaTimeoutError,
    Sandbox,
)

from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.sdk import sync_client

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _clean_faults(emulator: EmulatorThread) -> Iterator[None]:
    emulator.faults.clear()
    yield
    emulator.faults.clear()


def test_bad_api_key_is_authentication_error(emulator: EmulatorThread) -> None:
    client = sync_client(emulator.api_url, "not-the-key")
    with pytest.raises(DaytonaAuthenticationError) as info:
        list(client.list())
    assert info.value.status_code == 401


def test_absent_api_key_gets_real_error_envelope(emulator: EmulatorThread) -> None:
    with httpx.Client(trust_env=False) as http:
        for path in ("/api/sandbox", "/toolbox/whatever/process/execute", "/_emulator/state"):
            response = http.get(emulator.base_url + path)
            assert response.status_code == 401
            body = response.json()
            assert body["statusCode"] == 401 and body["message"] == "Unauthorized"
            assert "not-the-key" not in response.text and emulator.api_key not in response.text


def test_rate_limit_twice_then_success(daytona: Daytona, emulator: EmulatorThread) -> None:
    # The sync SDK's urllib3 pool retries idempotent requests on 429 + Retry-After (3 times).
    served = emulator.faults.served
    emulator.faults.rate_limit(count=2, retry_after=1, method="GET", path=r"^/api/sandbox$")
    started = time.monotonic()
    list(daytona.list())
    assert emulator.faults.served == served + 2
    assert time.monotonic() - started >= 2  # Retry-After was honoured twice


def test_rate_limit_on_create_raises_with_retry_after(
    daytona: Daytona, emulator: EmulatorThread
) -> None:
    emulator.faults.rate_limit(count=2, retry_after=7, method="POST", path=r"^/api/sandbox$")
    for _ in range(2):  # POST is not retried by the SDK
        with pytest.raises(DaytonaRateLimitError) as info:
            daytona.create(CreateSandboxFromSnapshotParams())
        assert info.value.status_code == 429
        assert info.value.headers is not None
        assert info.value.headers.get("Retry-After") == "7"
        assert "Too Many Requests" in str(info.value)
    assert emulator.faults.http_faults == []


def test_server_errors(
    daytona: Daytona, shared_sandbox_faults: Sandbox, emulator: EmulatorThread
) -> None:
    emulator.faults.server_error(count=1, status=500, path=r"^/api/sandbox/")
    with pytest.raises(DaytonaInternalServerError):
        daytona.get(shared_sandbox_faults.id)
    emulator.faults.server_error(count=1, status=503, scope="toolbox")
    with pytest.raises(DaytonaServiceUnavailableError):
        shared_sandbox_faults.process.exec("true")
    assert shared_sandbox_faults.process.exec("echo fine").result == "fine\n"


def test_admin_http_endpoint_injects_faults(daytona: Daytona, emulator: EmulatorThread) -> None:
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    with httpx.Client(trust_env=False, headers=headers) as http:
        response = http.post(
            f"{emulator.base_url}/_emulator/faults",
            content=json.dumps(
                [
                    {"type": "http_error", "status": 503, "count": 1, "path": "^/api/sandbox$"},
                    {"type": "region_unavailable", "region": "eu"},
                ]
            ),
        )
        assert response.status_code == 200, response.text
        with pytest.raises(DaytonaServiceUnavailableError):
            list(daytona.list())
        with pytest.raises(DaytonaBadRequestError, match="No available runners"):
            daytona.create(CreateSandboxFromSnapshotParams(target="eu"))
        state = http.get(f"{emulator.base_url}/_emulator/state").json()
        assert state["faults"]["regionsUnavailable"] == ["eu"]
        assert http.delete(f"{emulator.base_url}/_emulator/faults").status_code == 200
    assert emulator.faults.regions_unavailable == set()


def test_quota_exceeded(daytona: Daytona, emulator: EmulatorThread) -> None:
    emulator.faults.exceed_quota("cpu")
    with pytest.raises(DaytonaForbiddenError, match="Total CPU limit exceeded"):
        daytona.create(CreateSandboxFromSnapshotParams())
    emulator.faults.exceed_quota(None)
    from daytona import CreateSandboxFromImageParams, Resources

    with pytest.raises(DaytonaForbiddenError, match="exceeds maximum allowed per sandbox"):
        daytona.create(
            CreateSandboxFromImageParams(image="debian:bookworm-slim", resources=Resources(cpu=64))
        )


def test_slow_transitions_hit_sdk_timeout(daytona: Daytona, emulator: EmulatorThread) -> None:
    emulator.faults.slow_transitions(3.0)
    with pytest.raises(DaytonaTimeoutError) as info:
        daytona.create(CreateSandboxFromSnapshotParams(labels={"emu-test": "slow"}), timeout=1)
    emulator.faults.slow_transitions(None)
    sandbox_id = getattr(info.value, "sandbox_id", None)
    for sandbox in daytona.list():
        if sandbox.labels.get("emu-test") == "slow":
            assert sandbox_id in (None, sandbox.id)
            daytona.delete(sandbox)


@pytest.fixture(scope="module")
def shared_sandbox_faults(daytona: Daytona) -> Iterator[Sandbox]:
    created = daytona.create(CreateSandboxFromSnapshotParams(), timeout=120)
    yield created
    daytona.delete(created)
