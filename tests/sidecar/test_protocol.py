"""The protocol layer without an engine: lifecycle, errors, config, robustness, store watching."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException
from sidecar_helpers import SERVER_COMMAND, RawClient, SidecarClient, eventually

from conftest import NexusHome
from nexus.domain.models import BackendType, Workspace, WorkspaceStatus


async def _error(client: SidecarClient, method: str, params: object) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as caught:
        await client.request(method, params)
    return caught.value


async def test_initialize_reports_server_and_logs(client: SidecarClient) -> None:
    result = await client.request("nexus/workspace/list", {})
    assert result == {"workspaces": []}
    # logLevel "debug" was asked for: the handlers' debug lines reach window/logMessage
    await eventually(
        lambda: any("nexus/workspace/list" in m.message for m in client.log_messages),
        what="a debug log line",
    )


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("nexus/workspace/get", {}, "name"),
        ("nexus/workspace/get", {"name": 42}, "name"),
        ("nexus/workspace/list", {"backend": "kubernetes"}, "backend"),
        ("nexus/workspace/create", {"name": "a", "cpu": "lots"}, "cpu"),
        ("nexus/workspace/create", {"name": "a", "labels": {"x": 1}}, "labels.x"),
        ("nexus/workspace/exec", {"name": "a", "command": []}, "command"),
        ("nexus/workspace/exec", {"name": "a", "command": "ls"}, "command"),
        ("nexus/workspace/delete", {"name": "a", "force": "maybe"}, "force"),
        ("nexus/backend/capabilities", {}, "backend"),
        ("nexus/config/set", {"key": "workspace.default_backend"}, "value"),
    ],
)
async def test_invalid_params_name_the_field(
    client: SidecarClient, method: str, params: dict[str, object], field: str
) -> None:
    error = await _error(client, method, params)
    assert error.code == -32602
    assert method in error.message and f"{field}:" in error.message
    assert (await client.request("nexus/workspace/list"))["workspaces"] == []


async def test_params_must_be_an_object(client: SidecarClient) -> None:
    error = await _error(client, "nexus/workspace/get", ["demo"])
    assert error.code == -32602 and "must be an object" in error.message


async def test_unknown_method(client: SidecarClient) -> None:
    error = await _error(client, "nexus/workspace/teleport", {"name": "a"})
    assert error.code == -32601
    assert await client.request("nexus/workspace/list") == {"workspaces": []}


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("nexus/workspace/get", {"name": "ghost"}, "WORKSPACE_NOT_FOUND"),
        ("nexus/workspace/delete", {"name": "ghost"}, "WORKSPACE_NOT_FOUND"),
        ("nexus/workspace/create", {"name": "Not_A_Name"}, "INVALID_NAME"),
        (
            "nexus/workspace/create",
            {"name": "ok", "sourcePath": "/no/such/dir"},
            "SOURCE_NOT_FOUND",
        ),
        ("nexus/config/get", {"key": "no.such.key"}, "INVALID_CONFIG"),
        (
            "nexus/config/set",
            {"key": "workspace.default_backend", "value": "moon"},
            "INVALID_CONFIG",
        ),
    ],
)
async def test_nexus_errors_carry_code_and_resolution(
    client: SidecarClient, method: str, params: dict[str, object], code: str
) -> None:
    error = await _error(client, method, params)
    assert error.code == -32803
    assert error.message.startswith(f"{code}: ")
    assert error.data["code"] == code
    assert error.data["message"] and error.data["resolution"]


async def test_failed_create_ends_its_progress(client: SidecarClient) -> None:
    client.progress_reports["bad"] = []
    await _error(client, "nexus/workspace/create", {"name": "Bad!", "workDoneToken": "bad"})
    await eventually(lambda: client.progress_kinds("bad")[-1:] == ["end"], what="progress end")
    assert client.progress_kinds("bad")[0] == "begin"
    assert "INVALID_NAME" in client.progress_reports["bad"][-1].message


async def test_create_can_allow_alias_shadowing(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    """A name whose alias the user's ssh config defines is refused, unless the request allows
    the shadowing (then create goes on: here to the next check, a cpu out of range)."""
    ssh_dir = nexus_home.home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "config").write_text("Host nexus-taken\n  HostName taken.example\n")
    params: dict[str, object] = {"name": "taken", "backend": "docker", "cpu": -1}
    refused = await _error(client, "nexus/workspace/create", params)
    assert refused.data["code"] == "SSH_ALIAS_TAKEN"
    assert f"{ssh_dir / 'config'}:1" in refused.data["message"]
    allowed = await _error(
        client, "nexus/workspace/create", {**params, "allowAliasShadowing": True}
    )
    assert allowed.data["code"] == "INVALID_ARGUMENT" and "cpu" in allowed.data["message"].lower()


async def test_capabilities(client: SidecarClient) -> None:
    caps = await client.request("nexus/backend/capabilities", {"backend": "docker"})
    assert caps["supportsSsh"] is True
    assert set(caps) == {
        "supportsSsh",
        "supportsSync",
        "supportsDirectVolumeManagement",
        "supportsImageCaching",
        "supportsSnapshots",
        "supportsLsp",
        "supportsWebPreviews",
        "supportsProcessApi",
        "supportsFileApi",
    }


async def test_config_get_set_and_secrets_masked(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    result = await client.request("nexus/config/set", {"key": "ssh.connect_timeout", "value": "45"})
    assert result == {"key": "ssh.connect_timeout", "value": 45}
    got = await client.request("nexus/config/get", {"key": "ssh.connect_timeout"})
    assert got == {"key": "ssh.connect_timeout", "value": 45}
    await client.request(
        "nexus/config/set", {"key": "backends.daytona.api_key", "value": "sk-very-secret"}
    )
    whole = await client.request("nexus/config/get", {})
    assert whole["key"] is None
    assert whole["value"]["ssh"]["connect_timeout"] == 45
    assert whole["value"]["backends"]["daytona"]["api_key"] == "********"
    assert "sk-very-secret" not in str(whole)
    single = await client.request("nexus/config/get", {"key": "backends.daytona.api_key"})
    assert single["value"] == "********"
    assert "sk-very-secret" in (nexus_home.nexus_home / "config.yaml").read_text()


async def test_changes_by_other_processes_are_notified(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    """Writes to the store from another process (here: this test) reach the client whole."""
    await client.request("nexus/workspace/list", {"refresh": False})  # the watcher is up
    store = nexus_home.store()
    try:
        store.reserve(
            Workspace(name="elsewhere", backend=BackendType.DOCKER, status=WorkspaceStatus.CREATING)
        )
        created = await eventually(lambda: client.events_for("elsewhere"), what="created")
        assert created[0]["workspace"]["status"] == "creating"
        assert created[0]["workspace"]["sshAlias"] == "nexus-elsewhere"
        assert created[0]["previousStatus"] is None and created[0]["deleted"] is False

        store.update("elsewhere", status=WorkspaceStatus.RUNNING, ssh_port=32999)
        running = await eventually(
            lambda: [
                e for e in client.events_for("elsewhere") if e["previousStatus"] == "creating"
            ],
            what="running",
        )
        assert running[0]["workspace"]["status"] == "running"
        assert running[0]["workspace"]["sshPort"] == 32999

        store.remove("elsewhere")
        gone = await eventually(
            lambda: [e for e in client.events_for("elsewhere") if e["deleted"]], what="deleted"
        )
        assert gone[0] == {
            "name": "elsewhere",
            "workspace": None,
            "previousStatus": "running",
            "deleted": True,
        }
    finally:
        store.close()


async def test_garbage_on_stdin_is_survived(nexus_home: NexusHome) -> None:
    """A plain JSON-RPC client (the console script with --stdio): junk never kills the server."""
    command = [str(Path(sys.executable).parent / "nexus-sidecar"), "--stdio"]
    raw = await RawClient.start(command, nexus_home.env, nexus_home.source)
    try:
        init = await raw.call("initialize", {"processId": None, "capabilities": {}})
        assert init["result"]["serverInfo"]["name"] == "nexus-sidecar"
        await raw.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

        await raw.write(b"Content-Length: 9\r\n\r\n{not json")  # malformed JSON
        await raw.write(b"this is not a header at all\r\n")  # junk outside any frame
        await raw.write(b"\x00\xff\xfe garbage \x80\r\n")
        await raw.send([1, 2, 3])  # valid JSON, not a message
        await raw.send({"id": 99, "method": "nexus/workspace/list"})  # no "jsonrpc"
        await raw.send({"jsonrpc": "2.0", "method": "nexus/no/such/notification"})

        unreadable = await raw.call("textDocument/hover", {"textDocument": 7})
        assert unreadable["error"]["code"] == -32602  # answered, not dropped

        answer = await raw.call("nexus/workspace/list", {})
        assert answer["result"] == {"workspaces": []}
        unknown = await raw.call("nexus/no/such/request", {})
        assert unknown["error"]["code"] == -32601
        bad = await raw.call("nexus/workspace/get", {"name": None})
        assert bad["error"]["code"] == -32602 and "name" in bad["error"]["message"]
        assert (await raw.call("nexus/workspace/list"))["result"] == {"workspaces": []}
    finally:
        assert await raw.close() == 0


def test_module_entry_point_and_version() -> None:
    out = subprocess.run(
        [*SERVER_COMMAND[:3], "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("nexus-sidecar ")


def test_imports_stay_lazy() -> None:
    code = (
        "import sys, nexus.cli.main, nexus.sidecar, nexus.sidecar.main; "
        "assert 'pygls' not in sys.modules, 'pygls imported'; "
        "assert 'lsprotocol' not in sys.modules, 'lsprotocol imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
