"""Daytona SSH access: parse the gateway from ``sshCommand``, keep one fresh token per workspace."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...domain.errors import ErrorCode, NexusError

# Renew when less than this is left, so no connection Nexus hands out can expire mid-use.
RENEW_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Gateway:
    host: str
    port: int
    user: str


def parse_ssh_command(command: str) -> Gateway:
    """``ssh [-p PORT] TOKEN@HOST`` (the form the API returns) → host, port, user."""
    try:
        parts = shlex.split(command)
    except ValueError:
        parts = command.split()
    port = 22
    target = None
    index = 1 if parts and parts[0].endswith("ssh") else 0
    while index < len(parts):
        part = parts[index]
        if part == "-p" and index + 1 < len(parts):
            port = int(parts[index + 1])
            index += 2
            continue
        if part.startswith("-p") and part[2:].isdigit():
            port = int(part[2:])
        elif part == "-o" and index + 1 < len(parts):
            index += 2
            continue
        elif not part.startswith("-") and "@" in part:
            target = part
        index += 1
    if target is None:
        raise NexusError(
            ErrorCode.DAYTONA_ERROR,
            f"cannot read the SSH endpoint from Daytona's answer {command!r}",
            "Update Nexus; the Daytona API changed its sshCommand format.",
        )
    user, _, host = target.rpartition("@")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Gateway(host=host, port=port, user=user)


def token_record(dto: Any) -> dict[str, str]:
    expires = dto.expires_at
    if isinstance(expires, datetime) and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return {
        "token": dto.token,
        "expires_at": expires.isoformat() if isinstance(expires, datetime) else str(expires),
        "ssh_command": dto.ssh_command,
    }


def needs_renewal(record: dict[str, str] | None, now: datetime | None = None) -> bool:
    if not record or not record.get("token"):
        return True
    try:
        expires = datetime.fromisoformat(record["expires_at"])
    except (KeyError, ValueError):
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires - (now or datetime.now(UTC)) < RENEW_MARGIN
