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


async def test_sidecar_opens_lists_and_closes_a_preview(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    """nexus/preview/open gives a local URL the browser needs no token for; it is listed, the
    same port again gives the same preview, close ends it, and the workspace's stop ends any."""
    import httpx
    from pygls.exceptions import JsonRpcException

    client = await start_client(daytona_env.env, daytona_env.project)
    try:
        await client.request("nexus/workspace/create", {"name": "pv", "backend": "daytona"})
        serve = (
            "mkdir -p site && echo sidecar-preview > site/index.html && cd site && "
            "(nohup python3 -m http.server 8124 --bind 127.0.0.1 </dev/null >/dev/null 2>&1 &)"
        )
        await client.request("nexus/workspace/exec", {"name": "pv", "command": [serve]})
        opened: dict[str, object] = {}
        for _ in range(100):  # the server in the sandbox takes a moment to listen
            try:
                opened = await client.request(
                    "nexus/preview/open", {"workspace": "pv", "port": 8124}
                )
                break
            except JsonRpcException as error:
                assert error.data["code"] == "PREVIEW_UNREACHABLE", error.data
        assert opened["started"] is True
        url = str(opened["localUrl"])
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            page = await http.get(f"{url}/index.html")
        assert page.status_code == 200 and page.text == "sidecar-preview\n"

        again = await client.request("nexus/preview/open", {"workspace": "pv", "port": 8124})
        assert again["started"] is False and again["localUrl"] == url
        listed = await client.request("nexus/preview/list", {"workspace": "pv"})
        assert [(p["port"], p["url"]) for p in listed["previews"]] == [(8124, url)]

        closed = await client.request("nexus/preview/close", {"workspace": "pv", "port": 8124})
        assert closed["closed"] is True
        assert (await client.request("nexus/preview/list", {}))["previews"] == []
        with pytest.raises(JsonRpcException) as missing:
            await client.request("nexus/preview/close", {"workspace": "pv", "port": 8124})
        assert missing.value.data["code"] == "PREVIEW_NOT_FOUND"

        # a preview left open ends with the workspace's stop
        await client.request("nexus/preview/open", {"workspace": "pv", "port": 8124})
        await client.request("nexus/workspace/stop", {"name": "pv"})
        assert (await client.request("nexus/preview/list", {}))["previews"] == []
        await client.request("nexus/workspace/delete", {"name": "pv"})
    finally:
        with contextlib.suppress(Exception):
            await client.shutdown_session()
        await client.stop()
