"""The usage arithmetic on transitions at chosen times: exact hours, costs and the forecast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.usage import month_summary
from nexus.store import StateStore
from nexus.store.db import Transition
from nexus.usage.meter import measure
from nexus.usage.window import month_bounds, parse_since

from .helpers import insert_transition, write_config

T0 = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def states(*items: tuple[str, float], cpu: float | None = 2, memory: float | None = 4,
           disk: float | None = 10, name: str = "w", backend: str = "daytona") -> list[Transition]:  # fmt: skip
    return [
        Transition(name, backend, status, at(minutes), cpu, memory, disk)
        for status, minutes in items
    ]


LIFE = (
    ("creating", 0),
    ("running", 0.5),
    ("stopping", 120.5),
    ("stopped", 121),
    ("starting", 180),
    ("running", 181),
    ("deleting", 240),
    ("deleted", 241),
)


def test_running_counts_running_and_stopping_and_disk_counts_until_deleted() -> None:
    (meter,) = measure(states(*LIFE), at(-60), at(600))
    running = (121 - 0.5) * 60 + (240 - 181) * 60
    assert meter.running_seconds == running
    assert meter.cpu_seconds == 2 * running
    assert meter.memory_gb_seconds == 4 * running
    assert meter.disk_gb_seconds == 10 * 241 * 60
    assert meter.unknown == set()
    assert meter.running_hours == running / 3600
    assert not meter.exists


def test_the_window_clips_what_lies_outside() -> None:
    (meter,) = measure(states(*LIFE), at(60), at(200))
    running = (121 - 60) * 60 + (200 - 181) * 60
    assert meter.running_seconds == running
    assert meter.disk_gb_seconds == 10 * 140 * 60
    assert meter.running  # running when the window closed
    assert meter.last is not None and meter.last.status == "running"


def test_the_status_before_the_window_holds_into_it() -> None:
    (meter,) = measure(states(("creating", 0), ("running", 1)), at(30), at(90))
    assert meter.running_seconds == 3600


def test_unknown_resources_count_as_zero_and_are_named() -> None:
    items = states(("creating", 0), ("running", 0), ("stopped", 60), cpu=None, memory=None,
                   disk=None, backend="docker")  # fmt: skip
    (meter,) = measure(items, at(0), at(120))
    assert meter.running_seconds == 3600
    assert (meter.cpu_seconds, meter.memory_gb_seconds, meter.disk_gb_seconds) == (0, 0, 0)
    assert meter.unknown == {"cpu", "memory", "disk"}


def test_a_stopped_workspace_keeps_only_its_disk_and_a_missing_one_nothing() -> None:
    (meter,) = measure(states(("stopped", 0), ("missing", 30)), at(0), at(120))
    assert meter.running_seconds == 0
    assert meter.disk_gb_seconds == 10 * 30 * 60
    assert not meter.exists


def test_a_workspace_gone_before_the_window_is_not_reported() -> None:
    assert measure(states(("running", 0), ("deleted", 10)), at(20), at(30)) == []


def test_workspaces_are_measured_apart_and_a_reused_name_per_backend() -> None:
    items = [
        *states(("running", 0), ("deleted", 60), name="a", backend="docker"),
        *states(("running", 60), name="a", backend="daytona"),
        *states(("running", 0), ("stopped", 30), name="b"),
    ]
    meters = {(m.workspace, m.backend): m for m in measure(items, at(0), at(120))}
    assert meters[("a", "docker")].running_seconds == 3600
    assert meters[("a", "daytona")].running_seconds == 3600
    assert meters[("b", "daytona")].running_seconds == 1800


def test_since_values() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2026-11-02", now) == datetime(2026, 11, 2, tzinfo=UTC)
    for bad in ("7x", "yesterday", "2026-13-01", "2026-12-01"):
        with pytest.raises(NexusError) as error:
            parse_since(bad, now)
        assert error.value.code == ErrorCode.INVALID_ARGUMENT
    assert month_bounds(now) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    december = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert month_bounds(december)[1] == datetime(2027, 1, 1, tzinfo=UTC)


RATES = {"currency": "EUR", "cpu_hour": 1.0, "memory_gb_hour": 0.5, "disk_gb_hour": 0.01}


def _context(home: Path, monthly: float | None) -> NexusContext:
    write_config(
        home,
        backends={"daytona": {"rates": RATES}},
        budget={"monthly": monthly, "warn_percent": 80},
    )
    return NexusContext(NexusPaths(home))


def test_month_to_date_forecast_and_budget(tmp_path: Path) -> None:
    home = tmp_path / "nexus"
    StateStore(NexusPaths(home).state_db).close()
    db = NexusPaths(home).state_db
    now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 24 h left in the month
    # last month's hours do not count; this month: 24 h running (2 cpu, 4 GB, 10 GB disk)
    insert_transition(db, "run", "running", datetime(2026, 10, 31, 0, 0, tzinfo=UTC),
                      cpu=2, memory_gb=4, disk_gb=10)  # fmt: skip
    insert_transition(db, "run", "stopped", datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
                      cpu=2, memory_gb=4, disk_gb=10)  # fmt: skip
    insert_transition(db, "run", "running", datetime(2026, 11, 29, 0, 0, tzinfo=UTC),
                      cpu=2, memory_gb=4, disk_gb=10)  # fmt: skip
    # a Docker workspace (rates 0 by default) costs nothing, whatever it runs
    insert_transition(db, "local", "running", datetime(2026, 11, 2, tzinfo=UTC), backend="docker",
                      cpu=8, memory_gb=16)  # fmt: skip
    context = _context(home, monthly=250)
    try:
        month = month_summary(context, now)
    finally:
        context.close()
    disk_all_month = 29 * 24 * 10 * 0.01  # stopped or running, the disk costs
    running = 24 * (2 * 1.0 + 4 * 0.5)
    assert month.cost == pytest.approx(running + disk_all_month)
    assert month.forecast == pytest.approx(month.cost + 24 * (2 * 1.0 + 4 * 0.5 + 10 * 0.01))
    assert month.currency == "EUR"
    assert month.budget.used_percent == pytest.approx(month.cost / 250 * 100)
    assert month.budget.state == "ok"  # 165.6 of 250: below 80 %
    for monthly, state in ((200, "warn"), (165, "exceeded"), (100, "exceeded")):
        context = _context(home, monthly)
        try:
            assert month_summary(context, now).budget.state == state
        finally:
            context.close()
