"""Auto-stop seen coming on Daytona: `list`/`info` show when a sandbox stops itself, the editor
sidecar warns before the emulator stops it and says when it did, "keep running" postpones it,
and `exec --start` brings a stopped workspace back.

The emulator counts its "minutes" in real minutes here (the default): Nexus reads the deadline
from ``autoStopInterval`` and ``lastActivityAt`` as the real API reports them, in wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sidecar"))
from sidecar_helpers import AUTO_STOP_WARNING, AUTO_STOPPED, start_client

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def _sandbox(emulator: EmulatorThread, backend_id: str) -> Any:
    return next(s for s in emulator.emulator.store.all() if s.id == backend_id)


def _listed(env: NexusEnv, name: str) -> dict[str, Any]:
    result = env.run("workspace", "list", "--json")
    assert result.returncode == 0, result.stderr
    return next(ws for ws in json.loads(result.stdout)["workspaces"] if ws["name"] == name)


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_list_and_info_show_when_a_sandbox_stops_itself(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    created = daytona_env.run(
        "workspace", "create", "idle", "--backend", "daytona", "--auto-stop", "7", "--json"
    )
    assert created.returncode == 0, created.stderr
    backend_id = json.loads(created.stdout)["backendId"]

    listed = _listed(daytona_env, "idle")
    auto_stop = listed["autoStop"]
    sandbox = _sandbox(emulator, backend_id)
    last = datetime.fromisoformat(auto_stop["lastActivityAt"])
    assert auto_stop["minutes"] == 7
    assert abs(last.timestamp() - sandbox.last_activity_at) < 0.01  # the API's own reading
    assert datetime.fromisoformat(auto_stop["stopsAt"]) == last + timedelta(minutes=7)

    table = daytona_env.run("workspace", "list")
    assert "stops in ~7 min" in table.stdout or "stops in ~6 min" in table.stdout, table.stdout
    info = daytona_env.run("workspace", "info", "idle")
    assert "after 7 min without activity" in info.stdout, info.stdout
    assert "running (stops in ~" in info.stdout

    # activity recorded now: the deadline moves with it
    sandbox.last_activity_at -= 120  # as if idle for two minutes
    before = _listed(daytona_env, "idle")["autoStop"]["stopsAt"]
    kept = daytona_env.run("workspace", "keep-running", "idle", "--json")
    assert kept.returncode == 0, kept.stderr
    after = json.loads(kept.stdout)["autoStop"]["stopsAt"]
    assert datetime.fromisoformat(after) - datetime.fromisoformat(before) >= timedelta(minutes=2)

    # never stopping: nothing to show
    emulator.emulator.store.get(backend_id).auto_stop_interval = 0
    assert _listed(daytona_env, "idle")["autoStop"] is None
    assert "stops in" not in daytona_env.run("workspace", "list").stdout

    # a Docker workspace never stops itself, and says so in the same field
    docker = daytona_env.run("workspace", "create", "local", "--json")
    assert docker.returncode == 0, docker.stderr
    assert json.loads(docker.stdout)["autoStop"] is None
    assert _listed(daytona_env, "local")["autoStop"] is None


async def test_the_sidecar_warns_before_the_auto_stop_and_reports_it(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    for key, value in (
        ("backends.daytona.auto_stop_warning_minutes", "0.5"),
        ("backends.daytona.activity_poll_interval", "1"),
    ):
        assert daytona_env.run("config", "set", key, value).returncode == 0
    created = daytona_env.run(
        "workspace", "create", "nap", "--backend", "daytona", "--auto-stop", "1", "--json"
    )
    assert created.returncode == 0, created.stderr
    backend_id = json.loads(created.stdout)["backendId"]

    client = await start_client(daytona_env.env, daytona_env.project)
    state_at_notice: dict[str, str] = {}

    def seen(method: str, params: dict[str, Any]) -> None:
        # what the emulator's sandbox is doing at the moment the editor hears of it
        state_at_notice.setdefault(method, _sandbox(emulator, backend_id).state)

    client.on_auto_stop = seen
    try:
        await _until(
            lambda: any(m == AUTO_STOP_WARNING for m, _ in client.auto_stop_events),
            timeout=90,
            what="the auto-stop warning",
        )
        method, warning = client.auto_stop_events[0]
        assert method == AUTO_STOP_WARNING
        assert warning["name"] == "nap" and warning["backend"] == "daytona"
        assert warning["minutesLeft"] == 1  # at most half a minute left, rounded up
        assert state_at_notice[AUTO_STOP_WARNING] == "started"  # delivered before the stop
        stops_at = datetime.fromisoformat(warning["stopsAt"])
        last = _sandbox(emulator, backend_id).last_activity_at
        assert abs(stops_at.timestamp() - (last + 60)) < 0.01

        # "Keep running": activity recorded through the API, the deadline moves
        kept = await client.request("nexus/workspace/keepRunning", {"name": "nap"})
        assert datetime.fromisoformat(kept["autoStop"]["stopsAt"]) > stops_at
        # the API buffers activity (flushed every 10 s, like the real one) before it counts
        await _until(
            lambda: _sandbox(emulator, backend_id).last_activity_at > last,
            timeout=30,
            what="the API to record the activity",
        )
        assert _sandbox(emulator, backend_id).state == "started"

        await _until(
            lambda: any(m == AUTO_STOPPED for m, _ in client.auto_stop_events),
            timeout=150,
            what="the auto-stopped notice",
        )
        stopped = next(p for m, p in client.auto_stop_events if m == AUTO_STOPPED)
        assert stopped == {"name": "nap", "backend": "daytona", "minutes": 1}
        assert _sandbox(emulator, backend_id).state == "stopped"
        # after "keep running" the approach of the new deadline was warned again, once
        warnings = [p for m, p in client.auto_stop_events if m == AUTO_STOP_WARNING]
        assert len(warnings) == 2
        assert datetime.fromisoformat(warnings[1]["stopsAt"]) > stops_at
    finally:
        with contextlib.suppress(Exception):
            await client.shutdown_session()
        await client.stop()

    # the CLI says what happened and offers --start; --start brings it back
    refused = daytona_env.run("workspace", "exec", "nap", "--", "true")
    assert refused.returncode == 255
    assert "DAYTONA_SANDBOX_STOPPED" in refused.stderr and "--start" in refused.stderr
    started = daytona_env.run("workspace", "exec", "nap", "--start", "--", "echo", "back")
    assert started.returncode == 0, started.stderr
    assert started.stdout == "back\n"
    assert _sandbox(emulator, backend_id).state == "started"
    assert _listed(daytona_env, "nap")["status"] == "running"
