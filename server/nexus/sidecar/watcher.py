"""Turns state-store changes, made by any process, into ``nexus/workspace/didChangeState``.

The store bumps one ``revision`` counter on every write, whoever writes (this sidecar, the CLI,
another sidecar), so polling it is one cheap query. When it moved, the workspace list is read
and diffed against the last one; each changed workspace is sent whole (or as deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..store import StateStore
from .protocol import DidChangeStateParams

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2

Snapshot = dict[str, dict[str, Any]]


def diff(before: Snapshot, after: Snapshot) -> list[DidChangeStateParams]:
    """The notifications that take a client from ``before`` to ``after``."""
    changes: list[DidChangeStateParams] = []
    for name, workspace in after.items():
        old = before.get(name)
        if old != workspace:
            changes.append(
                {
                    "name": name,
                    "workspace": workspace,
                    "previousStatus": old["status"] if old else None,
                    "deleted": False,
                }
            )
    for name, old in before.items():
        if name not in after:
            changes.append(
                {"name": name, "workspace": None, "previousStatus": old["status"], "deleted": True}
            )
    return changes


class Poller:
    """A background task that checks something every ``interval`` seconds, or at once when
    poked; subclasses write ``_run`` (looping on ``_sleep`` until ``_stopped``)."""

    task_name = "nexus-poller"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopped = False

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    def poke(self) -> None:
        """Check now instead of at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sleep(self) -> None:
        """Until the next tick or a poke (not ``wait_for``: it can swallow a cancellation)."""
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({woken}, timeout=self._interval)
        finally:
            woken.cancel()
            self._wake.clear()


class StoreWatcher(Poller):
    """Polls the store on its own connection (never waits behind this process's writers)."""

    task_name = "nexus-store-watcher"

    def __init__(
        self,
        db_path: Path,
        notify: Callable[[DidChangeStateParams], None],
        interval: float = POLL_SECONDS,
    ) -> None:
        super().__init__(interval)
        self._db_path = db_path
        self._notify = notify

    async def _run(self) -> None:
        store = await asyncio.to_thread(StateStore, self._db_path)
        try:
            revision = store.revision()
            snapshot = _snapshot(store)
            while not self._stopped:
                await self._sleep()
                try:
                    current_revision = store.revision()
                    if current_revision == revision:
                        continue
                    current = _snapshot(store)
                except Exception as exc:  # keep watching; the next tick may succeed
                    log.warning("cannot read the state store: %s", exc)
                    continue
                revision = current_revision
                for change in diff(snapshot, current):
                    log.debug("workspace %s changed", change["name"])
                    self._notify(change)
                snapshot = current
        finally:
            store.close()


def _snapshot(store: StateStore) -> Snapshot:
    return {ws.name: ws.public_dict() for ws in store.list()}
