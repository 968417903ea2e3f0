"""The monthly budget guard of `create` and `start` (``budget.monthly``, ``budget.warn_percent``).

Only a workspace whose backend charges something (a non-zero rate) is guarded: from
``warn_percent`` of the budget on the month's estimated cost is reported as a warning; at
100 % the operation is refused with BUDGET_EXCEEDED, unless the caller said ``over_budget``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.errors import ErrorCode, NexusError
from .usage import charges, month_summary, rates_of

if TYPE_CHECKING:
    from ..domain.progress import Progress
    from .context import NexusContext


def _money(value: float, currency: str) -> str:
    return f"{value:.2f} {currency}"


def check_budget(
    context: NexusContext,
    backend: str,
    progress: Progress,
    *,
    action: str,
    name: str,
    over_budget: bool = False,
) -> None:
    """Refuse (BUDGET_EXCEEDED) or warn before ``action`` (create/start) of workspace ``name``
    on ``backend``, by the month's estimated cost against the budget."""
    config = context.config
    if config.budget.monthly is None or not charges(rates_of(config, backend)):
        return
    month = month_summary(context)
    budget = month.budget
    if budget.state not in ("warn", "exceeded") or budget.used_percent is None:
        return
    spent = (
        f"this month's estimated cost {_money(month.cost, month.currency)} is "
        f"{budget.used_percent:.0f} % of the monthly budget "
        f"{_money(config.budget.monthly, month.currency)}"
    )
    if budget.state == "warn":
        progress.warn(
            f"{spent}; forecast to the end of the month: {_money(month.forecast, month.currency)}"
        )
        return
    if not over_budget:
        raise NexusError(
            ErrorCode.BUDGET_EXCEEDED,
            f"cannot {action} '{name}': {spent}",
            "Go ahead over the budget, raise budget.monthly, or stop workspaces "
            "(`nexus usage` shows what costs).",
            options=("over_budget",),
        )
    progress.warn(f"{spent}; going ahead over the budget as asked")
