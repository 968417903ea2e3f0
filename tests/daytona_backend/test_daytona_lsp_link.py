"""The Daytona backend's language-server link (``open_language_server``) against the emulator,
whose LSP endpoints run a real pylsp in the sandbox: LSP messages in, answers only the sandbox
can give out, in the workspace's paths."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nexus.backends.daytona.lsp_link import DaytonaLanguageServer
from nexus.domain.errors import ErrorCode
from nexus.domain.kinds import BackendType
from nexus.domain.models import Workspace
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from tests.conftest import MUTAGEN_BIN, NEXUS_BIN, NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.sdk import sync_client
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

WS = "lsplink"
GUARD = 120.0  # a hang fails the test instead of blocking the run (no timing is asserted)
# a module installed in the sandbox's user site-packages: nothing on the host knows it
MODULE = "def sandbox_only_helper(value):\n    return value\n\n\nSANDBOX_ONLY_CONSTANT = 1\n"
SOURCE = (
    "import nexus_sandbox_only\n"
    "\n"
    "\n"
    "def greet(name):\n"
    "    return nexus_sandbox_only.sandbox_\n"
    "\n"
    "\n"
    "class Greeter:\n"
    "    pass\n"
)
COMPLETE_AT = {"line": 4, "character": 36}  # after `nexus_sandbox_only.sandbox_`


@dataclass
class Setup:
    context: NexusContext
    workspace: Workspace
    env: NexusEnv

    @property
    def main_path(self) -> str:
        return f"{self.workspace.remote_path}/main.py"

    @property
    def main_uri(self) -> str:
        return f"file://{self.main_path}"


def _exec(env: NexusEnv, script: str) -> None:
    ok(env.run("workspace", "exec", WS, "--", "sh", "-c", script))


@pytest.fixture
async def setup(daytona_env: NexusEnv) -> AsyncIterator[Setup]:
    created = ok(daytona_env.run("workspace", "create", WS, "--backend", "daytona", "--json"))
    remote = json.loads(created.stdout)["remotePath"]
    _exec(
        daytona_env,
        'site=$(python3 -m site --user-site) && mkdir -p "$site" && '
        f"printf '%s' '{MODULE}' > \"$site/nexus_sandbox_only.py\" && "
        f"printf '%s' '{SOURCE}' > {remote}/main.py",
    )
    context = NexusContext(NexusPaths(daytona_env.nexus_home), env=daytona_env.env)
    try:
        yield Setup(context, context.store.get(WS), daytona_env)
    finally:
        context.close()


async def _link(setup: Setup, **kwargs: Any) -> DaytonaLanguageServer:
    backend = setup.context.backends.get(BackendType.DAYTONA)
    if kwargs:
        return DaytonaLanguageServer(
            backend,  # type: ignore[arg-type]
            setup.workspace,
            "python",
            setup.workspace.remote_path,
            **kwargs,
        )
    link = await backend.open_language_server(
        setup.workspace, "python", setup.workspace.remote_path
    )
    assert isinstance(link, DaytonaLanguageServer)
    return link


async def _next(link: DaytonaLanguageServer) -> dict[str, Any] | None:
    return await asyncio.wait_for(link.receive(), GUARD)


async def _answer(link: DaytonaLanguageServer, request_id: int) -> dict[str, Any]:
    """Messages until the answer to ``request_id`` (notifications before it are dropped)."""
    while True:
        message = await _next(link)
        assert message is not None, f"the link ended before answering {request_id}"
        if message.get("id") == request_id and "method" not in message:
            return message


async def _request(
    link: DaytonaLanguageServer, request_id: int, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    await link.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    return await _answer(link, request_id)


async def _notify(link: DaytonaLanguageServer, method: str, params: Any) -> None:
    await link.send({"jsonrpc": "2.0", "method": method, "params": params})


async def _initialize(link: DaytonaLanguageServer, setup: Setup) -> dict[str, Any]:
    root = f"file://{setup.workspace.remote_path}"
    answer = await _request(
        link, 1, "initialize", {"processId": None, "rootUri": root, "capabilities": {}}
    )
    await _notify(link, "initialized", {})
    await _notify(
        link,
        "textDocument/didOpen",
        {
            "textDocument": {
                "uri": setup.main_uri,
                "languageId": "python",
                "version": 1,
                "text": SOURCE,
            }
        },
    )
    return answer


def _server_runs(setup: Setup, emulator: EmulatorThread) -> bool:
    """Whether the daemon runs the python server of the workspace folder, asked with the SDK
    (pylsp answers a symbol query "method not found"; a server not running, "not initialized")."""
    from daytona import DaytonaBadRequestError

    client = sync_client(emulator.api_url, emulator.api_key)
    sandbox = client.get(str(setup.workspace.backend_id))
    server = sandbox.create_lsp_server("python", setup.workspace.remote_path)
    try:
        server.sandbox_symbols("Greeter")
    except DaytonaBadRequestError as exc:
        if "not initialized" in str(exc).lower():
            return False
        assert "method not found" in str(exc).lower(), exc
    return True


async def test_link_answers_from_the_sandbox(setup: Setup, emulator: EmulatorThread) -> None:
    link = await _link(setup)
    try:
        capabilities = (await _initialize(link, setup))["result"]["capabilities"]
        assert capabilities["textDocumentSync"]["openClose"] is True
        assert capabilities["textDocumentSync"]["change"] == 0
        assert capabilities["documentSymbolProvider"] is True
        assert capabilities["workspaceSymbolProvider"] is True
        assert "completionProvider" in capabilities
        assert await asyncio.to_thread(_server_runs, setup, emulator)

        completion = await _request(
            link,
            2,
            "textDocument/completion",
            {"textDocument": {"uri": setup.main_uri}, "position": COMPLETE_AT},
        )
        result = completion["result"]
        assert result["isIncomplete"] is False
        [item] = [i for i in result["items"] if i["label"].startswith("sandbox_only_helper")]
        assert item["kind"] == 3  # Function
        assert item["insertText"] == "sandbox_only_helper"

        symbols = await _request(
            link, 3, "textDocument/documentSymbol", {"textDocument": {"uri": setup.main_uri}}
        )
        by_name = {s["name"]: s for s in symbols["result"]}
        assert {"greet", "Greeter"} <= set(by_name)
        assert by_name["Greeter"]["location"]["uri"] == setup.main_uri
        assert by_name["Greeter"]["location"]["range"]["start"]["line"] == 7
        assert by_name["Greeter"]["kind"] == 5  # Class

        # Debian's pylsp has no workspace/symbol: the daemon's "method not found" for it
        # becomes an empty list, not an error
        found = await _request(link, 4, "workspace/symbol", {"query": "Greeter"})
        assert found == {"jsonrpc": "2.0", "id": 4, "result": []}

        hover = await _request(
            link,
            5,
            "textDocument/hover",
            {"textDocument": {"uri": setup.main_uri}, "position": COMPLETE_AT},
        )
        assert hover == {"jsonrpc": "2.0", "id": 5, "result": None}
        colors = await _request(
            link, 6, "textDocument/documentColor", {"textDocument": {"uri": setup.main_uri}}
        )
        assert colors["result"] == []

        await _notify(link, "textDocument/didClose", {"textDocument": {"uri": setup.main_uri}})
        assert (await _request(link, 7, "shutdown", {})) == {
            "jsonrpc": "2.0",
            "id": 7,
            "result": None,
        }
        # the server this link started is gone from the daemon
        assert not await asyncio.to_thread(_server_runs, setup, emulator)
        await _notify(link, "exit", None)
        assert await _next(link) is None
        assert await _next(link) is None
        assert link.failure is None
    finally:
        await link.close()


async def test_cancel_and_failures_answer_without_breaking_the_editor(setup: Setup) -> None:
    link = await _link(setup)
    try:
        early = await _request(link, 1, "textDocument/hover", {})
        assert early["error"]["code"] == -32002  # not initialized yet
        await _initialize(link, setup)

        # two requests queued at once, the second cancelled before it runs
        document = {"textDocument": {"uri": setup.main_uri}}
        await link.send(
            {
                "jsonrpc": "2.0",
                "id": 10,
                "method": "textDocument/completion",
                "params": {**document, "position": COMPLETE_AT},
            }
        )
        await link.send(
            {
                "jsonrpc": "2.0",
                "id": 11,
                "method": "textDocument/documentSymbol",
                "params": document,
            }
        )
        await _notify(link, "$/cancelRequest", {"id": 11})
        answers: dict[Any, dict[str, Any]] = {}
        while len(answers) < 2:
            message = await _next(link)
            assert message is not None
            if "id" in message:
                answers[message["id"]] = message
        assert answers[11]["error"]["code"] == -32800
        assert any(
            i["label"].startswith("sandbox_only_helper") for i in answers[10]["result"]["items"]
        )

        # an SDK failure: the daemon cannot read a file that is not in the sandbox
        missing = f"file://{setup.workspace.remote_path}/not-there.py"
        await _notify(link, "textDocument/didOpen", {"textDocument": {"uri": missing}})
        logged = await _next(link)
        assert logged is not None and logged["method"] == "window/logMessage"
        assert "not-there.py" in logged["params"]["message"]
        # a document that is not a file gets an empty answer, no SDK call
        untitled = await _request(
            link,
            12,
            "textDocument/completion",
            {"textDocument": {"uri": "untitled:Untitled-1"}, "position": COMPLETE_AT},
        )
        assert untitled["result"] == {"isIncomplete": False, "items": []}
        still = await _request(link, 13, "textDocument/documentSymbol", document)
        assert {"greet", "Greeter"} <= {s["name"] for s in still["result"]}
    finally:
        await link.close()


async def test_a_stopped_sandbox_ends_the_link(setup: Setup) -> None:
    link = await _link(setup)
    try:
        await _initialize(link, setup)
        ok(setup.env.run("workspace", "stop", WS))
        await link.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "textDocument/documentSymbol",
                "params": {"textDocument": {"uri": setup.main_uri}},
            }
        )
        assert await _next(link) is None  # it ends, saying why (the proxy tells the editor)
        assert link.failure is not None
        assert link.failure.code == ErrorCode.DAYTONA_SANDBOX_STOPPED
        assert f"workspace '{WS}' stopped" in link.failure.message
    finally:
        await link.close()


async def test_an_idle_link_sees_the_sandbox_stop(setup: Setup) -> None:
    link = await _link(setup, watch_interval=0.2)
    try:
        await _initialize(link, setup)
        ok(setup.env.run("workspace", "stop", WS))
        # nothing was asked: the link looked at the sandbox itself
        assert await _next(link) is None
        assert link.failure is not None
        assert link.failure.code == ErrorCode.DAYTONA_SANDBOX_STOPPED
    finally:
        await link.close()


async def test_other_languages_and_ssh_mode_use_ssh(setup: Setup) -> None:
    backend = setup.context.backends.get(BackendType.DAYTONA)
    root = setup.workspace.remote_path
    assert await backend.open_language_server(setup.workspace, "rust", root) is None
    link = await backend.open_language_server(setup.workspace, "python", root)
    assert isinstance(link, DaytonaLanguageServer)
    await link.close()
    # with lsp.daytona_mode ssh, a backend built from that config leaves python to SSH too
    ok(setup.env.run("config", "set", "lsp.daytona_mode", "ssh"))
    context = NexusContext(NexusPaths(setup.env.nexus_home), env=setup.env.env)
    try:
        configured = context.backends.get(BackendType.DAYTONA)
        assert await configured.open_language_server(setup.workspace, "python", root) is None
    finally:
        context.close()


# ---- `nexus lsp` end to end: an editor on this machine, Daytona's LSP API behind the proxy ----


def _git(path: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=Dev", "-c", "user.email=dev@example.com",
         *args],
        cwd=path, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def synced(daytona_env: NexusEnv) -> Path:
    """A Daytona workspace made from a git project (its local worktree synced with the
    sandbox) and the sandbox-only module installed; returns the worktree."""
    if not MUTAGEN_BIN.exists():
        pytest.fail(f"no Mutagen at {MUTAGEN_BIN}: run scripts/setup.sh", pytrace=False)
    daytona_env.env["NEXUS_MUTAGEN"] = str(MUTAGEN_BIN)
    project = daytona_env.project
    (project / "main.py").write_text(SOURCE)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "one")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(project)], check=True)
    created = ok(
        daytona_env.run(
            "workspace", "create", WS, "--backend", "daytona", "--from", str(project), "--json"
        )
    )
    _exec(
        daytona_env,
        'site=$(python3 -m site --user-site) && mkdir -p "$site" && '
        f"printf '%s' '{MODULE}' > \"$site/nexus_sandbox_only.py\"",
    )
    worktree = Path(json.loads(created.stdout)["localPath"])
    assert (worktree / "main.py").read_text() == SOURCE
    return worktree


async def test_nexus_lsp_relays_an_editor_to_daytona_lsp(
    daytona_env: NexusEnv, synced: Path
) -> None:
    from lsprotocol import types
    from pytest_lsp import client_capabilities, make_test_lsp_client

    client = make_test_lsp_client()
    await client.start_io(
        NEXUS_BIN, "lsp", WS, "--language", "python", env=daytona_env.env, cwd=str(synced)
    )
    try:
        root = synced.as_uri()
        init = await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities("neovim"),
                    root_uri=root,
                    workspace_folders=[types.WorkspaceFolder(uri=root, name="project")],
                )
            ),
            GUARD,
        )
        assert init.server_info is not None and "daytona" in init.server_info.name
        uri = (synced / "main.py").as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=SOURCE
                )
            )
        )
        completion = await asyncio.wait_for(
            client.text_document_completion_async(
                types.CompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(**COMPLETE_AT),
                )
            ),
            GUARD,
        )
        assert isinstance(completion, types.CompletionList)
        assert any(i.label.startswith("sandbox_only_helper") for i in completion.items)

        symbols = await asyncio.wait_for(
            client.text_document_document_symbol_async(
                types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
            ),
            GUARD,
        )
        names = {s.name: s for s in symbols or []}
        assert {"greet", "Greeter"} <= set(names)
        for symbol in names.values():
            assert isinstance(symbol, types.SymbolInformation)
            assert symbol.location.uri == uri  # the editor's path, not the sandbox's

        await asyncio.wait_for(client.shutdown_session(), GUARD)
        assert client._server is not None and client._server.returncode == 0
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
        with contextlib.suppress(Exception):
            await client.stop()


async def test_nexus_lsp_ends_when_the_sandbox_stops(daytona_env: NexusEnv, synced: Path) -> None:
    from lsprotocol import types
    from pytest_lsp import client_capabilities, make_test_lsp_client

    client = make_test_lsp_client()
    await client.start_io(
        NEXUS_BIN, "lsp", WS, "--language", "python", env=daytona_env.env, cwd=str(synced)
    )
    try:
        root = synced.as_uri()
        await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(capabilities=client_capabilities("neovim"), root_uri=root)
            ),
            GUARD,
        )
        ok(await asyncio.to_thread(daytona_env.run, "workspace", "stop", WS))
        uri = (synced / "main.py").as_uri()
        symbols = client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        with pytest.raises(Exception, match="stopped"):  # answered with an error, not left
            await asyncio.wait_for(symbols, GUARD)
        assert client._server is not None
        assert await asyncio.wait_for(client._server.wait(), GUARD) == 7  # a state error
        shown = [m.message for m in client.messages if m.type == types.MessageType.Error]
        assert shown and all("stopped" in text for text in shown)
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
        with contextlib.suppress(Exception):
            await client.stop()
