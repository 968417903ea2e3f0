"""`nexus lsp` as an editor runs it: pytest-lsp as the editor, the CLI as the server process,
a real pylsp in a Docker workspace behind it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from nexus.lsp.framing import FrameDecoder, encode

from .conftest import MISSING_COMMAND, MISSING_LANGUAGE, PROBE_FUNCTION, LspWorld

pytestmark = [pytest.mark.docker]

SESSION_TIMEOUT = 120


async def _start(world: LspWorld, language: str = "python") -> LanguageClient:
    client = make_test_lsp_client()
    await client.start_io(*world.command(language), env=world.env, cwd=str(world.project))
    return client


async def _initialize(client: LanguageClient, world: LspWorld) -> types.InitializeResult:
    root = world.worktree.as_uri()
    return await asyncio.wait_for(
        client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=root,
                workspace_folders=[types.WorkspaceFolder(uri=root, name="project")],
            )
        ),
        SESSION_TIMEOUT,
    )


async def _end(client: LanguageClient) -> None:
    server = client._server
    if server is not None and server.returncode is None:
        server.kill()
    with contextlib.suppress(Exception):
        await client.stop()


@pytest_asyncio.fixture
async def editor(running: LspWorld) -> AsyncIterator[LanguageClient]:
    client = await _start(running)
    try:
        await _initialize(client, running)
        yield client
    finally:
        await _end(client)


def _open_main(client: LanguageClient, world: LspWorld) -> str:
    path = world.worktree / "main.py"
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=path.read_text()
            )
        )
    )
    return uri


async def test_completion_knows_the_workspace_modules_and_symbols_carry_local_uris(
    editor: LanguageClient, running: LspWorld
) -> None:
    uri = _open_main(editor, running)
    lines = (running.worktree / "main.py").read_text().splitlines()
    line = len(lines) - 1
    completion = await asyncio.wait_for(
        editor.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=len(lines[line])),
            )
        ),
        SESSION_TIMEOUT,
    )
    items = completion.items if isinstance(completion, types.CompletionList) else completion
    # pylsp labels a function with its parentheses: zebra_quokka_frobnicate()
    assert PROBE_FUNCTION in [item.label.partition("(")[0] for item in items or []]

    symbols = await asyncio.wait_for(
        editor.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
        ),
        SESSION_TIMEOUT,
    )
    names = {symbol.name: symbol for symbol in symbols or []}
    assert {"local_helper", "Thing"} <= set(names)
    for symbol in names.values():
        assert isinstance(symbol, types.SymbolInformation)
        assert symbol.location.uri == uri  # the editor's path, never /workspace/main.py

    await asyncio.wait_for(editor.shutdown_session(), SESSION_TIMEOUT)
    assert editor._server is not None and editor._server.returncode == 0


async def test_exit_without_shutdown_exits_1(running: LspWorld) -> None:
    client = await _start(running)
    try:
        await _initialize(client, running)
        client.exit(None)
        assert client._server is not None
        assert await asyncio.wait_for(client._server.wait(), SESSION_TIMEOUT) == 1
    finally:
        await _end(client)


def _raw_session(
    world: LspWorld, language: str, messages: list[dict[str, Any]]
) -> tuple[int, bytes, list[dict[str, Any]]]:
    """Run `nexus lsp`, write ``messages`` and keep its stdin open (as an editor does) until it
    ends; its exit status, its stderr and the messages it wrote to stdout."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            world.command(language),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=world.env,
            cwd=world.project,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(b"".join(encode(m) for m in messages))
                process.stdin.flush()
            stdout = process.stdout.read()  # until it ends; its stdin stays open meanwhile
            process.wait(timeout=SESSION_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdin.close()
            process.stdout.close()
        errors.seek(0)
        stderr = errors.read()
    return process.returncode, stderr, FrameDecoder().feed(stdout)


def _initialize_request() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"processId": None, "rootUri": None, "capabilities": {}},
    }


def test_an_unknown_language_is_refused_before_anything_starts(lsp_world: LspWorld) -> None:
    code, stderr, out = _raw_session(lsp_world, "cobol", [_initialize_request()])
    assert code == 2
    assert out == []  # nothing but LSP on stdout, and here nothing at all
    assert b"LSP_LANGUAGE_UNKNOWN" in stderr and b"python" in stderr
    assert b"Traceback" not in stderr


def test_a_server_command_missing_in_the_workspace_says_what_to_install(
    running: LspWorld,
) -> None:
    code, raw_stderr, out = _raw_session(running, MISSING_LANGUAGE, [_initialize_request()])
    assert code == 7
    stderr = raw_stderr.decode()
    assert "LSP_SERVER_FAILED" in stderr and MISSING_COMMAND in stderr
    assert "Install it" in stderr and "Traceback" not in stderr
    shown = [m for m in out if m.get("method") == "window/showMessage"]
    assert shown and shown[0]["params"]["type"] == 1
    assert MISSING_COMMAND in shown[0]["params"]["message"]
    answers = [m for m in out if m.get("id") == 1]
    assert answers and "error" in answers[0]  # the editor's initialize is answered, not left


async def test_a_workspace_stopped_mid_session_ends_it_with_a_message(
    running: LspWorld,
) -> None:
    client = await _start(running)
    try:
        await _initialize(client, running)
        _open_main(client, running)
        stopped = await asyncio.to_thread(running.nexus, "workspace", "stop", running.workspace)
        assert stopped.returncode == 0, stopped.stderr
        assert client._server is not None
        code = await asyncio.wait_for(client._server.wait(), SESSION_TIMEOUT)
        assert code == 7  # WORKSPACE_NOT_RUNNING
        errors = [m for m in client.messages if m.type == types.MessageType.Error]
        assert errors and "stopped" in errors[-1].message
    finally:
        await _end(client)
