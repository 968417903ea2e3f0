"""`nexus usage`: resource-hours and cost estimates per workspace, the month and the budget.

Everything is computed from the status transitions the store records (``StateStore.transitions``)
and the rates in the config (``backends.<backend>.rates``): an estimate, never a bill. The CLI
and the sidecar call ``usage_report``; the budget guard (``service/budget.py``) and the
sidecar's budget notification call ``month_summary``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..domain.errors import NexusError
from ..usage.meter import Meter, measure
from ..usage.window import month_bounds, parse_since

if TYPE_CHECKING:
    from ..config.schema import NexusConfig, Rates
    from .context import NexusContext
    from .workspaces import WorkspaceService

log = logging.getLogger(__name__)

RESOURCES = ("cpu", "memory", "disk")


def rates_of(config: NexusConfig, backend: str) -> Rates:
    """The rates of ``backend`` (``backends.<backend>.rates``)."""
    from ..config.schema import Rates

    settings = getattr(config.backends, backend, None)
    rates = getattr(settings, "rates", None)
    return rates if isinstance(rates, Rates) else Rates()


def charges(rates: Rates) -> bool:
    """Whether any resource of a backend with these rates costs something."""
    return any(r > 0 for r in (rates.cpu_hour, rates.memory_gb_hour, rates.disk_gb_hour))


def cost_of(meter: Meter, rates: Rates) -> float:
    return (
        meter.cpu_hours * rates.cpu_hour
        + meter.memory_gb_hours * rates.memory_gb_hour
        + meter.disk_gb_hours * rates.disk_gb_hour
    )


def hourly_cost(meter: Meter, rates: Rates) -> float:
    """What the workspace costs per hour as it stands now (running: CPU, memory and disk;
    stopped: disk; gone: nothing)."""
    state = meter.last
    if state is None or not meter.exists:
        return 0.0
    per_hour = (state.disk_gb or 0.0) * rates.disk_gb_hour
    if meter.running:
        per_hour += (state.cpu or 0.0) * rates.cpu_hour
        per_hour += (state.memory_gb or 0.0) * rates.memory_gb_hour
    return per_hour


def _currency(config: NexusConfig, backends: set[str]) -> tuple[str, list[str]]:
    """The one currency the totals are in, and a note when the rates use several."""
    used = {rates_of(config, b).currency for b in backends if charges(rates_of(config, b))}
    if len(used) <= 1:
        return (used.pop() if used else config.backends.daytona.rates.currency), []
    names = ", ".join(sorted(used))
    return "/".join(sorted(used)), [
        f"the rates use several currencies ({names}); the totals add them as they are"
    ]


@dataclass(frozen=True)
class UsageRow:
    """One workspace's (or one backend's total) usage in the window."""

    name: str | None  # None: a backend's total
    backend: str
    status: str | None
    running_hours: float
    cpu_hours: float
    memory_gb_hours: float
    disk_gb_hours: float
    unknown: tuple[str, ...]
    cost: float
    currency: str

    def to_json_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {} if self.name is None else {"name": self.name}
        data["backend"] = self.backend
        if self.name is not None:
            data["status"] = self.status
        data.update(
            runningHours=self.running_hours,
            cpuHours=self.cpu_hours,
            memoryGbHours=self.memory_gb_hours,
            diskGbHours=self.disk_gb_hours,
            unknown=list(self.unknown),
            cost=self.cost,
            currency=self.currency,
        )
        return data


def _row(meter: Meter, rates: Rates) -> UsageRow:
    return UsageRow(
        name=meter.workspace,
        backend=meter.backend,
        status=meter.last.status if meter.last is not None else None,
        running_hours=meter.running_hours,
        cpu_hours=meter.cpu_hours,
        memory_gb_hours=meter.memory_gb_hours,
        disk_gb_hours=meter.disk_gb_hours,
        unknown=tuple(r for r in RESOURCES if r in meter.unknown),
        cost=cost_of(meter, rates),
        currency=rates.currency,
    )


def _totals(rows: list[UsageRow]) -> list[UsageRow]:
    by_backend: dict[str, list[UsageRow]] = {}
    for row in rows:
        by_backend.setdefault(row.backend, []).append(row)
    return [
        UsageRow(
            name=None,
            backend=backend,
            status=None,
            running_hours=sum(r.running_hours for r in group),
            cpu_hours=sum(r.cpu_hours for r in group),
            memory_gb_hours=sum(r.memory_gb_hours for r in group),
            disk_gb_hours=sum(r.disk_gb_hours for r in group),
            unknown=tuple(r for r in RESOURCES if any(r in row.unknown for row in group)),
            cost=sum(r.cost for r in group),
            currency=group[0].currency,
        )
        for backend, group in sorted(by_backend.items())
    ]


@dataclass(frozen=True)
class BudgetStatus:
    monthly: float | None  # None: no budget set
    warn_percent: float
    used_percent: float | None
    state: str  # "none", "ok", "warn", "exceeded"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "monthly": self.monthly,
            "warnPercent": self.warn_percent,
            "usedPercent": self.used_percent,
            "state": self.state,
        }


@dataclass(frozen=True)
class MonthSummary:
    """The calendar month (UTC): its estimated cost so far and to its end, and the budget."""

    start: datetime
    end: datetime
    cost: float  # month to date
    forecast: float  # to the end of the month, if what runs now keeps running
    currency: str
    budget: BudgetStatus
    notes: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "cost": self.cost,
            "forecast": self.forecast,
            "currency": self.currency,
        }


def budget_status(config: NexusConfig, cost: float) -> BudgetStatus:
    budget = config.budget
    if budget.monthly is None:
        return BudgetStatus(None, budget.warn_percent, None, "none")
    percent = cost / budget.monthly * 100
    state = "exceeded" if percent >= 100 else "warn" if percent >= budget.warn_percent else "ok"
    return BudgetStatus(budget.monthly, budget.warn_percent, percent, state)


def month_summary(context: NexusContext, now: datetime | None = None) -> MonthSummary:
    """The month's estimated cost to date, its forecast and the budget's state (no engine call)."""
    now = now or datetime.now(UTC)
    start, end = month_bounds(now)
    config = context.config
    meters = measure(context.store.transitions(start, now), start, now)
    cost = sum((cost_of(m, rates_of(config, m.backend)) for m in meters), 0.0)
    remaining_hours = max((end - now).total_seconds(), 0.0) / 3600
    forecast = cost + remaining_hours * sum(
        hourly_cost(m, rates_of(config, m.backend)) for m in meters
    )
    currency, notes = _currency(config, {m.backend for m in meters})
    return MonthSummary(
        start, end, cost, forecast, currency, budget_status(config, cost), tuple(notes)
    )


@dataclass(frozen=True)
class UsageReport:
    since: datetime
    until: datetime
    workspaces: list[UsageRow]
    backends: list[UsageRow]
    month: MonthSummary
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "estimate": True,
            "workspaces": [row.to_json_dict() for row in self.workspaces],
            "backends": [row.to_json_dict() for row in self.backends],
            "month": self.month.to_json_dict(),
            "budget": self.month.budget.to_json_dict(),
            "notes": self.notes,
        }


async def usage_report(
    service: WorkspaceService,
    since: str | datetime | None = None,
    *,
    workspace: str | None = None,
    refresh: bool = True,
    now: datetime | None = None,
) -> UsageReport:
    """Usage per workspace and backend from ``since`` (``7d``, ``24h``, ``2w``, ``YYYY-MM-DD``
    or a time; default: the start of the month) to now, with the month and the budget.

    With ``refresh`` the statuses are read from the engines first, so a change made by another
    client since Nexus last looked is recorded before it is measured.
    """
    context = service.ctx
    if refresh:
        try:
            await service.list()
        except NexusError as exc:  # measure what is recorded
            log.warning("cannot refresh the statuses before measuring: %s", exc.message)
    now = now or datetime.now(UTC)
    if since is None:
        start = month_bounds(now)[0]
    elif isinstance(since, datetime):
        start = since
    else:
        start = parse_since(since, now)
    config = context.config
    meters = measure(context.store.transitions(start, now), start, now)
    if workspace is not None:
        meters = [m for m in meters if m.workspace == workspace]
    rows = [_row(m, rates_of(config, m.backend)) for m in meters]
    month = month_summary(context, now)
    notes = list(month.notes)
    if any(row.unknown for row in rows):
        notes.append(
            "resources a workspace was created without (no limit) count as 0 and are "
            "shown as unknown"
        )
    return UsageReport(start, now, rows, _totals(rows), month, notes)
