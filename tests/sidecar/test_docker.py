"""End to end against a real Docker engine: lifecycle, other processes, cancellation, concurrency."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from pygls.exceptions import JsonRpcException
from sidecar_helpers import DockerGate, SidecarClient, eventually

from conftest import NexusHome

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

GateFactory = Callable[[str], Awaitable[tuple[DockerGate, SidecarClient]]]
NEXUS_CLI = str(Path(sys.executable).parent / "nexus")


def containers_of(home: NexusHome) -> list[Any]:
    client = docker.from_env()
    try:
        return list(
            client.containers.list(
                all=True, filters={"label": f"nexus.installation={home.installation_id}"}
            )
        )
    finally:
        client.close()


def assert_nothing_left(home: NexusHome, name: str) -> None:
    assert containers_of(home) == []
    store = home.store()
    try:
        assert store.find(name) is None
    finally:
        store.close()
    with sqlite3.connect(home.state_db) as db:
        assert db.execute("SELECT COUNT(*) FROM ports").fetchone()[0] == 0
    config = home.ssh_config.read_text() if home.ssh_config.exists() else ""
    assert f"Host nexus-{name}" not in config
    assert not (home.nexus_home / "ssh" / "host_keys" / f"{name}_ed25519").exists()


def create_params(home: NexusHome, name: str, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "sourcePath": str(home.source)}
    if token:
        params["workDoneToken"] = token
    return params


async def test_lifecycle(client: SidecarClient, nexus_home: NexusHome) -> None:
    client.progress_reports["create"] = []
    created = await client.request(
        "nexus/workspace/create", create_params(nexus_home, "demo", "create")
    )
    assert created["name"] == "demo" and created["status"] == "running"
    assert created["sshAlias"] == "nexus-demo" and created["sshPort"]
    assert created["localPath"] == str(nexus_home.source)
    kinds = client.progress_kinds("create")
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    messages = [r.message for r in client.progress_reports["create"] if r.kind == "report"]
    assert any("SSH" in m for m in messages)
    assert client.progress_reports["create"][-1].message == "Done"
    await eventually(
        lambda: any(
            e["workspace"] and e["workspace"]["status"] == "running"
            for e in client.events_for("demo")
        ),
        what="didChangeState running",
    )

    listed = await client.request("nexus/workspace/list", {})
    assert [ws["name"] for ws in listed["workspaces"]] == ["demo"]
    assert listed["workspaces"][0]["status"] == "running"

    info = await client.request("nexus/workspace/get", {"name": "demo"})
    assert info["status"] == "running" and info["sshHost"] == "127.0.0.1"
    assert info["capabilities"]["supportsSsh"] is True
    assert "stats" in info

    client.progress_reports["exec"] = []
    result = await client.request(
        "nexus/workspace/exec",
        {
            "name": "demo",
            "command": ["sh", "-c", "cat README.md; echo oops >&2; exit 3"],
            "outputId": "out-1",
            "workDoneToken": "exec",
        },
    )
    assert result == {"exitCode": 3, "stdout": "hello from the host\n", "stderr": "oops\n"}
    streamed = {
        stream: "".join(o["text"] for o in client.outputs if o["stream"] == stream)
        for stream in ("stdout", "stderr")
    }
    assert streamed == {"stdout": "hello from the host\n", "stderr": "oops\n"}
    assert all(o["outputId"] == "out-1" for o in client.outputs)
    assert client.progress_kinds("exec")[0] == "begin"
    assert client.progress_kinds("exec")[-1] == "end"

    client.progress_reports["stop"] = []
    stopped = await client.request(
        "nexus/workspace/stop", {"name": "demo", "workDoneToken": "stop"}
    )
    assert stopped["status"] == "stopped"
    assert client.progress_kinds("stop")[0] == "begin"
    assert client.progress_kinds("stop")[-1] == "end"
    with pytest.raises(JsonRpcException) as not_running:
        await client.request("nexus/workspace/exec", {"name": "demo", "command": ["true"]})
    assert not_running.value.data["code"] == "WORKSPACE_NOT_RUNNING"

    client.progress_reports["start"] = []
    started = await client.request(
        "nexus/workspace/start", {"name": "demo", "workDoneToken": "start"}
    )
    assert started["status"] == "running"
    assert client.progress_kinds("start")[-1] == "end"
    again = await client.request("nexus/workspace/exec", {"name": "demo", "command": ["hostname"]})
    assert again == {"exitCode": 0, "stdout": "demo\n", "stderr": ""}

    client.progress_reports["delete"] = []
    deleted = await client.request(
        "nexus/workspace/delete", {"name": "demo", "workDoneToken": "delete"}
    )
    assert deleted is None
    assert client.progress_kinds("delete")[-1] == "end"
    await eventually(
        lambda: any(e["deleted"] for e in client.events_for("demo")), what="didChangeState deleted"
    )
    assert (await client.request("nexus/workspace/list", {}))["workspaces"] == []
    assert_nothing_left(nexus_home, "demo")


async def test_cli_changes_reach_the_client(client: SidecarClient, nexus_home: NexusHome) -> None:
    async def cli(*args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            NEXUS_CLI,
            "workspace",
            *args,
            env=nexus_home.env,
            cwd=nexus_home.source,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()

    await client.request("nexus/workspace/list", {})
    await cli("create", "fromcli")
    event = await eventually(
        lambda: [
            e
            for e in client.events_for("fromcli")
            if e["workspace"] and e["workspace"]["status"] == "running"
        ],
        what="didChangeState for the CLI's create",
    )
    workspace = event[-1]["workspace"]
    assert workspace["sshPort"] and workspace["backendId"]
    assert set(workspace) >= {"name", "backend", "status", "sshAlias", "createdAt", "updatedAt"}

    await cli("delete", "fromcli")
    gone = await eventually(
        lambda: [e for e in client.events_for("fromcli") if e["deleted"]],
        what="didChangeState for the CLI's delete",
    )
    assert gone[-1]["workspace"] is None
    assert gone[-1]["previousStatus"] in {"running", "deleting"}


@pytest.mark.parametrize(
    "held", [r"^POST /[^ ]*/containers/create", r"^POST /[^ ]*/containers/[^/ ]+/start"]
)
async def test_cancelled_create_leaves_nothing(
    gate_factory: GateFactory, nexus_home: NexusHome, held: str
) -> None:
    gate, client = await gate_factory(held)
    client.progress_reports["c"] = []
    pending = client.start_request(
        "nexus/workspace/create", create_params(nexus_home, "doomed", "c"), "create-1"
    )
    await asyncio.wait_for(gate.hit.wait(), 60)  # the engine call is in flight, held
    client.cancel("create-1")
    await asyncio.sleep(0.2)  # let the cancel arrive, then let the held call finish
    gate.release()
    with pytest.raises(JsonRpcException) as cancelled:
        await asyncio.wait_for(pending, 60)
    assert cancelled.value.code == -32800
    assert client.progress_kinds("c")[-1] == "end"
    assert client.progress_reports["c"][-1].message == "Cancelled"
    assert_nothing_left(nexus_home, "doomed")
    assert (await client.request("nexus/workspace/list", {}))["workspaces"] == []
    # the name is free again
    again = await client.request("nexus/workspace/create", create_params(nexus_home, "doomed"))
    assert again["status"] == "running"


async def test_list_answers_while_a_create_is_in_flight(
    gate_factory: GateFactory, nexus_home: NexusHome
) -> None:
    gate, client = await gate_factory(r"^POST /[^ ]*/containers/[^/ ]+/start")
    creating = client.start_request(
        "nexus/workspace/create", create_params(nexus_home, "slow"), "create-slow"
    )
    await asyncio.wait_for(gate.hit.wait(), 60)
    listed = await asyncio.wait_for(client.request("nexus/workspace/list", {}), 60)
    info = await asyncio.wait_for(client.request("nexus/workspace/get", {"name": "slow"}), 60)
    caps = await client.request("nexus/backend/capabilities", {"backend": "docker"})
    assert not creating.done()  # answered while the create is still held in the engine
    assert [(w["name"], w["status"]) for w in listed["workspaces"]] == [("slow", "creating")]
    assert info["status"] == "creating" and caps["supportsSsh"]
    gate.release()
    created = await asyncio.wait_for(creating, 60)
    assert created["status"] == "running"


async def test_exec_can_be_cancelled(client: SidecarClient, nexus_home: NexusHome) -> None:
    await client.request("nexus/workspace/create", create_params(nexus_home, "sleepy"))
    running = client.start_request(
        "nexus/workspace/exec",
        {"name": "sleepy", "command": ["sh", "-c", "echo started; sleep 300"], "outputId": "o"},
        "exec-1",
    )
    await eventually(lambda: client.outputs, what="output of the running command")
    client.cancel("exec-1")
    with pytest.raises(JsonRpcException) as cancelled:
        await asyncio.wait_for(running, 60)
    assert cancelled.value.code == -32800
    after = await client.request("nexus/workspace/exec", {"name": "sleepy", "command": ["true"]})
    assert after["exitCode"] == 0


async def test_connection_info_and_open(client: SidecarClient, nexus_home: NexusHome) -> None:
    await client.request("nexus/workspace/create", create_params(nexus_home, "remote"))
    info = await client.request("nexus/workspace/connectionInfo", {"name": "remote"})
    assert info["alias"] == "nexus-remote"
    assert info["authority"] == "ssh-remote+nexus-remote"
    assert info["uri"] == "vscode-remote://ssh-remote+nexus-remote/workspace"
    assert info["remotePath"] == "/workspace" and info["port"] and info["user"]
    assert "nexus-remote" in info["sshCommand"]
    assert "Host nexus-remote" in Path(info["sshConfigPath"]).read_text()
    default = await client.request("nexus/workspace/open", {"name": "remote", "ide": "cursor"})
    assert default["mode"] in {"remote-ssh", "local"}  # config workspace.ide_mode.docker
    target = await client.request("nexus/workspace/open", {"name": "remote", "mode": "remote-ssh"})
    assert target == {
        "mode": "remote-ssh",
        "uri": "vscode-remote://ssh-remote+nexus-remote/workspace",
        "localPath": str(nexus_home.source),
    }
    sub = await client.request(
        "nexus/workspace/open", {"name": "remote", "path": "/workspace/src", "mode": "remote-ssh"}
    )
    assert sub["uri"] == "vscode-remote://ssh-remote+nexus-remote/workspace/src"
    local = await client.request("nexus/workspace/open", {"name": "remote", "mode": "local"})
    assert local == {
        "mode": "local",
        "uri": nexus_home.source.as_uri(),
        "localPath": str(nexus_home.source),
    }
    with pytest.raises(JsonRpcException) as bad_mode:
        await client.request("nexus/workspace/open", {"name": "remote", "mode": "telepathy"})
    assert bad_mode.value.code == -32602 and "mode" in bad_mode.value.message


async def test_shutdown_cancels_a_create_and_cleans_up(
    gate_factory: GateFactory, nexus_home: NexusHome
) -> None:
    gate, client = await gate_factory(r"^POST /[^ ]*/containers/[^/ ]+/start")
    pending = client.start_request(
        "nexus/workspace/create", create_params(nexus_home, "interrupted"), "create-2"
    )
    await asyncio.wait_for(gate.hit.wait(), 60)
    shutting_down = asyncio.ensure_future(client.shutdown_async(None))
    await asyncio.sleep(0.2)  # the shutdown is waiting for the create's cleanup
    gate.release()
    await asyncio.wait_for(shutting_down, 60)
    with pytest.raises(JsonRpcException) as cancelled:
        await asyncio.wait_for(pending, 60)
    assert cancelled.value.code == -32800
    assert_nothing_left(nexus_home, "interrupted")
    client.exit(None)
    assert client._server is not None
    assert await asyncio.wait_for(client._server.wait(), 30) == 0
    client.capabilities = None  # already shut down: the fixture has nothing left to do
