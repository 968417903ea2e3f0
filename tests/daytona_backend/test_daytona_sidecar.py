"""The sidecar on the Daytona backend: create with Daytona options, connection info renews tokens."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sidecar"))
from sidecar_helpers import start_client

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


async def test_sidecar_creates_on_daytona_and_hands_out_fresh_tokens(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    client = await start_client(daytona_env.env, daytona_env.project)
    try:
        created = await client.request(
            "nexus/workspace/create",
            {
                "name": "side",
                "backend": "daytona",
                "autoStop": 0,
                "env": {"GREETING": "hello"},
                "labels": {"via": "sidecar"},
            },
        )
        assert created["backend"] == "daytona" and created["status"] == "running"
        assert created["sshUser"] is None
        sandbox = next(s for s in emulator.emulator.store.all() if s.id == created["backendId"])
        assert sandbox.auto_stop_interval == 0 and sandbox.env.get("GREETING") == "hello"

        first = await client.request("nexus/workspace/connectionInfo", {"name": "side"})
        assert first["uri"] == f"vscode-remote://ssh-remote+nexus-side{created['remotePath']}"
        # the token expires early on the server: the next hand-out must still work
        emulator.expire_ssh_tokens(created["backendId"])
        result = await client.request(
            "nexus/workspace/exec", {"name": "side", "command": ["echo", "still", "here"]}
        )
        assert result == {"exitCode": 0, "stdout": "still here\n", "stderr": ""}
        second = await client.request("nexus/workspace/connectionInfo", {"name": "side"})
        assert second["user"] != first["user"]
        via_ssh = subprocess.run(
            ["ssh", "-F", second["sshConfigPath"], "-o", "BatchMode=yes", "nexus-side", "true"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert via_ssh.returncode == 0, via_ssh.stderr
        await client.request("nexus/workspace/delete", {"name": "side"})
    finally:
        with contextlib.suppress(Exception):
            await client.shutdown_session()
        await client.stop()
