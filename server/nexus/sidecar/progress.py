"""Nexus ``Progress`` reported as LSP ``$/progress`` on the token the client passed.

``step``/``detail``/``warn`` may be called from worker threads (the Docker SDK runs in threads),
so every message is handed to the event loop, which sends them in order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from lsprotocol.types import WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport

from ..domain.progress import NullProgress, Progress
from .protocol import ProgressToken

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)


class LspProgress:
    """One work-done progress: ``begin`` once, ``report`` per step/detail, ``end`` once."""

    def __init__(self, server: LanguageServer, token: ProgressToken, title: str) -> None:
        self._server = server
        self._token = token
        self._title = title
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._percent: int | None = None

    def _send(self, action: Callable[[], None]) -> None:
        if threading.get_ident() == self._loop_thread:
            action()
        else:
            self._loop.call_soon_threadsafe(action)

    def begin(self) -> None:
        value = WorkDoneProgressBegin(title=self._title, cancellable=True)
        self._send(lambda: self._server.work_done_progress.begin(self._token, value))

    def _report(self, message: str, percent: int | None = None) -> None:
        if percent is not None:  # LSP wants a percentage that never goes down
            percent = max(0, min(100, percent), self._percent or 0)
            self._percent = percent
        value = WorkDoneProgressReport(message=message, percentage=percent, cancellable=True)
        self._send(lambda: self._server.work_done_progress.report(self._token, value))

    def end(self, message: str) -> None:
        def send() -> None:
            self._server.work_done_progress.end(self._token, WorkDoneProgressEnd(message=message))
            self._server.work_done_progress.tokens.pop(self._token, None)

        self._send(send)

    # ---- the Progress protocol -------------------------------------------------------------------
    def step(self, phase: str, message: str) -> None:
        log.info("%s: %s", self._title, message)
        self._report(message)

    def detail(self, message: str, percent: int | None = None) -> None:
        log.debug("%s: %s", self._title, message)
        self._report(message, percent)

    def warn(self, message: str) -> None:
        log.warning("%s: %s", self._title, message)
        self._report(f"Warning: {message}")


@asynccontextmanager
async def work_done(
    server: LanguageServer, token: ProgressToken | None, title: str
) -> AsyncIterator[Progress]:
    """Progress for the body: begin before, end after (with how it ended).

    Cancelling the progress in the client's UI (``window/workDoneProgress/cancel``) cancels the
    request, exactly like ``$/cancelRequest``.
    """
    if token is None:
        log.info("%s", title)
        yield NullProgress()
        return
    progress = LspProgress(server, token, title)
    progress.begin()
    task = asyncio.current_task()
    cancel_future = server.work_done_progress.tokens.get(token)
    if cancel_future is not None and task is not None:
        loop = asyncio.get_running_loop()
        cancel_future.add_done_callback(
            lambda fut: loop.call_soon_threadsafe(task.cancel) if fut.cancelled() else None
        )
    outcome = "Failed"
    try:
        yield progress
        outcome = "Done"
    except asyncio.CancelledError:
        outcome = "Cancelled"
        raise
    except Exception as exc:
        outcome = f"Failed: {exc}"
        raise
    finally:
        progress.end(outcome)
