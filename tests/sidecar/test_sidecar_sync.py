"""nexus/sync/* over the sidecar against a real Docker workspace and the real Mutagen: the
requests, and ``nexus/sync/didChange`` when a sync's state changes (a conflict, a stop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from sidecar_helpers import SERVER_COMMAND, SidecarClient, eventually
from tests.conftest import MUTAGEN_BIN, stop_mutagen_daemon
from tests.sync.conftest import daemon_pids, kill_daemon

from conftest import NexusHome, _stop
from nexus.service.sync import SyncBlock, SyncReport
from nexus.sidecar.sync_watcher import diff
from nexus.sync.mutagen import WORKSPACE_LABEL
from nexus.sync.sessions import SyncSession

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

DID_CHANGE_SYNC = "nexus/sync/didChange"
SYNCED = "/home/nexus/synced"  # outside the mounted /workspace of a Docker workspace


class SyncClient(SidecarClient):
    """Also records ``nexus/sync/didChange``."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_events: list[dict[str, Any]] = []

        @self.feature(DID_CHANGE_SYNC)
        def _sync(params: dict[str, Any]) -> None:
            self.sync_events.append(params)

    def sync_event(self, workspace: str, **expected: Any) -> dict[str, Any] | None:
        """The first notification of ``workspace`` whose fields have the ``expected`` values."""
        return next(
            (
                e
                for e in self.sync_events
                if e["workspace"] == workspace and all(e[k] == v for k, v in expected.items())
            ),
            None,
        )


@pytest_asyncio.fixture
async def sync_client(nexus_home: NexusHome) -> AsyncIterator[SyncClient]:
    """A sidecar that finds the real Mutagen (env NEXUS_MUTAGEN); its daemon is stopped after."""
    if not MUTAGEN_BIN.exists():
        pytest.fail(f"no Mutagen at {MUTAGEN_BIN}: run scripts/setup.sh", pytrace=False)
    env = dict(nexus_home.env, NEXUS_MUTAGEN=str(MUTAGEN_BIN))
    lsp = SyncClient()
    await lsp.start_io(*SERVER_COMMAND, env=env, cwd=str(nexus_home.source))
    try:
        await lsp.initialize_session(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(
                    window=types.WindowClientCapabilities(work_done_progress=True)
                ),
                initialization_options={"apiVersion": 1, "editor": "pytest", "logLevel": "debug"},
            )
        )
        yield lsp
    finally:
        await _stop(lsp)
        stop_mutagen_daemon(nexus_home.nexus_home)


async def remote_text(client: SidecarClient, name: str, path: str) -> str | None:
    done = await client.request("nexus/workspace/exec", {"name": name, "command": ["cat", path]})
    return str(done["stdout"]) if done["exitCode"] == 0 else None


async def remote_write(client: SidecarClient, name: str, path: str, text: str) -> None:
    script = f"printf '%s' '{text}' > {path}"
    done = await client.request("nexus/workspace/exec", {"name": name, "command": [script]})
    assert done["exitCode"] == 0, done


async def failure(client: SidecarClient, method: str, params: dict[str, Any]) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as raised:
        await client.request(method, params)
    return raised.value


