"""nexus/workspace/delete over the sidecar when the engine cannot be reached: the record is kept,
and ``forget`` drops it while answering what it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from pygls.exceptions import JsonRpcException
from sidecar_helpers import start_client

from conftest import NexusHome, _stop

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

NEXUS_CLI = str(Path(sys.executable).parent / "nexus")


async def test_forget_reports_the_container_left_behind(nexus_home: NexusHome) -> None:
    created = subprocess.run(
        [NEXUS_CLI, "workspace", "create", "paid", "--json"],
        cwd=nexus_home.source,
        env=nexus_home.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert created.returncode == 0, created.stderr
    container_id = json.loads(created.stdout)["backendId"]

    # this sidecar's engine does not answer
    lsp = await start_client(
        dict(nexus_home.env, DOCKER_HOST="tcp://127.0.0.1:9"), nexus_home.source
    )
    try:
        with pytest.raises(JsonRpcException) as refused:
            await lsp.request("nexus/workspace/delete", {"name": "paid", "force": True})
        assert refused.value.data["code"] == "DOCKER_UNAVAILABLE"
        # the service names the option, never a CLI flag (an editor user reads it)
        resolution = refused.value.data["resolution"]
        assert "with forget" in resolution and "--" not in resolution
        listed = await lsp.request("nexus/workspace/list", {"refresh": False})
        assert [ws["name"] for ws in listed["workspaces"]] == ["paid"]

        answer = await lsp.request("nexus/workspace/delete", {"name": "paid", "forget": True})
        [left] = answer["leftBehind"]
        assert left["id"] == container_id and left["command"] == f"docker rm -f {container_id}"
        assert (await lsp.request("nexus/workspace/list", {"refresh": False})) == {"workspaces": []}
    finally:
        await _stop(lsp)
    client = docker.from_env()
    try:
        assert client.containers.get(container_id).status == "running"  # left, as reported
    finally:
        client.close()
