"""The budget guard of create and start, on a month with a known estimated cost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.paths import NexusPaths
from nexus.service.budget import check_budget
from nexus.service.context import NexusContext
from nexus.service.usage import month_summary
from nexus.store import StateStore
from nexus.usage.window import month_bounds

from .helpers import insert_transition, write_config


class Recorded:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def step(self, phase: str, message: str) -> None:
        pass

    def detail(self, message: str, percent: int | None = None) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _home(tmp_path: Path) -> Path:
    """A home whose month so far cost a fixed amount: a Daytona workspace that ran a while in
    this month and stopped since (its disk unknown, so the cost no longer grows)."""
    home = tmp_path / "nexus"
    db = NexusPaths(home).state_db
    StateStore(db).close()
    now = datetime.now(UTC)
    start = month_bounds(now)[0]
    for status, share in (("running", 0.25), ("stopped", 0.5)):
        insert_transition(db, "w", status, start + (now - start) * share, cpu=2, memory_gb=4)
    return home


def _check(home: Path, monthly: float | None, backend: str = "daytona", **kwargs: bool) -> Recorded:
    write_config(home, budget={"monthly": monthly, "warn_percent": 80})
    context = NexusContext(NexusPaths(home))
    progress = Recorded()
    try:
        check_budget(context, backend, progress, action="start", name="w", **kwargs)
    finally:
        context.close()
    return progress


def _cost(home: Path) -> float:
    write_config(home)
    context = NexusContext(NexusPaths(home))
    try:
        return month_summary(context).cost
    finally:
        context.close()


def test_below_the_warning_share_nothing_is_said(tmp_path: Path) -> None:
    home = _home(tmp_path)
    cost = _cost(home)
    assert cost > 0
    assert _check(home, cost * 2).warnings == []
    assert _check(home, None).warnings == []  # no budget


def test_from_the_warning_share_a_warning(tmp_path: Path) -> None:
    home = _home(tmp_path)
    (warning,) = _check(home, _cost(home) / 0.9).warnings
    assert "90 % of the monthly budget" in warning


def test_at_the_budget_refused_unless_over_budget(tmp_path: Path) -> None:
    home = _home(tmp_path)
    monthly = _cost(home) / 2
    with pytest.raises(NexusError) as error:
        _check(home, monthly)
    assert error.value.code == ErrorCode.BUDGET_EXCEEDED
    assert error.value.options == ("over_budget",)
    assert "200 %" in error.value.message
    (warning,) = _check(home, monthly, over_budget=True).warnings
    assert "over the budget" in warning


def test_a_backend_that_charges_nothing_is_not_guarded(tmp_path: Path) -> None:
    home = _home(tmp_path)
    assert _check(home, _cost(home) / 2, backend="docker").warnings == []
