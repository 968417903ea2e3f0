"""`nexus workspace provider daytona lsp start|stop|status` against the emulator, whose LSP
endpoints run a real pylsp in the sandbox: the server Nexus starts answers completions and
symbols for a file of the workspace through the unmodified SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.sdk import sync_client
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

WS = "lsp"
SOURCE = "import os\n\n\ndef greet(name):\n    return os.pa\n\n\nclass Greeter:\n    pass\n"


@pytest.fixture
def workspace(daytona_env: NexusEnv) -> dict[str, Any]:
    created = ok(daytona_env.run("workspace", "create", WS, "--backend", "daytona", "--json"))
    return dict(json.loads(created.stdout))


@pytest.fixture
def sandbox(emulator: EmulatorThread, workspace: dict[str, Any]) -> Iterator[Any]:
    yield sync_client(emulator.api_url, emulator.api_key).get(workspace["backendId"])


def _lsp(env: NexusEnv, *args: str) -> Any:
    return env.run("workspace", "provider", "daytona", "lsp", *args)


def _status(env: NexusEnv) -> list[dict[str, Any]]:
    return list(json.loads(ok(_lsp(env, "status", WS, "--json")).stdout)["servers"])


def test_start_serves_completions_then_stop(
    daytona_env: NexusEnv, workspace: dict[str, Any], sandbox: Any
) -> None:
    from daytona import DaytonaLspServerNotInitializedError, LspCompletionPosition

    project = workspace["remotePath"]
    assert _status(daytona_env) == []
    started = json.loads(
        ok(_lsp(daytona_env, "start", WS, "--language", "python", "--json")).stdout
    )
    assert started["language"] == "python" and started["path"] == project
    assert started["state"] == "running" and started["alreadyRunning"] is False

    # the server Nexus started is the daemon's server for the workspace folder: a client of the
    # same (language, path) gets real answers from it
    sandbox.fs.upload_file(SOURCE.encode(), f"{project}/main.py")
    server = sandbox.create_lsp_server("python", project)
    server.did_open(f"{project}/main.py")
    completions = server.completions(
        f"{project}/main.py", LspCompletionPosition(line=4, character=16)
    )
    labels = {item.label for item in completions.items}
    assert {"path", "pathsep"} <= labels
    symbols = {s.name for s in server.document_symbols(f"{project}/main.py")}
    assert {"greet", "Greeter"} <= symbols

    again = json.loads(ok(_lsp(daytona_env, "start", WS, "--language", "python", "--json")).stdout)
    assert again["alreadyRunning"] is True and again["startedAt"] == started["startedAt"]
    [entry] = _status(daytona_env)
    assert entry == {
        "language": "python",
        "path": project,
        "startedAt": started["startedAt"],
        "state": "running",
    }

    stopped = json.loads(ok(_lsp(daytona_env, "stop", WS, "--language", "python", "--json")).stdout)
    assert stopped["wasRunning"] is True
    with pytest.raises(DaytonaLspServerNotInitializedError):  # really gone from the daemon
        server.completions(f"{project}/main.py", LspCompletionPosition(line=4, character=16))
    assert _status(daytona_env) == []
    repeat = json.loads(ok(_lsp(daytona_env, "stop", WS, "--language", "python", "--json")).stdout)
    assert repeat["wasRunning"] is False


def test_status_forgets_servers_a_restart_ended(
    daytona_env: NexusEnv, workspace: dict[str, Any]
) -> None:
    ok(_lsp(daytona_env, "start", WS, "--language", "python"))
    ok(daytona_env.run("workspace", "stop", WS))
    ok(daytona_env.run("workspace", "start", WS))
    [entry] = _status(daytona_env)  # the daemon says it does not run this server any more
    assert entry["language"] == "python" and entry["state"] == "stopped"
    assert _status(daytona_env) == []  # forgotten: the record holds only what runs


def test_bad_input_gets_stable_codes(daytona_env: NexusEnv, workspace: dict[str, Any]) -> None:
    unknown = _lsp(daytona_env, "start", WS, "--language", "rust", "--json")
    assert unknown.returncode == 2
    error = json.loads(unknown.stdout)["error"]
    assert error["code"] == "INVALID_ARGUMENT" and "rust" in error["message"]
    assert all(name in error["resolution"] for name in ("python", "typescript", "javascript"))

    # the emulator's sandbox has no typescript-language-server: a clear error, not a traceback
    missing = _lsp(daytona_env, "start", WS, "--language", "typescript", "--json")
    error = json.loads(missing.stdout)["error"]
    assert error["code"] == "DAYTONA_ERROR" and "typescript-language-server" in error["resolution"]
    assert _status(daytona_env) == []

    nothing = _lsp(daytona_env, "start", "no-such-ws", "--language", "python", "--json")
    assert json.loads(nothing.stdout)["error"]["code"] == "WORKSPACE_NOT_FOUND"