async def test_sync_requests_and_notifications(
    sync_client: SyncClient, nexus_home: NexusHome
) -> None:
    client = sync_client
    created = await client.request(
        "nexus/workspace/create", {"name": "sy", "sourcePath": str(nexus_home.source)}
    )
    assert created["status"] == "running"

    # no sync yet: a bad request gets the code and a resolution, and nothing started Mutagen
    error = await failure(client, "nexus/sync/pause", {"workspace": "sy"})
    assert error.code == -32803 and error.data["code"] == "SYNC_NOT_FOUND"
    assert error.data["resolution"]
    assert await client.request("nexus/sync/status", {}) == {"workspaces": []}
    assert not (nexus_home.nexus_home / "sync").exists()
    assert daemon_pids(nexus_home.nexus_home) == []

    # start: progress like the other long requests, the first cycle done when it answers
    client.progress_reports["sync"] = []
    report = await client.request(
        "nexus/sync/start", {"workspace": "sy", "remote": SYNCED, "workDoneToken": "sync"}
    )
    assert report["workspace"] == "sy" and report["configured"] is True
    assert report["local"] == str(nexus_home.source) and report["remote"] == SYNCED
    [session] = report["sessions"]
    # (Mutagen may still be saving its state when the flush returns: "syncing" for a moment)
    assert session["state"] in ("watching", "syncing"), session
    assert session["successfulCycles"] >= 1 and session["connected"] is True
    kinds = client.progress_kinds("sync")
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert client.progress_reports["sync"][-1].message == "Done"
    assert await remote_text(client, "sy", f"{SYNCED}/README.md") == "hello from the host\n"
    await eventually(
        lambda: client.sync_event("sy", state="watching", previousState=None),
        what="didChange watching",
    )

    # a daemon that died is started again by the sidecar itself (no request in between), and
    # the session it resumes is still there
    kill_daemon(nexus_home.nexus_home)
    await eventually(
        lambda: daemon_pids(nexus_home.nexus_home) or None, what="the daemon started again"
    )
    again = await client.request("nexus/sync/status", {"workspace": "sy"})
    assert again["workspaces"][0]["sessions"][0]["id"] == session["id"]

    # a conflict: the same new file written on both sides while paused
    paused = await client.request("nexus/sync/pause", {"workspace": "sy"})
    assert paused["sessions"][0]["state"] == "paused"
    await eventually(lambda: client.sync_event("sy", state="paused"), what="didChange paused")
    (nexus_home.source / "both.txt").write_text("written here\n")
    await remote_write(client, "sy", f"{SYNCED}/both.txt", "written there")
    resumed = await client.request("nexus/sync/resume", {"workspace": "sy"})
    assert resumed["sessions"][0]["paused"] is False
    flushed = await client.request("nexus/sync/flush", {"workspace": "sy"})
    assert flushed["sessions"][0]["state"] == "conflicts", flushed

    event = await eventually(
        lambda: client.sync_event("sy", state="conflicts"), what="didChange conflicts"
    )
    assert event["conflictCount"] == 1
    assert event["report"]["workspace"] == "sy" and event["report"]["remote"] == SYNCED
    assert event["report"]["sessions"][0]["conflicts"][0]["path"] == "both.txt"
    status = await client.request("nexus/sync/status", {"workspace": "sy"})
    [shown] = status["workspaces"]
    assert shown["sessions"][0]["state"] == "conflicts"
    assert shown["sessions"][0]["conflictCount"] == 1
    everything = await client.request("nexus/sync/status", {})
    assert [r["workspace"] for r in everything["workspaces"]] == ["sy"]
    # two-way-safe keeps both versions
    assert (nexus_home.source / "both.txt").read_text() == "written here\n"
    assert await remote_text(client, "sy", f"{SYNCED}/both.txt") == "written there"

    # stop: the sync goes, and the client hears it once, with state null
    stopped = await client.request("nexus/sync/stop", {"workspace": "sy"})
    assert stopped == {
        "workspace": "sy",
        "configured": False,
        "local": None,
        "remote": None,
        "sessions": [],
    }
    gone = await eventually(lambda: client.sync_event("sy", state=None), what="didChange null")
    assert gone["previousState"] == "conflicts" and gone["conflictCount"] == 0
    assert gone["report"]["sessions"] == []
    assert not (nexus_home.nexus_home / "sync").exists()
    assert daemon_pids(nexus_home.nexus_home) == []
    assert (await client.request("nexus/sync/status", {"workspace": "sy"}))["workspaces"][0][
        "sessions"
    ] == []
    # the files stay on both sides
    assert await remote_text(client, "sy", f"{SYNCED}/README.md") == "hello from the host\n"
    assert (nexus_home.source / "both.txt").exists()
    nulls = [e for e in client.sync_events if e["workspace"] == "sy" and e["state"] is None]
    assert len(nulls) == 1, client.sync_events


async def test_bad_sync_requests(sync_client: SyncClient, nexus_home: NexusHome) -> None:
    client = sync_client
    missing = await failure(client, "nexus/sync/start", {"remote": SYNCED})
    assert missing.code == -32602 and "workspace" in missing.message
    unknown = await failure(client, "nexus/sync/status", {"workspace": "nope"})
    assert unknown.data["code"] == "WORKSPACE_NOT_FOUND" and unknown.data["resolution"]
    for method in ("nexus/sync/pause", "nexus/sync/resume", "nexus/sync/flush", "nexus/sync/stop"):
        error = await failure(client, method, {"workspace": "nope"})
        assert error.data["code"] == "WORKSPACE_NOT_FOUND", method
    assert not (nexus_home.nexus_home / "sync").exists()


def _report(name: str, *sessions: dict[str, Any]) -> SyncReport:
    block = SyncBlock(local="/here", remote=SYNCED)
    parsed = [SyncSession.from_mutagen(data, WORKSPACE_LABEL) for data in sessions]
    return SyncReport(name, block, parsed)


def _session(**fields: Any) -> dict[str, Any]:
    """Mutagen's JSON for a session of workspace ``sy``."""
    return {"identifier": "sync_x", "labels": {WORKSPACE_LABEL: "sy"}, **fields}


def test_the_watcher_sends_what_changed_and_a_sync_that_went() -> None:
    watching = _report("sy", _session(status="watching"))
    conflict = {"root": "both.txt", "alphaChanges": [], "betaChanges": []}
    conflicts = _report("sy", _session(status="watching", conflicts=[conflict]))
    idle = _report("idle")  # a sync block without a session: nothing to say

    assert diff({}, {"idle": idle}) == []
    assert diff({"sy": watching}, {"sy": _report("sy", _session(status="watching"))}) == []
    [found] = diff({"sy": watching, "idle": idle}, {"sy": conflicts, "idle": idle})
    assert found["workspace"] == "sy" and found["state"] == "conflicts"
    assert found["previousState"] == "watching" and found["conflictCount"] == 1
    assert found["report"] == conflicts.to_json_dict()
    [busy] = diff({"sy": watching}, {"sy": _report("sy", _session(status="scanning"))})
    assert busy["state"] == "syncing"
    [gone] = diff({"sy": conflicts}, {})
    assert gone["state"] is None and gone["previousState"] == "conflicts"
    assert gone["conflictCount"] == 0 and gone["report"]["sessions"] == []
    [lost] = diff({"sy": watching}, {"sy": _report("sy")})  # its block stays, its session went
    assert lost["state"] is None and lost["report"]["configured"] is True
