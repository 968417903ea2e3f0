"""Daytona failure modes that must neither lie nor hang: tokens revoked elsewhere, both gateway
behaviours for a bad token, API failures on exec, rate-limited status reads, secrets in debug logs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.sdk import sync_client
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


@pytest.fixture(autouse=True)
def _clean_emulator(emulator: EmulatorThread) -> Iterator[None]:
    emulator.faults.clear()
    yield
    emulator.faults.clear()
    emulator.emulator.config.ssh_invalid_token = "close"


def _metadata(env: NexusEnv, name: str) -> dict[str, Any]:
    from nexus.store import StateStore

    store = StateStore(env.nexus_home / "state.db")
    try:
        return store.get(name).metadata
    finally:
        store.close()


def _token(env: NexusEnv, name: str) -> str:
    token = _metadata(env, name)["ssh_token"]["token"]
    assert isinstance(token, str) and len(token) == 32
    return token


def _revoke_elsewhere(emulator: EmulatorThread, sandbox_id: str) -> str:
    """Another client asks for SSH access: the API revokes every older token of the sandbox."""
    client = sync_client(emulator.api_url, emulator.api_key)
    return str(client.get(sandbox_id).create_ssh_access(60).token)


def _create(env: NexusEnv, name: str) -> dict[str, Any]:
    created = ok(env.run("workspace", "create", name, "--backend", "daytona", "--json"))
    return dict(json.loads(created.stdout))


def _ssh(env: NexusEnv, alias: str, *command: str) -> subprocess.CompletedProcess[str]:
    # OpenSSH reads ~/.ssh/config from the passwd home, not $HOME: name the file
    return subprocess.run(
        ["ssh", "-F", str(env.home / ".ssh" / "config"), "-o", "BatchMode=yes", alias, *command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env.env,
    )


@pytest.mark.parametrize("gateway", ["close", "refuse"])
def test_exec_recovers_from_a_token_revoked_elsewhere(
    daytona_env: NexusEnv, emulator: EmulatorThread, gateway: str
) -> None:
    """The real gateway logs any token in and then closes the connection ("close"); the other
    behaviour is a plain "permission denied" ("refuse"). Either way exec renews once and runs."""
    emulator.emulator.config.ssh_invalid_token = gateway
    created = _create(daytona_env, "revoked")
    old = _token(daytona_env, "revoked")
    other = _revoke_elsewhere(emulator, created["backendId"])
    assert emulator.emulator.store.ssh_access_for(old) is None  # really revoked

    ran = ok(daytona_env.run("workspace", "exec", "revoked", "--", "echo", "recovered"))
    assert ran.stdout == "recovered\n"
    renewed = _token(daytona_env, "revoked")
    assert renewed not in (old, other)
    assert emulator.emulator.store.ssh_access_for(renewed) is not None


def test_gateway_closing_after_login_is_not_a_network_failure(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    """The gateway closing the connection after login is read as a refused token (renew and
    retry), not as an sshd still starting (a minute of reconnecting, then SSH_CONNECTION_FAILED):
    when the renewal itself fails, exec reports the API's error."""
    created = _create(daytona_env, "closed")
    _revoke_elsewhere(emulator, created["backendId"])
    emulator.faults.server_error(
        count=1000, status=500, method="POST", path=r"/ssh-access$", scope="api"
    )
    failed = daytona_env.run("workspace", "exec", "closed", "--", "true")
    assert failed.returncode == 255, failed.stderr
    assert failed.stderr.startswith("DAYTONA_ERROR:"), failed.stderr  # renewing failed: says so
    emulator.faults.clear()
    assert ok(daytona_env.run("workspace", "exec", "closed", "--", "echo", "ok")).stdout == "ok\n"


