"""Auto-stop, seen coming: which workspaces are about to stop themselves, which just did, and
"keep running" (activity recorded now, so the countdown starts again).

``AutoStopTracker`` holds no I/O: it is fed each fresh listing (``WorkspaceService.list``, whose
running workspaces carry the ``auto_stop`` their backend reported) and says what to tell the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import TYPE_CHECKING

from ..domain.kinds import WorkspaceStatus
from ..domain.models import AutoStop, Workspace

if TYPE_CHECKING:
    from ..domain.progress import Progress
    from .workspaces import WorkspaceService


def _now() -> datetime:
    """Now, to the microsecond (``utcnow`` drops them: a deadline a second away would round
    up to one more minute)."""
    return datetime.now(UTC)


# statuses that say nothing yet of whether a countdown ended
_UNDECIDED = frozenset({WorkspaceStatus.RUNNING, WorkspaceStatus.STOPPING, WorkspaceStatus.UNKNOWN})

# a stop seen this close before the deadline still counts as the auto-stop (clocks differ)
CLOCK_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class AutoStopWarning:
    name: str
    backend: str
    stops_at: datetime
    minutes_left: int  # rounded up: "stops in ~N min"

    def to_json_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "backend": self.backend,
            "stopsAt": self.stops_at.isoformat(),
            "minutesLeft": self.minutes_left,
        }


@dataclass(frozen=True)
class AutoStopped:
    name: str
    backend: str
    minutes: int  # the inactivity it stopped after

    def to_json_dict(self) -> dict[str, object]:
        return {"name": self.name, "backend": self.backend, "minutes": self.minutes}


def minutes_left_text(auto_stop: AutoStop, now: datetime | None = None) -> str:
    """ "stops in ~N min" (N rounded up; "stops now" once the deadline passed)."""
    left = auto_stop.minutes_left(now or _now())
    return "stops now" if left <= 0 else f"stops in ~{ceil(left)} min"


class AutoStopTracker:
    """Turns successive listings into warnings (once per approach of a deadline: activity that
    pushes the deadline back re-arms it) and stop notices (a workspace seen counting down that
    is now stopped, at or after its deadline — not one the user stopped earlier)."""

    def __init__(self, warn_minutes: float) -> None:
        self.warn_minutes = warn_minutes
        self._counting: dict[str, AutoStop] = {}  # running, with an auto-stop, at the last look
        self._warned: set[str] = set()
        # activity recorded through "keep running" that the backend may show only a little
        # later (Daytona buffers it): until a reading catches up, this is the better one
        self._kept: dict[str, AutoStop] = {}

    def observe(
        self, workspaces: list[Workspace], now: datetime | None = None
    ) -> tuple[list[AutoStopWarning], list[AutoStopped]]:
        now = now or _now()
        warnings: list[AutoStopWarning] = []
        stopped: list[AutoStopped] = []
        seen: set[str] = set()
        for ws in workspaces:
            seen.add(ws.name)
            previous = self._counting.get(ws.name)
            if ws.status is WorkspaceStatus.RUNNING and ws.auto_stop is not None:
                auto_stop = self._caught_up(ws.name, ws.auto_stop)
                self._counting[ws.name] = auto_stop
                left = auto_stop.minutes_left(now)
                if self.warn_minutes > 0 and left <= self.warn_minutes:
                    if ws.name not in self._warned:
                        self._warned.add(ws.name)
                        warnings.append(
                            AutoStopWarning(
                                ws.name, ws.backend.value, auto_stop.stops_at, max(1, ceil(left))
                            )
                        )
                else:
                    self._warned.discard(ws.name)  # activity moved the deadline: warn again later
                continue
            if ws.status in _UNDECIDED:
                # running with its auto-stop not read this time, on its way to stopped, or not
                # known just now: keep what was known and decide once it settled
                continue
            self._counting.pop(ws.name, None)
            self._warned.discard(ws.name)
            self._kept.pop(ws.name, None)
            if (
                ws.status is WorkspaceStatus.STOPPED
                and previous is not None
                and now >= previous.stops_at - CLOCK_SLACK
            ):
                stopped.append(AutoStopped(ws.name, ws.backend.value, previous.minutes))
        for name in set(self._counting) - seen:  # deleted
            del self._counting[name]
            self._warned.discard(name)
            self._kept.pop(name, None)
        return warnings, stopped

    def _caught_up(self, name: str, observed: AutoStop) -> AutoStop:
        kept = self._kept.get(name)
        if kept is None:
            return observed
        if observed.last_activity_at >= kept.last_activity_at:
            del self._kept[name]  # the backend shows it now
            return observed
        return observed.model_copy(update={"last_activity_at": kept.last_activity_at})

    def kept_running(self, workspace: Workspace, now: datetime | None = None) -> None:
        """The user chose "keep running": the next approach of the new deadline warns again,
        unless the new deadline is already that close (an interval shorter than the warning):
        the user just answered for it."""
        self._warned.discard(workspace.name)
        auto_stop = workspace.auto_stop
        if auto_stop is not None:
            self._counting[workspace.name] = auto_stop
            self._kept[workspace.name] = auto_stop
            if auto_stop.minutes_left(now or _now()) <= self.warn_minutes:
                self._warned.add(workspace.name)


async def keep_running(service: WorkspaceService, name: str) -> Workspace:
    """Record activity in a running workspace now; the workspace with its new deadline.

    A stopped one gets the same error ``exec`` gives (its backend's stopped code)."""
    workspace = await service.refresh(name)
    if workspace.status is not WorkspaceStatus.RUNNING:
        await service.running_connection(name)  # raises what exec would say
    auto_stop = await service.ctx.backends.get(workspace.backend).keep_alive(workspace)
    return workspace.model_copy(update={"auto_stop": auto_stop})


async def start_if_stopped(service: WorkspaceService, name: str, progress: Progress) -> bool:
    """``exec --start``/``ssh --start``: start a stopped workspace first (True when it did)."""
    workspace = await service.refresh(name)
    if workspace.status is not WorkspaceStatus.STOPPED:
        return False
    await service.start(name, progress)
    return True
