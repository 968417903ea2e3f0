"""The `nexus usage` command on a recorded history (no engine: nothing is recorded to refresh)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexus.cli.usage_cmd import usage_app
from nexus.domain.errors import ErrorCode, NexusError
from nexus.paths import NexusPaths
from nexus.store import StateStore

from .helpers import insert_transition, write_config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "nexus"
    monkeypatch.setenv("NEXUS_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path))
    db = NexusPaths(home).state_db
    StateStore(db).close()
    now = datetime.now(UTC)
    insert_transition(db, "api", "running", now - timedelta(hours=5), cpu=2, memory_gb=4, disk_gb=20)  # fmt: skip
    insert_transition(db, "api", "stopped", now - timedelta(hours=2), cpu=2, memory_gb=4, disk_gb=20)  # fmt: skip
    insert_transition(db, "gone", "running", now - timedelta(days=20), backend="docker")
    insert_transition(db, "gone", "deleted", now - timedelta(days=10), backend="docker")
    insert_transition(db, "local", "running", now - timedelta(hours=1), backend="docker")
    write_config(home, budget={"monthly": 1000})
    return home


def test_json(home: Path) -> None:
    result = CliRunner().invoke(usage_app, ["--since", "24h", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["workspaces"]}
    assert set(rows) == {"api", "local"}  # "gone" was deleted before the window
    assert rows["api"]["runningHours"] == pytest.approx(3)
    assert rows["api"]["diskGbHours"] == pytest.approx(20 * 5, rel=1e-3)
    assert rows["local"]["unknown"] == ["cpu", "memory", "disk"]
    assert [b["backend"] for b in report["backends"]] == ["daytona", "docker"]
    assert report["budget"]["state"] == "ok" and report["estimate"] is True
    only = json.loads(CliRunner().invoke(usage_app, ["--workspace", "api", "--json"]).stdout)
    assert [row["name"] for row in only["workspaces"]] == ["api"]


def test_table(home: Path) -> None:
    result = CliRunner().invoke(usage_app, ["--since", "24h"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (local,) = [line for line in lines if line.startswith("local")]
    assert local.split()[:4] == ["local", "docker", "running", "1.00"]
    assert "unknown" in local
    assert any(line.startswith("Budget: 1000.00 USD a month") for line in lines)


def test_a_bad_window_is_refused(home: Path) -> None:
    result = CliRunner().invoke(usage_app, ["--since", "soon", "--json"])
    assert isinstance(result.exception, NexusError)  # the entry point prints it with its code
    assert result.exception.code == ErrorCode.INVALID_ARGUMENT
