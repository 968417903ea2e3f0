"""The SQLite state store."""

from .db import StateStore

__all__ = ["StateStore"]
