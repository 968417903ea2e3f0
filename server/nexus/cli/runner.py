"""Running one use case from the CLI: its event loop, its signals, its context."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..domain.errors import ErrorCode, NexusError

if TYPE_CHECKING:
    from ..service.workspaces import WorkspaceService

T = TypeVar("T")


def run(
    work: Callable[[WorkspaceService], Coroutine[Any, Any, T]],
    cancelled: str = "interrupted; what the operation had made was cleaned up",
) -> T:
    """Run one use case; Ctrl-C, SIGTERM and SIGHUP cancel it, so it cleans up after itself
    (``cancelled``: what the user is told then)."""
    import asyncio
    import signal

    from ..service.context import NexusContext
    from ..service.workspaces import WorkspaceService

    context = NexusContext()

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, task.cancel)
        return await work(WorkspaceService(context))

    try:
        return asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise NexusError(
            ErrorCode.CANCELLED,
            cancelled,
            "Run the command again when ready.",
        ) from None
    finally:
        context.close()
