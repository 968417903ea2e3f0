"""Turns changes of each workspace's Mutagen sync into ``nexus/sync/didChange``.

Every ``POLL_SECONDS`` (or at once when poked) Nexus's Mutagen daemon is asked for its sessions
(one ``mutagen sync list``), but only while there can be any: when Nexus's sync folder exists (a
sync was started and not yet stopped) and its daemon answers. The watcher never starts a daemon:
its calls run with Mutagen's autostart off and without Nexus's restart-on-failure, so a poll that
races a ``sync stop`` removing the daemon cannot bring it back. A workspace's summary (its
session's state, paused, conflicts, last error, Mutagen status) is diffed against the last one;
each change is sent with the whole report, and a sync that went away once with ``state`` null.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..domain.errors import NexusError
from ..service.sync import SyncReport, SyncService
from ..store import StateStore
from ..sync.daemon import sync_home
from ..sync.mutagen import WORKSPACE_LABEL, Mutagen, MutagenError, error_text
from ..sync.sessions import SyncSession
from .protocol import DidChangeSyncParams
from .watcher import Poller

if TYPE_CHECKING:
    from ..service.workspaces import WorkspaceService

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
LIST_TIMEOUT = 30.0

# per session: state, paused, conflicts, last error, Mutagen's status
Summary = tuple[tuple[str, bool, int, str | None, str], ...]


def summary(report: SyncReport | None) -> Summary:
    if report is None:
        return ()
    return tuple(
        (s.state, s.paused, s.conflict_count, s.last_error, s.status) for s in report.sessions
    )


def _state(report: SyncReport | None) -> str | None:
    return report.sessions[0].state if report is not None and report.sessions else None


def diff(before: dict[str, SyncReport], after: dict[str, SyncReport]) -> list[DidChangeSyncParams]:
    """The notifications that take a client from ``before`` to ``after``."""
    changes: list[DidChangeSyncParams] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if summary(old) == summary(new):
            continue
        report = new if new is not None else SyncReport(name, None, [])
        changes.append(
            {
                "workspace": name,
                "state": _state(new),
                "previousState": _state(old),
                "conflictCount": sum(s.conflict_count for s in report.sessions),
                "report": report.to_json_dict(),
            }
        )
    return changes


class _Lister(Mutagen):
    """Nexus's Mutagen, asked only: no daemon start, no retry (autostart is off in its calls)."""

    async def run(self, *args: str, timeout: float) -> str:
        code, stdout, stderr = await self._spawn(args, timeout)
        if code != 0:
            raise MutagenError(" ".join(args[1:2]) or args[0], error_text(stderr, stdout))
        return stdout


class SyncWatcher(Poller):
    """Polls Nexus's Mutagen daemon for the sidecar; ``service`` gives the current service."""

    task_name = "nexus-sync-watcher"

    def __init__(
        self,
        service: Callable[[], WorkspaceService],
        notify: Callable[[DidChangeSyncParams], None],
        interval: float = POLL_SECONDS,
    ) -> None:
        super().__init__(interval)
        self._service = service
        self._notify = notify
        self._lister: tuple[WorkspaceService, _Lister] | None = None
        self._store: StateStore | None = None
        self._last_failure: str | None = None

    async def _run(self) -> None:
        seen: dict[str, SyncReport] | None = None  # None until a first read succeeded
        try:
            while not self._stopped:
                try:
                    current = await self._read()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep watching; the next tick may succeed
                    self._failed(f"cannot read the syncs: {exc}")
                    current = None
                if current is not None:
                    if seen is not None:
                        for change in diff(seen, current):
                            log.debug("sync of %s: %s", change["workspace"], change["state"])
                            self._notify(change)
                    seen = current
                await self._sleep()
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _failed(self, message: str) -> None:
        """Logged once per distinct failure (not every tick while it lasts)."""
        if message != self._last_failure:
            log.warning("%s", message)
            self._last_failure = message

    async def _read(self) -> dict[str, SyncReport] | None:
        """Every workspace that has a sync block or a session, or None when Mutagen could not be
        asked (what was seen stays)."""
        service = self._service()
        if self._store is None:
            self._store = await asyncio.to_thread(StateStore, service.ctx.paths.state_db)
        workspaces = await asyncio.to_thread(self._store.list)
        expected = any(SyncService.block_of(ws) for ws in workspaces)
        sessions = await self._sessions(service, restart=expected)
        if sessions is None:
            return None
        self._last_failure = None
        by_workspace: dict[str, list[SyncSession]] = {}
        for session in sessions:
            by_workspace.setdefault(session.workspace, []).append(session)
        blocks = {ws.name: SyncService.block_of(ws) for ws in workspaces}
        names = {name for name, block in blocks.items() if block} | by_workspace.keys()
        return {
            name: SyncReport(name, blocks.get(name), by_workspace.get(name, [])) for name in names
        }

    async def _sessions(
        self, service: WorkspaceService, *, restart: bool
    ) -> list[SyncSession] | None:
        """The sessions; a daemon that died is started again (its sessions resume) only when
        some workspace keeps a sync block (``sync stop`` and delete drop the block before they
        stop the daemon, so a poll racing them never brings it back)."""
        if not await asyncio.to_thread(sync_home(service.ctx.paths).exists):
            return []  # no daemon was started (or the last sync stopped): nothing syncs
        try:
            lister = await self._lister_for(service)
            if not await asyncio.to_thread(lister.daemon.running):
                if not restart:
                    self._failed("Nexus's Mutagen daemon is not running: sync states are not known")
                    return None
                log.info("Nexus's Mutagen daemon is not running: starting it again")
                await asyncio.to_thread(lister.daemon.ensure_running)
            raw = await lister.list(timeout=LIST_TIMEOUT)
        except NexusError as exc:
            self._failed(f"cannot list the syncs: {exc.message}")
            return None
        return [SyncSession.from_mutagen(data, WORKSPACE_LABEL) for data in raw]

    async def _lister_for(self, service: WorkspaceService) -> _Lister:
        """Nexus's Mutagen for this service (its binary is checked once, in a thread)."""
        if self._lister is None or self._lister[0] is not service:
            mutagen = await asyncio.to_thread(lambda: service.sync_service().mutagen)
            self._lister = (service, _Lister(mutagen.daemon))
        return self._lister[1]
