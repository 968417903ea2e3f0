"""The SQLite state store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .db import StateStore

__all__ = ["StateStore"]


def __getattr__(name: str) -> Any:
    if name == "StateStore":  # imported on first use: ``nexus.store.peek`` needs none of it
        from .db import StateStore

        return StateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
