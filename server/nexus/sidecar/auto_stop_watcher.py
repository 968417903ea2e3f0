"""Warns the editor before a workspace stops itself, and tells it when one did.

Every ``backends.daytona.activity_poll_interval`` seconds, while the store holds a workspace of
a backend that stops itself (Daytona), those workspaces are listed with their backend's view of
the last activity (one API call), and ``AutoStopTracker`` decides what to send:
``nexus/workspace/autoStopWarning`` ``backends.daytona.auto_stop_warning_minutes`` before the
deadline (once per approach), ``nexus/workspace/autoStopped`` when a workspace it saw counting
down is stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..domain.kinds import BackendType
from ..domain.models import Workspace
from ..service.auto_stop import AutoStopped, AutoStopTracker, AutoStopWarning
from ..store import StateStore
from .watcher import Poller

if TYPE_CHECKING:
    from ..service.workspaces import WorkspaceService

log = logging.getLogger(__name__)

# the backends whose workspaces stop themselves after inactivity
SELF_STOPPING = (BackendType.DAYTONA,)


class AutoStopWatcher(Poller):
    task_name = "nexus-auto-stop-watcher"

    def __init__(
        self,
        service: Callable[[], WorkspaceService],
        warn: Callable[[AutoStopWarning], None],
        stopped: Callable[[AutoStopped], None],
    ) -> None:
        first = service().ctx.config.backends.daytona
        super().__init__(first.activity_poll_interval)
        self._service = service
        self._warn = warn
        self._stopped_notice = stopped
        self.tracker = AutoStopTracker(first.auto_stop_warning_minutes)
        self._store: StateStore | None = None

    async def _run(self) -> None:
        try:
            while not self._stopped:
                try:
                    await self._tick()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep watching; the next tick may succeed
                    log.warning("cannot read the workspaces' activity: %s", exc)
                await self._sleep()
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    async def _tick(self) -> None:
        service = self._service()
        settings = service.ctx.config.backends.daytona
        self._interval = settings.activity_poll_interval  # the config may have changed
        self.tracker.warn_minutes = settings.auto_stop_warning_minutes
        if self._store is None:
            self._store = await asyncio.to_thread(StateStore, service.ctx.paths.state_db)
        recorded = await asyncio.to_thread(self._store.list)
        workspaces: list[Workspace] = []
        for backend in SELF_STOPPING:
            if any(ws.backend is backend for ws in recorded):
                workspaces += await service.list(backend, refresh=True)
        warnings, stopped = self.tracker.observe(workspaces)
        for warning in warnings:
            log.info("workspace %s stops in ~%d min", warning.name, warning.minutes_left)
            self._warn(warning)
        for notice in stopped:
            log.info(
                "workspace %s stopped after %d min without activity", notice.name, notice.minutes
            )
            self._stopped_notice(notice)
