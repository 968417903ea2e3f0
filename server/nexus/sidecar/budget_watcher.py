"""Tells the editor when the month's estimated cost crosses the budget's warning line or the
budget itself (``nexus/budget/didChange``).

The month's cost comes from the state store alone (``month_summary``: recorded transitions times
rates, no engine call), read every ``POLL_SECONDS`` and at once when poked (the store changed:
a create or start may have moved it). The first reading is sent only when it already needs the
user (warn or exceeded); after that, every change of state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..service.usage import MonthSummary, month_summary
from .protocol import BudgetDidChangeParams
from .watcher import Poller

if TYPE_CHECKING:
    from ..service.workspaces import WorkspaceService

log = logging.getLogger(__name__)

POLL_SECONDS = 60.0
NEEDS_THE_USER = ("warn", "exceeded")


def change_of(previous: str | None, month: MonthSummary) -> BudgetDidChangeParams | None:
    """The notification for ``month``, or None when there is nothing new to say."""
    state = month.budget.state
    if state == previous or (previous is None and state not in NEEDS_THE_USER):
        return None
    return {
        "state": state,
        "previousState": previous,
        "usedPercent": month.budget.used_percent,
        "cost": month.cost,
        "forecast": month.forecast,
        "monthly": month.budget.monthly,
        "currency": month.currency,
    }


class BudgetWatcher(Poller):
    task_name = "nexus-budget-watcher"

    def __init__(
        self,
        service: Callable[[], WorkspaceService],
        notify: Callable[[BudgetDidChangeParams], None],
        interval: float = POLL_SECONDS,
    ) -> None:
        super().__init__(interval)
        self._service = service
        self._notify = notify
        self._state: str | None = None

    async def _run(self) -> None:
        while not self._stopped:
            try:
                context = self._service().ctx
                month = await asyncio.to_thread(month_summary, context)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep watching; the next tick may succeed
                log.warning("cannot read the month's usage: %s", exc)
            else:
                change = change_of(self._state, month)
                self._state = month.budget.state
                if change is not None:
                    log.info("budget: %s (%.0f %%)", change["state"], change["usedPercent"] or 0)
                    self._notify(change)
            await self._sleep()
