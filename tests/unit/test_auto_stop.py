"""The auto-stop countdown: reading the API's fields, and when the editor is told what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from nexus.backends.daytona.activity import auto_stop_of
from nexus.domain.models import AutoStop, BackendType, Workspace, WorkspaceStatus
from nexus.service.auto_stop import AutoStopTracker, minutes_left_text

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ws(
    name: str, status: WorkspaceStatus, last: datetime | None = None, minutes: int = 10
) -> Workspace:
    auto_stop = None if last is None else AutoStop(minutes=minutes, last_activity_at=last)
    return Workspace(name=name, backend=BackendType.DAYTONA, status=status, auto_stop=auto_stop)


def test_the_api_fields_make_the_deadline() -> None:
    sandbox = SimpleNamespace(
        state="started", auto_stop_interval=15, last_activity_at="2026-11-30T12:00:00.123Z"
    )
    found = auto_stop_of(sandbox)
    assert found is not None and found.minutes == 15
    assert found.stops_at == datetime(2026, 11, 30, 12, 15, 0, 123000, tzinfo=UTC)
    assert auto_stop_of(SimpleNamespace(**{**vars(sandbox), "auto_stop_interval": 0})) is None
    assert auto_stop_of(SimpleNamespace(**{**vars(sandbox), "state": "stopped"})) is None
    assert auto_stop_of(SimpleNamespace(**{**vars(sandbox), "last_activity_at": None})) is None
    assert auto_stop_of(SimpleNamespace(**{**vars(sandbox), "last_activity_at": "soon"})) is None
    naive = auto_stop_of(
        SimpleNamespace(**{**vars(sandbox), "last_activity_at": "2026-11-30T12:00:00"})
    )
    assert naive is not None and naive.last_activity_at.tzinfo is not None


def test_the_text_rounds_up_and_never_goes_negative() -> None:
    auto_stop = AutoStop(minutes=10, last_activity_at=T0)
    assert minutes_left_text(auto_stop, T0) == "stops in ~10 min"
    assert minutes_left_text(auto_stop, T0 + timedelta(minutes=8, seconds=1)) == "stops in ~2 min"
    assert minutes_left_text(auto_stop, T0 + timedelta(minutes=11)) == "stops now"


def test_one_warning_per_approach_and_again_after_activity() -> None:
    tracker = AutoStopTracker(warn_minutes=5)
    running = ws("a", WorkspaceStatus.RUNNING, T0)
    assert tracker.observe([running], T0 + timedelta(minutes=4)) == ([], [])
    warnings, _ = tracker.observe([running], T0 + timedelta(minutes=5, seconds=30))
    assert [(w.name, w.minutes_left) for w in warnings] == [("a", 5)]
    assert tracker.observe([running], T0 + timedelta(minutes=6)) == ([], [])  # once
    # activity moved the deadline out of the window: the next approach warns again
    later = ws("a", WorkspaceStatus.RUNNING, T0 + timedelta(minutes=6))
    assert tracker.observe([later], T0 + timedelta(minutes=7)) == ([], [])
    warnings, _ = tracker.observe([later], T0 + timedelta(minutes=12))
    assert [w.stops_at for w in warnings] == [T0 + timedelta(minutes=16)]


def test_a_stop_at_the_deadline_is_reported_and_an_early_one_is_not() -> None:
    tracker = AutoStopTracker(warn_minutes=5)
    tracker.observe(
        [ws("a", WorkspaceStatus.RUNNING, T0), ws("b", WorkspaceStatus.RUNNING, T0)], T0
    )
    _, stopped = tracker.observe(
        [ws("a", WorkspaceStatus.STOPPED), ws("b", WorkspaceStatus.STOPPED)],
        T0 + timedelta(minutes=3),  # long before the deadline: the user stopped them
    )
    assert stopped == []
    tracker.observe([ws("c", WorkspaceStatus.RUNNING, T0)], T0)
    _, stopped = tracker.observe([ws("c", WorkspaceStatus.STOPPED)], T0 + timedelta(minutes=10))
    assert [(s.name, s.minutes) for s in stopped] == [("c", 10)]
    # told once: still stopped at the next look says nothing
    assert tracker.observe([ws("c", WorkspaceStatus.STOPPED)], T0 + timedelta(minutes=11)) == (
        [],
        [],
    )


def test_no_warning_when_switched_off_and_a_deleted_workspace_is_forgotten() -> None:
    tracker = AutoStopTracker(warn_minutes=0)
    assert tracker.observe([ws("a", WorkspaceStatus.RUNNING, T0)], T0 + timedelta(minutes=9)) == (
        [],
        [],
    )
    tracker.warn_minutes = 5
    tracker.observe([ws("a", WorkspaceStatus.RUNNING, T0)], T0 + timedelta(minutes=9))
    assert tracker.observe([], T0 + timedelta(minutes=10)) == ([], [])
    # the name comes back as a new workspace: no stop notice from the old one
    assert tracker.observe([ws("a", WorkspaceStatus.STOPPED)], T0 + timedelta(minutes=11)) == (
        [],
        [],
    )


def test_keep_running_counts_before_the_backend_shows_it() -> None:
    """Daytona writes recorded activity to lastActivityAt up to ~10 s later: a reading from
    before that must not bring the old deadline (and its warning) back."""
    tracker = AutoStopTracker(warn_minutes=5)
    old = ws("a", WorkspaceStatus.RUNNING, T0)
    warnings, _ = tracker.observe([old], T0 + timedelta(minutes=6))
    assert len(warnings) == 1
    kept = ws("a", WorkspaceStatus.RUNNING, T0 + timedelta(minutes=6))
    tracker.kept_running(kept)
    assert tracker.observe([old], T0 + timedelta(minutes=6, seconds=5)) == ([], [])
    # the backend caught up, then the new deadline approaches: warned again, once
    assert tracker.observe([kept], T0 + timedelta(minutes=7)) == ([], [])
    warnings, _ = tracker.observe([kept], T0 + timedelta(minutes=12))
    assert [w.stops_at for w in warnings] == [T0 + timedelta(minutes=16)]


def test_keep_running_with_the_deadline_already_inside_the_warning_is_not_warned_again() -> None:
    """An interval shorter than the warning: "keep running" answers the warning of the new
    deadline too; only activity that moves it out and back in warns again."""
    tracker = AutoStopTracker(warn_minutes=2)
    warnings, _ = tracker.observe([ws("a", WorkspaceStatus.RUNNING, T0, minutes=1)], T0)
    assert len(warnings) == 1
    now = T0 + timedelta(seconds=20)
    kept = ws("a", WorkspaceStatus.RUNNING, now, minutes=1)
    tracker.kept_running(kept, now)
    assert tracker.observe([kept], now + timedelta(seconds=1)) == ([], [])


def test_a_stop_seen_on_its_way_is_still_reported_once_it_settled() -> None:
    """A poll may catch the sandbox while it is stopping (or its status not known for a
    moment): the countdown is kept until the status settles."""
    tracker = AutoStopTracker(warn_minutes=5)
    tracker.observe([ws("a", WorkspaceStatus.RUNNING, T0)], T0)
    later = T0 + timedelta(minutes=10)
    assert tracker.observe([ws("a", WorkspaceStatus.STOPPING)], later) == ([], [])
    assert tracker.observe([ws("a", WorkspaceStatus.UNKNOWN)], later) == ([], [])
    assert tracker.observe([ws("a", WorkspaceStatus.RUNNING)], later) == ([], [])  # no reading
    _, stopped = tracker.observe([ws("a", WorkspaceStatus.STOPPED)], later)
    assert [s.name for s in stopped] == ["a"]