def test_plain_ssh_recovers_from_a_token_revoked_elsewhere(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    """No Nexus command in between: the `Match exec` renew step asks the API whether the token
    still works and replaces it when it was revoked."""
    created = _create(daytona_env, "plain")
    old = _token(daytona_env, "plain")
    _revoke_elsewhere(emulator, created["backendId"])

    first = _ssh(daytona_env, "nexus-plain", "echo", "via-ssh")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "via-ssh\n"
    record = _metadata(daytona_env, "plain")["ssh_token"]
    assert record["token"] != old and "validated_at" not in record  # a new one, not re-checked

    second = _ssh(daytona_env, "nexus-plain", "true")
    assert second.returncode == 0, second.stderr
    checked = _metadata(daytona_env, "plain")["ssh_token"]
    assert checked["token"] == record["token"] and checked["validated_at"]
    third = _ssh(daytona_env, "nexus-plain", "true")
    assert third.returncode == 0, third.stderr
    # a positive answer is trusted for a while: the third connection did not ask again
    assert _metadata(daytona_env, "plain")["ssh_token"]["validated_at"] == checked["validated_at"]


def test_a_non_utf8_user_ssh_config_is_never_read_by_nexus(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    """`~/.ssh/config` in Latin-1, with a `Host *` that would send every connection elsewhere:
    create pins the gateway's own host key (read without the user's config), exec runs, and the
    user's bytes are all kept."""
    from nexus.access.user_ssh_config import without_block

    ssh_dir = daytona_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    user_config = ssh_dir / "config"
    original = b"# Jos\xe9\nHost *\n    HostName 192.0.2.1\n    ProxyCommand /bin/false\n"
    user_config.write_bytes(original)

    _create(daytona_env, "latin")
    from nexus.store import StateStore

    store = StateStore(daytona_env.nexus_home / "state.db")
    try:
        pinned = store.get("latin").host_key
    finally:
        store.close()
    gateway_key = emulator.emulator.gateway.host_key.export_public_key().decode()
    assert pinned is not None and pinned.split()[:2] == gateway_key.split()[:2]
    ran = ok(daytona_env.run("workspace", "exec", "latin", "--", "echo", "fine"))
    assert ran.stdout == "fine\n"
    assert without_block(user_config.read_bytes(), user_config) == original


def test_start_waits_while_the_gateway_cannot_reach_sshd_yet(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    """Right after create/start the real gateway closes the connection after login while the
    sandbox's sshd does not answer yet, as it does for a bad token. The API calls the token valid,
    so Nexus keeps the token and retries until the connect deadline instead of giving up after
    one renewal."""
    emulator.faults.close_ssh_logins(3)
    _create(daytona_env, "slowsshd")
    assert emulator.faults.ssh_closed_logins == 0  # every closed login was retried
    token = _token(daytona_env, "slowsshd")

    ok(daytona_env.run("workspace", "stop", "slowsshd"))
    emulator.faults.close_ssh_logins(3)
    ok(daytona_env.run("workspace", "start", "slowsshd"))
    assert emulator.faults.ssh_closed_logins == 0
    assert _token(daytona_env, "slowsshd") == token  # valid all along: not replaced
    ran = ok(daytona_env.run("workspace", "exec", "slowsshd", "--", "echo", "up"))
    assert ran.stdout == "up\n"


def test_exec_says_what_is_wrong_with_the_api(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    _create(daytona_env, "apierr")
    wrong_key = daytona_env.run(
        "workspace",
        "exec",
        "apierr",
        "--",
        "true",
        extra_env={"DAYTONA_API_KEY": "dtn_wrong_key"},
    )
    assert wrong_key.returncode == 255, wrong_key.stderr  # exec: Nexus's own failure
    assert wrong_key.stderr.startswith("DAYTONA_AUTH_FAILED:"), wrong_key.stderr
    assert "DAYTONA_API_KEY" in wrong_key.stderr and "dtn_wrong_key" not in wrong_key.stderr
    info = daytona_env.run(
        "workspace", "info", "apierr", "--json", extra_env={"DAYTONA_API_KEY": "dtn_wrong_key"}
    )
    assert json.loads(info.stdout)["error"]["code"] == "DAYTONA_AUTH_FAILED"

    emulator.faults.server_error(
        count=1000, status=500, method="GET", path=r"^/api/sandbox", message="database is on fire"
    )
    broken = daytona_env.run("workspace", "exec", "apierr", "--", "true")
    assert broken.returncode == 255, broken.stderr
    assert broken.stderr.startswith("DAYTONA_ERROR:"), broken.stderr
    assert "database is on fire" in broken.stderr
    assert "WORKSPACE_NOT_RUNNING" not in broken.stderr
    # list stays tolerant: the workspace is shown, its status unknown, with a note why
    listed = ok(daytona_env.run("workspace", "list", "--json"))
    assert [w["status"] for w in json.loads(listed.stdout)["workspaces"]] == ["unknown"]
    assert "database is on fire" in listed.stderr
    emulator.faults.clear()  # before the cleanup deletes the workspace


@pytest.mark.timeout(60)  # an unbounded read would sleep 3 x 120 s in the SDK's HTTP pool
def test_list_is_bounded_while_rate_limited(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    # create first: the test's own timeout is for the reads under the fault
    _create(daytona_env, "limited")
    emulator.faults.rate_limit(count=1000, retry_after=120, method="GET", path=r"^/api/sandbox")
    listed = daytona_env.run("workspace", "list", "--json", timeout=50)
    assert listed.returncode == 0, listed.stderr
    assert [(w["name"], w["status"]) for w in json.loads(listed.stdout)["workspaces"]] == [
        ("limited", "unknown")
    ]
    assert "cannot refresh daytona statuses" in listed.stderr
    assert "DAYTONA_RATE_LIMITED" in listed.stderr or "rate limit" in listed.stderr
    limited = daytona_env.run("workspace", "exec", "limited", "--", "true", timeout=50)
    assert limited.returncode == 255 and limited.stderr.startswith("DAYTONA_RATE_LIMITED:")
    emulator.faults.clear()


def test_debug_log_never_shows_the_token_or_the_key(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    created = _create(daytona_env, "quiet")
    debug = {"NEXUS_DEBUG": "1"}
    ran = daytona_env.run("workspace", "exec", "quiet", "--", "echo", "hi", extra_env=debug)
    assert ran.returncode == 0, ran.stderr
    token = _token(daytona_env, "quiet")
    assert "Beginning auth for user" in ran.stderr  # asyncssh did log the user name...
    assert token not in ran.stderr + ran.stdout  # ...masked
    assert emulator.api_key not in ran.stderr + ran.stdout

    # a renewal in debug mode (validate call, new token, new login): all masked too
    _revoke_elsewhere(emulator, created["backendId"])
    again = daytona_env.run("workspace", "exec", "quiet", "--", "echo", "hi", extra_env=debug)
    assert again.returncode == 0, again.stderr
    renewed = _token(daytona_env, "quiet")
    assert renewed != token
    assert "Beginning auth for user" in again.stderr
    for secret in (token, renewed, emulator.api_key):
        assert secret not in again.stderr + again.stdout


def test_retrying_never_sleeps_past_the_deadline() -> None:
    """A Retry-After longer than what is left of a status read ends the retrying at once."""
    import time

    import daytona

    from nexus.backends.daytona import errors
    from nexus.domain.errors import NexusError

    calls: list[int] = []
    slept: list[float] = []

    def limited() -> None:
        calls.append(1)
        raise daytona.DaytonaRateLimitError(
            "Too Many Requests", status_code=429, headers={"Retry-After": "120"}
        )

    with pytest.raises(NexusError) as raised:
        errors.call(limited, "read", sleep=slept.append, deadline=time.monotonic() + 20)
    assert raised.value.code == "DAYTONA_RATE_LIMITED"
    assert (len(calls), slept) == (1, [])
    # without a deadline Retry-After is honoured, capped
    calls.clear()
    with pytest.raises(NexusError):
        errors.call(limited, "create", attempts=2, sleep=slept.append)
    assert (len(calls), slept) == (2, [errors.MAX_DELAY])


async def test_a_status_read_that_never_returns_is_abandoned() -> None:
    """The whole status read has one deadline, whatever blocks underneath (the process must not
    wait for the abandoned worker either: it is a daemon thread)."""
    import threading

    from nexus.backends.daytona.backend import _bounded
    from nexus.domain.errors import NexusError

    release = threading.Event()
    try:
        with pytest.raises(NexusError) as raised:
            await _bounded(lambda: release.wait(600), 0.2, "read the sandbox status")
        assert raised.value.code == "DAYTONA_UNAVAILABLE"
        assert "read the sandbox status" in raised.value.message
        worker = next(t for t in threading.enumerate() if t.name == "nexus-daytona-read")
        assert worker.daemon
        assert await _bounded(lambda: "answer", 30, "read") == "answer"
    finally:
        release.set()
