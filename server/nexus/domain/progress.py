"""Progress reporting shared by the CLI (rich) and the sidecar ($/progress)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Phases of a long operation. ``step`` starts a named phase; ``detail`` updates it."""

    def step(self, phase: str, message: str) -> None: ...

    def detail(self, message: str, percent: int | None = None) -> None: ...

    def warn(self, message: str) -> None: ...


class NullProgress:
    def step(self, phase: str, message: str) -> None:
        pass

    def detail(self, message: str, percent: int | None = None) -> None:
        pass

    def warn(self, message: str) -> None:
        pass
