"""The sync tests run the real Mutagen (scripts/setup.sh puts it in the venv's bin)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MUTAGEN_BIN, NexusEnv
from tests.e2e.test_docker_cli import ok


@pytest.fixture
def sync_env(nexus_env: NexusEnv) -> NexusEnv:
    if not MUTAGEN_BIN.exists():
        pytest.fail(
            f"no Mutagen at {MUTAGEN_BIN}: run scripts/setup.sh (MUTAGEN_DIR names its folder)",
            pytrace=False,
        )
    nexus_env.env["NEXUS_MUTAGEN"] = str(MUTAGEN_BIN)
    return nexus_env


def sync_json(env: NexusEnv, *args: str) -> dict[str, Any]:
    """`nexus sync ARGS --json` (it must succeed): the one workspace's report."""
    done = ok(env.run("sync", *args, "--json"))
    reports = json.loads(done.stdout)["workspaces"]
    assert len(reports) == 1, reports
    return dict(reports[0])


def session_of(env: NexusEnv, name: str) -> dict[str, Any]:
    report = sync_json(env, "status", name)
    assert len(report["sessions"]) == 1, report
    return dict(report["sessions"][0])


def settled(env: NexusEnv, name: str) -> dict[str, Any]:
    """The session once Mutagen is between cycles: right after a flush it may already be
    scanning again (its watcher saw what the cycle wrote)."""
    for _ in range(240):
        session = session_of(env, name)
        if session["state"] not in ("syncing", "connecting"):
            return session
        time.sleep(0.25)
    raise AssertionError(f"the sync of {name} never settled: {session}")


def remote(env: NexusEnv, name: str, script: str) -> subprocess.CompletedProcess[str]:
    return env.run("workspace", "exec", name, "--", "sh", "-c", script)


def remote_text(env: NexusEnv, name: str, path: str) -> str | None:
    done = remote(env, name, f"cat {path}")
    return done.stdout if done.returncode == 0 else None


def daemon_pids(nexus_home: Path) -> list[int]:
    """The Mutagen daemons running with this Nexus home's data folder."""
    data = os.path.realpath(nexus_home / "sync" / "mutagen")
    prefix = b"MUTAGEN_DATA_DIRECTORY="
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        named = [v.removeprefix(prefix) for v in environ if v.startswith(prefix)]
        # the folder itself, or the short link Nexus makes when its path is too long
        if b"daemon" in cmdline and any(os.path.realpath(os.fsdecode(v)) == data for v in named):
            found.append(int(entry.name))
    return found


def kill_daemon(nexus_home: Path) -> None:
    pids = daemon_pids(nexus_home)
    assert pids, "no Mutagen daemon of this Nexus home runs"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
