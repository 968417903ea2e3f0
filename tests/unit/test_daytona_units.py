from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from nexus.backends.daytona.ssh_access import needs_renewal, parse_ssh_command, token_record
from nexus.backends.daytona.states import ALL_STATES, to_status
from nexus.domain.errors import NexusError
from nexus.domain.models import WorkspaceStatus


@pytest.mark.parametrize(
    ("command", "host", "port", "user"),
    [
        ("ssh -p 2222 tok123@ssh.app.daytona.io", "ssh.app.daytona.io", 2222, "tok123"),
        ("ssh tok@ssh.app.daytona.io", "ssh.app.daytona.io", 22, "tok"),
        ("ssh -p2200 abc@127.0.0.1", "127.0.0.1", 2200, "abc"),
        ("ssh -o StrictHostKeyChecking=no -p 40111 t@[::1]", "::1", 40111, "t"),
    ],
)
def test_ssh_command_is_parsed_not_assumed(command: str, host: str, port: int, user: str) -> None:
    gateway = parse_ssh_command(command)
    assert (gateway.host, gateway.port, gateway.user) == (host, port, user)


def test_unparseable_ssh_command_is_a_clear_error() -> None:
    with pytest.raises(NexusError):
        parse_ssh_command("connect somewhere")


def test_tokens_are_renewed_before_they_expire() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    fresh = {"token": "t", "expires_at": (now + timedelta(minutes=50)).isoformat()}
    closing = {"token": "t", "expires_at": (now + timedelta(minutes=5)).isoformat()}
    expired = {"token": "t", "expires_at": (now - timedelta(minutes=1)).isoformat()}
    assert not needs_renewal(fresh, now)
    assert needs_renewal(closing, now)
    assert needs_renewal(expired, now)
    assert needs_renewal(None, now)
    assert needs_renewal({"token": "t", "expires_at": "garbage"}, now)


def test_token_record_keeps_what_the_api_said() -> None:
    dto = SimpleNamespace(
        token="abc", expires_at=datetime(2026, 1, 1), ssh_command="ssh -p 1 abc@h"
    )
    record = token_record(dto)
    assert record == {
        "token": "abc",
        "expires_at": "2026-01-01T00:00:00+00:00",
        "ssh_command": "ssh -p 1 abc@h",
    }


def test_every_daytona_state_has_a_status() -> None:
    assert to_status("started") is WorkspaceStatus.RUNNING
    assert to_status("archived") is WorkspaceStatus.STOPPED
    assert to_status("destroyed") is WorkspaceStatus.MISSING
    assert to_status(SimpleNamespace(value="build_failed")) is WorkspaceStatus.ERROR
    assert to_status("something_new") is WorkspaceStatus.UNKNOWN
    assert to_status(None) is WorkspaceStatus.UNKNOWN


def test_sdk_states_are_all_mapped() -> None:
    from daytona_api_client.models.sandbox_state import SandboxState

    for state in SandboxState:
        if state.value != "unknown_default_open_api":
            assert state.value in ALL_STATES, state
