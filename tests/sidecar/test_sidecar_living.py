"""nexus/usage, nexus/doctor, nexus/workspace/migrate and the budget notification, over the
sidecar against a real Docker workspace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from sidecar_helpers import SidecarClient, eventually, start_client

from conftest import NexusHome, _stop

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

BUDGET_DID_CHANGE = "nexus/budget/didChange"


class BudgetClient(SidecarClient):
    def __init__(self) -> None:
        super().__init__()
        self.budget_events: list[dict[str, Any]] = []

        @self.feature(BUDGET_DID_CHANGE)
        def _budget(params: dict[str, Any]) -> None:
            self.budget_events.append(params)


def _configure(home: NexusHome, extra: str) -> None:
    config = home.nexus_home / "config.yaml"
    config.write_text(config.read_text() + extra)


async def test_budget_crossed_is_notified_and_start_refused_until_over_budget(
    nexus_home: NexusHome,
) -> None:
    # a CPU-second of this engine costs 1 USD: a budget of 3 USD is gone in a few seconds
    _configure(
        nexus_home,
        "    rates: {cpu_hour: 3600}\nbudget:\n  monthly: 3\n",
    )
    client = BudgetClient()
    await start_client(nexus_home.env, nexus_home.source, client)
    try:
        created = await client.request(
            "nexus/workspace/create",
            {"name": "spend", "cpu": 1, "sourcePath": str(nexus_home.source), "worktree": False},
        )
        assert created["status"] == "running"
        await asyncio.sleep(4)  # ~4 USD: over the budget
        await client.request("nexus/workspace/stop", {"name": "spend"})
        event = await eventually(
            lambda: next((e for e in client.budget_events if e["state"] == "exceeded"), None),
            what="the budget notification",
        )
        assert event["monthly"] == 3 and event["currency"] == "USD"
        assert event["usedPercent"] >= 100 and event["cost"] >= 3
        assert event["previousState"] in ("ok", "warn")

        with pytest.raises(JsonRpcException) as refused:
            await client.request("nexus/workspace/start", {"name": "spend"})
        assert "BUDGET_EXCEEDED" in str(refused.value.data)
        started = await client.request(
            "nexus/workspace/start", {"name": "spend", "overBudget": True}
        )
        assert started["status"] == "running"

        report = await client.request("nexus/usage", {})
        (row,) = [w for w in report["workspaces"] if w["name"] == "spend"]
        assert row["backend"] == "docker" and row["runningHours"] * 3600 >= 4
        assert row["cost"] == pytest.approx(row["cpuHours"] * 3600)
        assert report["budget"]["state"] == "exceeded"
        assert len([e for e in client.budget_events if e["state"] == "exceeded"]) == 1
    finally:
        await _stop(client)


async def test_doctor_and_migrate_over_the_sidecar(nexus_home: NexusHome) -> None:
    (nexus_home.source / "notes.txt").write_text("carried over\n")
    client = await start_client(nexus_home.env, nexus_home.source)
    try:
        await client.request(
            "nexus/workspace/create",
            {"name": "orig", "sourcePath": str(nexus_home.source), "worktree": False},
        )
        report = await client.request("nexus/doctor", {"offline": True})
        codes = {f["code"]: f for f in report["findings"]}
        assert all(f["severity"] in ("ok", "warning", "error") for f in report["findings"])
        assert not [f for f in report["findings"] if f["severity"] == "error"], report

        moved = await client.request(
            "nexus/workspace/migrate",
            {"name": "orig", "toBackend": "docker", "newName": "copy"},
        )
        assert moved["workspace"]["name"] == "copy" and moved["verified"] is True
        assert moved["source"] == {"name": "orig", "backend": "docker", "stopped": True}
        result = await client.request(
            "nexus/workspace/exec", {"name": "copy", "command": ["cat", "notes.txt"]}
        )
        assert result["stdout"] == "carried over\n"
        assert codes  # doctor said what it checked
    finally:
        await _stop(client)
