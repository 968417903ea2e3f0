"""Resource-hours of each workspace over a window, from its recorded transitions.

A workspace runs while its status is ``running`` (or ``stopping``: the machine still runs
until it has stopped); CPU and memory count while it runs, disk while it exists (any status
but ``missing`` and the final ``deleted``). A resource the record does not know (a Docker
workspace without limits) counts as 0 and is reported as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..store.db import DELETED, Transition

RUNNING = frozenset({"running", "stopping"})
GONE = frozenset({DELETED, "missing"})


@dataclass
class Meter:
    """What one workspace (of one backend) used in a window, and how it stood at its end."""

    workspace: str
    backend: str
    running_seconds: float = 0.0
    cpu_seconds: float = 0.0  # vCPU x seconds
    memory_gb_seconds: float = 0.0
    disk_gb_seconds: float = 0.0
    unknown: set[str] = field(default_factory=set)  # "cpu", "memory", "disk"
    last: Transition | None = None  # its status at the end of the window

    @property
    def running_hours(self) -> float:
        return self.running_seconds / 3600

    @property
    def cpu_hours(self) -> float:
        return self.cpu_seconds / 3600

    @property
    def memory_gb_hours(self) -> float:
        return self.memory_gb_seconds / 3600

    @property
    def disk_gb_hours(self) -> float:
        return self.disk_gb_seconds / 3600

    @property
    def exists(self) -> bool:
        return self.last is not None and self.last.status not in GONE

    @property
    def running(self) -> bool:
        return self.last is not None and self.last.status in RUNNING

    def add(self, state: Transition, seconds: float) -> None:
        if state.status in GONE or seconds <= 0:
            return
        self._add_disk(state, seconds)
        if state.status not in RUNNING:
            return
        self.running_seconds += seconds
        if state.cpu is None:
            self.unknown.add("cpu")
        else:
            self.cpu_seconds += state.cpu * seconds
        if state.memory_gb is None:
            self.unknown.add("memory")
        else:
            self.memory_gb_seconds += state.memory_gb * seconds

    def _add_disk(self, state: Transition, seconds: float) -> None:
        if state.disk_gb is None:
            self.unknown.add("disk")
        else:
            self.disk_gb_seconds += state.disk_gb * seconds


def measure(transitions: Iterable[Transition], since: datetime, until: datetime) -> list[Meter]:
    """One meter per workspace and backend that existed in [since, until), by name.

    ``transitions`` are in the order they were recorded (``StateStore.transitions``): each
    status holds from its time to the next one's (or to ``until``); what lies before
    ``since`` only says how the workspace stood when the window opened.
    """
    history: dict[tuple[str, str], list[Transition]] = {}
    for item in transitions:
        if item.at < until:
            history.setdefault((item.workspace, item.backend), []).append(item)
    meters: list[Meter] = []
    for (name, backend), states in sorted(history.items()):
        meter = Meter(name, backend)
        existed = False
        for state, following in zip(states, [*states[1:], None], strict=True):
            end = following.at if following is not None else until
            start = max(state.at, since)
            seconds = (min(end, until) - start).total_seconds()
            if seconds > 0 and state.status not in GONE:
                existed = True
            meter.add(state, seconds)
        meter.last = states[-1]
        if existed or meter.exists:
            meters.append(meter)
    return meters
