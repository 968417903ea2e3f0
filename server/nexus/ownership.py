"""Who is running an operation: so a status left "creating"/"stopping" by a killed process is
recognised as stale instead of blocking the workspace forever."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache


def _start_time(pid: int) -> str | None:
    """The process start time (clock ticks since boot): tells a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


SIDECAR = "sidecar"  # the role of an editor sidecar: one process serving many operations
_role: str | None = None


def set_role(role: str | None) -> None:
    """Name what this process is (``SIDECAR``) in the owner it records: a delete that would
    cancel an operation by signalling its process must not end a whole sidecar."""
    global _role
    _role = role
    current_owner.cache_clear()


@cache
def current_owner() -> str:
    """``host:pid:start``, with ``/role`` when this process has one."""
    pid = os.getpid()
    owner = f"{socket.gethostname()}:{pid}:{_start_time(pid) or '?'}"
    return f"{owner}/{_role}" if _role else owner


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: str  # clock ticks since boot, or "?" where the system does not tell
    role: str | None = None

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()


def parse_owner(owner: str | None) -> Owner | None:
    """The parts of a recorded owner; None when it is empty or not one."""
    if not owner:
        return None
    base, slash, role = owner.rpartition("/")
    if not slash:
        base, role = owner, ""
    try:
        host, pid_text, started = base.rsplit(":", 2)
        return Owner(host, int(pid_text), started, role or None)
    except ValueError:
        return None


def owner_alive(owner: str | None) -> bool:
    """False when the owner is a process on this host that is gone; True when in doubt."""
    parsed = parse_owner(owner)
    if parsed is None:
        return False
    pid, started = parsed.pid, parsed.started
    if not parsed.local:
        return True  # another machine sharing the state folder: cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    return started == "?" or _start_time(pid) == started
