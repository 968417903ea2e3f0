"""Running the ``mutagen`` CLI against Nexus's daemon (the contract: docs/sync.md#mutagen).

Every call runs with autostart off and a timeout (flush and terminate have hung in Mutagen's
history); a daemon that is not running, or that an upgrade left at another version, is started
again and the call retried once. Failures come back as SYNC_FAILED with Mutagen's own message.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import re
from typing import Any

from ..asyncutil import run_blocking
from ..domain.errors import ErrorCode, NexusError
from .daemon import MutagenDaemon

log = logging.getLogger(__name__)

CREATED = re.compile(r"Created session (sync_[0-9A-Za-z]{43})")
# the label every Nexus session carries: the workspace it syncs
WORKSPACE_LABEL = "nexus-workspace"


class MutagenError(NexusError):
    """Mutagen refused or failed; ``detail`` is its own message (``Error: …`` without the prefix)."""

    def __init__(self, command: str, detail: str, resolution: str = "") -> None:
        super().__init__(
            ErrorCode.SYNC_FAILED,
            f"mutagen sync {command} failed: {detail}",
            resolution
            or "Check the workspace runs and is reachable (`nexus workspace exec WS -- "
            "true`), then run the command again.",
        )
        self.detail = detail


def error_text(stderr: str, stdout: str) -> str:
    """Mutagen's own message: its last ``Error: …`` line (else the last line it printed)."""
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    if errors:
        return errors[-1]
    tail = lines[-1:] or [line.strip() for line in stdout.replace("\r", "\n").splitlines()][-1:]
    return tail[0] if tail else "no output"


def _daemon_unreachable(detail: str) -> bool:
    return detail.startswith("unable to connect to daemon")


class Mutagen:
    def __init__(self, daemon: MutagenDaemon) -> None:
        self.daemon = daemon

    async def run(self, *args: str, timeout: float) -> str:
        """``mutagen ARGS``; stdout on success."""
        await run_blocking(self.daemon.ensure_running)
        for attempt in (1, 2):
            code, stdout, stderr = await self._spawn(args, timeout)
            if code == 0:
                return stdout
            detail = error_text(stderr, stdout)
            if attempt == 1 and _daemon_unreachable(detail):
                log.info("restarting Nexus's Mutagen daemon: %s", detail)
                if "version mismatch" in detail:
                    await run_blocking(self.daemon.stop)
                await run_blocking(self.daemon.ensure_running)
                continue
            raise MutagenError(" ".join(args[1:2]) or args[0], detail)
        raise AssertionError("unreachable")

    async def _spawn(self, args: tuple[str, ...], timeout: float) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(self.daemon.binary.path),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.daemon.environment(),
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(Exception):
                await process.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise NexusError(
                ErrorCode.SYNC_FAILED,
                f"mutagen {' '.join(args[:2])} did not finish within {timeout:.0f} s",
                "Look at `nexus sync status WS`; a large tree takes long to scan (ignore build "
                "outputs and dependencies with sync.ignore_patterns), or raise "
                "sync.flush_timeout.",
            ) from None
        assert process.returncode is not None
        return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")

    # ---- sessions ----------------------------------------------------------------------------
    async def create(self, args: builtins.list[str], timeout: float) -> str:
        out = await self.run("sync", "create", *args, timeout=timeout)
        match = CREATED.search(out)
        if match is None:
            raise MutagenError("create", f"no session identifier in its output: {out[-300:]!r}")
        return match[1]

    async def list(self, workspace: str | None = None, timeout: float = 30) -> list[dict[str, Any]]:
        """The sessions of ``workspace`` (every Nexus session when None), as Mutagen's JSON."""
        selector = f"{WORKSPACE_LABEL}={workspace}" if workspace else WORKSPACE_LABEL
        out = await self.run(
            "sync",
            "list",
            "--label-selector",
            selector,
            "--template",
            "{{ json . }}",
            timeout=timeout,
        )
        text = out.replace("\r", "\n").strip().splitlines()
        line = next((line for line in reversed(text) if line.startswith("[")), "[]")
        try:
            sessions = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MutagenError("list", f"unreadable JSON ({exc})") from None
        return list(sessions or [])

    async def control(self, action: str, identifiers: builtins.list[str], timeout: float) -> None:
        """``flush``, ``pause``, ``resume``, ``reset`` or ``terminate`` these sessions."""
        if identifiers:
            await self.run("sync", action, *identifiers, timeout=timeout)
