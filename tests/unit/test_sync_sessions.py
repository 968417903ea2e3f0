"""Reading Mutagen's JSON (its §3 shape) into what `nexus sync status` shows, and finding Mutagen."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.service.sync import _csv_quoted
from nexus.sync.binary import AGENTS_BUNDLE, agents_bundle, check, locate, parse_version
from nexus.sync.mutagen import WORKSPACE_LABEL, error_text
from nexus.sync.sessions import SyncSession

WATCHING = {
    "identifier": "sync_" + "a" * 43,
    "version": 1,
    "creationTime": "2025-05-01T10:00:00.123Z",
    "creatingVersion": "0.18.1",
    "alpha": {"protocol": "local", "path": "/home/me/app", "ignore": {}, "symlink": {},
              "watch": {}, "permissions": {}, "compression": {}, "connected": True,
              "scanned": True, "directories": 4, "files": 12, "totalFileSize": 40960},
    "beta": {"protocol": "ssh", "user": "dev", "host": "nexus-ws1", "port": 2222, "path": "/w",
             "ignore": {}, "symlink": {}, "watch": {}, "permissions": {}, "compression": {},
             "connected": True, "scanned": True, "directories": 4, "files": 12,
             "totalFileSize": 40960},
    "mode": "two-way-safe",
    "ignore": {"paths": [".git", "node_modules"], "vcs": True},
    "symlink": {}, "watch": {}, "permissions": {}, "compression": {},
    "name": "nexus-ws1",
    "labels": {WORKSPACE_LABEL: "ws1"},
    "paused": False,
    "status": "watching",
    "successfulCycles": 1,
}  # fmt: skip


def session(**changes: object) -> SyncSession:
    return SyncSession.from_mutagen({**WATCHING, **changes}, WORKSPACE_LABEL)


def test_an_idle_connected_session() -> None:
    s = session()
    assert s.state == "watching" and s.workspace == "ws1"
    assert s.local.files == 12 and s.local.size == 40960 and s.local.connected
    assert s.remote.url == "dev@nexus-ws1:2222:/w"
    data = s.to_json_dict()
    assert data["connected"] is True and data["conflictCount"] == 0
    assert data["ignores"] == [".git", "node_modules"] and data["ignoreVcs"] is True


def test_absent_counters_and_state_mean_zero_and_none() -> None:
    """Paused: no session state at all, endpoints not connected and without counts."""
    paused = {k: v for k, v in WATCHING.items() if k != "successfulCycles"}
    paused.update(
        paused=True,
        status="disconnected",
        alpha={"protocol": "local", "path": "/a", "connected": False},
        beta={"protocol": "ssh", "host": "h", "path": "p", "connected": False},
    )
    s = SyncSession.from_mutagen(paused, WORKSPACE_LABEL)
    assert s.state == "paused" and s.status_text == "Paused"
    assert s.successful_cycles == 0 and s.local.files == 0 and not s.local.scanned
    assert s.remote.url == "h:p"


def test_conflicts_come_first_after_halts_and_errors() -> None:
    conflict = {
        "root": "both.txt",
        "alphaChanges": [{"path": "both.txt", "new": {"kind": "file", "digest": "ab"}}],
        "betaChanges": [
            {"path": "both.txt", "old": {"kind": "file"}, "new": {"kind": "file", "digest": "cd"}}
        ],
    }
    s = session(conflicts=[conflict], excludedConflicts=2)
    assert s.state == "conflicts" and s.conflict_count == 3
    assert s.conflicts[0].local == ("created file: both.txt",)
    assert s.conflicts[0].workspace == ("modified file: both.txt",)
    assert session(conflicts=[conflict], lastError="boom").state == "error"
    assert session(status="halted-on-root-emptied", conflicts=[conflict]).state == "halted"
    deleted = {"root": "x", "alphaChanges": [{"path": "x", "old": {"kind": "directory"}}]}
    assert session(conflicts=[deleted]).conflicts[0].local == ("deleted directory: x",)


def test_problems_name_their_side() -> None:
    beta = {**WATCHING["beta"], "transitionProblems": [{"path": "a", "error": "denied"}]}  # type: ignore[dict-item]
    s = session(beta=beta)
    assert s.state == "problems"
    assert s.problems == (
        {"side": "workspace", "path": "a", "error": "denied", "kind": "transition"},
    )


@pytest.mark.parametrize(
    ("status", "state"),
    [("connecting-beta", "connecting"), ("staging-beta", "syncing"), ("scanning", "syncing")],
)
def test_busy_and_connecting(status: str, state: str) -> None:
    assert session(status=status).state == state


def test_patterns_with_commas_stay_one_pattern() -> None:
    assert _csv_quoted("node_modules") == "node_modules"
    assert _csv_quoted("*.{js,ts}") == '"*.{js,ts}"'
    assert _csv_quoted('a"b') == '"a""b"'


def test_mutagenerror_text_is_its_last_error_line() -> None:
    stderr = "Attempting to start\r\nError: unable to locate requested sessions: x\n"
    assert error_text(stderr, "") == "unable to locate requested sessions: x"
    assert error_text("", "\rCreating session...   \rlast words\n") == "last words"


def _fake_mutagen(folder: Path, version: str, *, agents: bool) -> Path:
    """A program answering `version` like Mutagen does (only the version gate is tested here)."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "mutagen"
    binary.write_text(f"#!/bin/sh\necho {version}\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    if agents:
        (folder / AGENTS_BUNDLE).write_bytes(b"")
    return binary


def _failure(call: object) -> NexusError:
    with pytest.raises(NexusError) as raised:
        call()  # type: ignore[operator]
    assert raised.value.code == ErrorCode.SYNC_FAILED and raised.value.resolution
    return raised.value


def test_version_gate(tmp_path: Path) -> None:
    assert parse_version("0.18.1") == (0, 18, 1)
    assert parse_version("0.19.0-dev") == (0, 19, 0)
    assert parse_version("Mutagen") is None
    assert check(_fake_mutagen(tmp_path / "new", "0.18.1", agents=True)).version == "0.18.1"
    old = _failure(lambda: check(_fake_mutagen(tmp_path / "old", "0.17.6", agents=True)))
    assert "too old" in old.message
    odd = _failure(lambda: check(_fake_mutagen(tmp_path / "odd", "hello", agents=True)))
    assert "does not answer like Mutagen" in odd.message


def test_the_agents_bundle_beside_it_or_in_libexec(tmp_path: Path) -> None:
    lonely = _fake_mutagen(tmp_path / "bin", "0.18.1", agents=False)
    assert AGENTS_BUNDLE in _failure(lambda: check(lonely)).message
    (tmp_path / "libexec").mkdir()
    (tmp_path / "libexec" / AGENTS_BUNDLE).write_bytes(b"")
    assert agents_bundle(lonely) == tmp_path / "libexec" / AGENTS_BUNDLE
    # a symlink on PATH to the real install (a package manager's layout)
    real = _fake_mutagen(tmp_path / "cellar" / "bin", "0.18.1", agents=True)
    link = tmp_path / "links" / "mutagen"
    link.parent.mkdir()
    link.symlink_to(real)
    assert agents_bundle(link) == real.parent / AGENTS_BUNDLE


def test_locate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "not installed" in _failure(lambda: locate(None, "sync.mutagen_path")).message
    named = _failure(lambda: locate(str(tmp_path / "nope"), "sync.mutagen_path"))
    assert "sync.mutagen_path" in named.message
    binary = _fake_mutagen(tmp_path / "tools", "0.18.1", agents=True)
    assert locate(str(binary.parent), "x") == binary  # a folder holding it is fine
    monkeypatch.setenv("PATH", str(binary.parent))
    assert locate(None, "x") == binary
