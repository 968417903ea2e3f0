"""`nexus usage` and the budget on the Docker backend, driven through the CLI as a user does."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from nexus.store import StateStore
from tests.conftest import NexusEnv

CPU_HOUR = 3600.0  # 1 per CPU-second: small intervals give visible costs
MEMORY_GB_HOUR = 360.0
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def timed(env: NexusEnv, *args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    begin = time.time()
    result = ok(env.run(*args))
    return begin, time.time(), result


def usage(env: NexusEnv, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(env.run("usage", "--json", *args)).stdout)
    return data


def row_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [w for w in report["workspaces"] if w["name"] == name]
    (row,) = rows
    return row


@pytest.mark.usefixtures("docker_engine")
def test_usage_follows_the_transitions_and_the_budget_guards_start(nexus_env: NexusEnv) -> None:
    env = nexus_env
    ok(env.run("config", "set", "backends.docker.rates.cpu_hour", str(CPU_HOUR)))
    ok(env.run("config", "set", "backends.docker.rates.memory_gb_hour", str(MEMORY_GB_HOUR)))
    create_begin, create_end, created = timed(
        env, "workspace", "create", "meter", "--cpu", "1", "--memory", "1", "--json"
    )
    stop1_begin, stop1_end, _ = timed(env, "workspace", "stop", "meter", "--json")
    start_begin, start_end, _ = timed(env, "workspace", "start", "meter", "--json")
    stop2_begin, stop2_end, _ = timed(env, "workspace", "stop", "meter", "--json")

    report = usage(env)
    row = row_of(report, "meter")
    assert row["backend"] == "docker"
    assert row["status"] == "stopped"
    running = row["runningHours"] * 3600
    lower = (stop1_begin - create_end) + (stop2_begin - start_end)
    upper = (stop1_end - create_begin) + (stop2_end - start_begin)
    assert lower <= running <= upper
    assert row["cpuHours"] == pytest.approx(row["runningHours"])  # 1 CPU
    assert row["memoryGbHours"] == pytest.approx(row["runningHours"])  # 1 GB
    assert row["unknown"] == ["disk"]  # no --disk: shown as unknown, counted as 0
    assert row["diskGbHours"] == 0
    assert row["cost"] == pytest.approx(
        row["cpuHours"] * CPU_HOUR + row["memoryGbHours"] * MEMORY_GB_HOUR
    )
    (total,) = report["backends"]
    assert total["backend"] == "docker" and total["cost"] == pytest.approx(row["cost"])
    month = report["month"]
    assert month["cost"] == pytest.approx(row["cost"])
    assert month["forecast"] == pytest.approx(month["cost"])  # stopped, no known disk
    assert report["budget"]["state"] == "none"
    assert usage(env, "--workspace", "other")["workspaces"] == []
    table = ok(env.run("usage")).stdout
    assert "meter" in table and "unknown" in table and "Budget: none set" in table

    # the month's cost is twice the budget: start refuses, unless over budget
    spent = report["month"]["cost"]
    ok(env.run("config", "set", "budget.monthly", repr(spent / 2)))
    refused = env.run("workspace", "start", "meter", "--json")
    assert refused.returncode != 0
    assert json.loads(refused.stdout)["error"]["code"] == "BUDGET_EXCEEDED"
    assert (
        json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"][0]["status"]
        == "stopped"
    )
    plain = env.run("workspace", "start", "meter")
    assert plain.returncode != 0 and "--over-budget" in plain.stderr
    started = ok(env.run("workspace", "start", "meter", "--over-budget", "--json"))
    assert json.loads(started.stdout)["status"] == "running"
    assert "over the budget" in started.stderr
    ok(env.run("workspace", "stop", "meter"))

    # at 90 % of the budget start goes ahead with a warning
    spent = usage(env)["month"]["cost"]
    ok(env.run("config", "set", "budget.monthly", repr(spent / 0.9)))
    assert usage(env)["budget"]["state"] == "warn"
    warned = ok(env.run("workspace", "start", "meter", "--json"))
    assert json.loads(warned.stdout)["status"] == "running"
    assert "90 % of the monthly budget" in warned.stderr

    # stopped behind Nexus's back: the next list observes it, and the history records it
    container = json.loads(created.stdout)["backendId"]
    subprocess.run(["docker", "stop", "-t", "1", container], check=True, capture_output=True)
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)
    assert listed["workspaces"][0]["status"] == "stopped"
    store = StateStore(env.nexus_home / "state.db")
    try:
        statuses = [t.status for t in store.transitions(EPOCH) if t.workspace == "meter"]
    finally:
        store.close()
    assert statuses[-2:] == ["running", "stopped"]  # no "stopping": Nexus did not stop it
    assert row_of(usage(env), "meter")["status"] == "stopped"
    ok(env.run("workspace", "delete", "meter", "--force"))
    report = usage(env)
    assert row_of(report, "meter")["status"] == "deleted"  # its hours stay in the month
