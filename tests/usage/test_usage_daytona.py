"""`nexus usage` on the Daytona backend (the emulator) with Daytona's default rates."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from nexus.config.schema import DaytonaSettings
from tests.conftest import NexusEnv

from .test_usage_docker import row_of, timed, usage

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def test_daytona_hours_and_cost_at_the_default_rates(daytona_env: NexusEnv) -> None:
    env = daytona_env
    rates = DaytonaSettings().rates
    create_begin, create_end, _ = timed(
        env, "workspace", "create", "billed", "--backend", "daytona",
        "--cpu", "2", "--memory", "4", "--disk", "20", "--json",
    )  # fmt: skip
    stop1_begin, stop1_end, _ = timed(env, "workspace", "stop", "billed", "--json")
    start_begin, start_end, _ = timed(env, "workspace", "start", "billed", "--json")
    stop2_begin, stop2_end, _ = timed(env, "workspace", "stop", "billed", "--json")
    usage_begin = time.time()
    report = usage(env, "--since", "24h")
    usage_end = time.time()

    row = row_of(report, "billed")
    assert (row["backend"], row["status"], row["unknown"]) == ("daytona", "stopped", [])
    running = row["runningHours"] * 3600
    assert (stop1_begin - create_end) + (stop2_begin - start_end) <= running
    assert running <= (stop1_end - create_begin) + (stop2_end - start_begin)
    assert row["cpuHours"] == pytest.approx(2 * row["runningHours"])
    assert row["memoryGbHours"] == pytest.approx(4 * row["runningHours"])
    # the disk costs from create on, stopped or not
    existed = row["diskGbHours"] * 3600 / 20
    assert usage_begin - create_end <= existed <= usage_end - create_begin
    assert row["cost"] == pytest.approx(
        row["cpuHours"] * rates.cpu_hour
        + row["memoryGbHours"] * rates.memory_gb_hour
        + row["diskGbHours"] * rates.disk_gb_hour
    )
    assert row["currency"] == "USD" and row["cost"] > 0
    # to the end of the month the stopped sandbox's disk keeps costing
    month = report["month"]
    left = datetime.fromisoformat(month["end"]) - datetime.fromisoformat(report["until"])
    assert month["forecast"] - month["cost"] == pytest.approx(
        left.total_seconds() / 3600 * 20 * rates.disk_gb_hour
    )
