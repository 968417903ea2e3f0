"""Transitions written at chosen times, and config files, for the usage tests."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import yaml


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def insert_transition(
    db: Path,
    workspace: str,
    status: str,
    at: datetime,
    *,
    backend: str = "daytona",
    cpu: float | None = None,
    memory_gb: float | None = None,
    disk_gb: float | None = None,
) -> None:
    """A transition as the store records it, at ``at`` instead of now."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT INTO transitions (workspace, backend, status, at, cpu, memory_gb, disk_gb) "
            "VALUES (?,?,?,?,?,?,?)",
            (workspace, backend, status, stamp(at), cpu, memory_gb, disk_gb),
        )
        conn.commit()
    finally:
        conn.close()


def write_config(home: Path, **sections: object) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(yaml.safe_dump({"version": "2", **sections}))
