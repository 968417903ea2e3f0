"""The Daytona gateway's host key: pinned at create, pinned again on first contact if lost."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from tests.conftest import NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def _host_key(env: NexusEnv, name: str) -> str | None:
    db = sqlite3.connect(env.nexus_home / "state.db")
    try:
        row = db.execute("SELECT host_key FROM workspaces WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def test_lost_gateway_host_key_is_pinned_again_on_first_contact(daytona_env: NexusEnv) -> None:
    ok(daytona_env.run("workspace", "create", "gw", "--backend", "daytona"))
    pinned = _host_key(daytona_env, "gw")
    assert pinned and pinned.startswith("ssh-")
    db = sqlite3.connect(daytona_env.nexus_home / "state.db")
    try:
        with db:
            db.execute("UPDATE workspaces SET host_key = NULL WHERE name = 'gw'")
    finally:
        db.close()
    executed = ok(daytona_env.run("workspace", "exec", "gw", "--", "echo", "through"))
    assert executed.stdout == "through\n"
    repinned = _host_key(daytona_env, "gw")
    assert repinned is not None and repinned.split()[:2] == pinned.split()[:2]
    known_hosts = (daytona_env.nexus_home / "ssh" / "known_hosts").read_text()
    assert pinned.split()[1] in known_hosts
    ok(daytona_env.run("workspace", "delete", "gw"))
