"""What ``nexus sync status`` shows of a Mutagen session, read from Mutagen's JSON (its §3 shape:
counters omitted when zero, endpoint state only when connected, session state only when running)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Mutagen's status -> what a person reads
STATUS_TEXT = {
    "disconnected": "Disconnected",
    "halted-on-root-emptied": "Halted: one side was emptied",
    "halted-on-root-deletion": "Halted: a synced folder was deleted",
    "halted-on-root-type-change": "Halted: a synced folder changed type",
    "connecting-alpha": "Connecting to the local side",
    "connecting-beta": "Connecting to the workspace",
    "watching": "Watching for changes",
    "scanning": "Scanning files",
    "waiting-for-rescan": "Waiting to rescan",
    "reconciling": "Reconciling changes",
    "staging-alpha": "Receiving files from the workspace",
    "staging-beta": "Sending files to the workspace",
    "transitioning": "Applying changes",
    "saving": "Saving state",
}
BUSY = {"scanning", "waiting-for-rescan", "reconciling", "staging-alpha", "staging-beta",
        "transitioning", "saving"}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    url: str
    path: str
    connected: bool
    scanned: bool = False
    directories: int = 0
    files: int = 0
    symlinks: int = 0
    size: int = 0
    problems: tuple[dict[str, str], ...] = ()

    @classmethod
    def from_mutagen(cls, data: dict[str, Any]) -> Endpoint:
        host = data.get("host")
        url = data.get("path", "")
        if host:
            user = f"{data['user']}@" if data.get("user") else ""
            port = f":{data['port']}" if data.get("port") else ""
            url = f"{user}{host}{port}:{url}"
        problems = [
            {"path": p.get("path", ""), "error": p.get("error", ""), "kind": kind}
            for kind, key in (("scan", "scanProblems"), ("transition", "transitionProblems"))
            for p in data.get(key) or []
        ]
        return cls(
            url=url,
            path=data.get("path", ""),
            connected=bool(data.get("connected")),
            scanned=bool(data.get("scanned")),
            directories=int(data.get("directories", 0)),
            files=int(data.get("files", 0)),
            symlinks=int(data.get("symbolicLinks", 0)),
            size=int(data.get("totalFileSize", 0)),
            problems=tuple(problems),
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "path": self.path,
            "connected": self.connected,
            "scanned": self.scanned,
            "directories": self.directories,
            "files": self.files,
            "symlinks": self.symlinks,
            "size": self.size,
            "problems": list(self.problems),
        }


def _change_kind(change: dict[str, Any]) -> str:
    old, new = change.get("old"), change.get("new")
    if new is None and old is None:
        return "unchanged"
    if old is None:
        assert new is not None
        return f"created {new.get('kind', 'entry')}"
    if new is None:
        return f"deleted {old.get('kind', 'entry')}"
    if old.get("kind") != new.get("kind"):
        return f"replaced {old.get('kind')} with {new.get('kind')}"
    return f"modified {new.get('kind', 'entry')}"


@dataclass(frozen=True)
class Conflict:
    path: str
    local: tuple[str, ...]  # what changed on this machine (alpha)
    workspace: tuple[str, ...]  # what changed in the workspace (beta)

    @classmethod
    def from_mutagen(cls, data: dict[str, Any]) -> Conflict:
        def changes(key: str) -> tuple[str, ...]:
            return tuple(f"{_change_kind(c)}: {c.get('path') or '.'}" for c in data.get(key) or [])

        return cls(
            path=data.get("root") or ".",
            local=changes("alphaChanges"),
            workspace=changes("betaChanges"),
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {"path": self.path, "local": list(self.local), "workspace": list(self.workspace)}


@dataclass(frozen=True)
class SyncSession:
    identifier: str
    name: str
    workspace: str
    local: Endpoint
    remote: Endpoint
    status: str
    paused: bool
    mode: str
    ignores: tuple[str, ...]
    ignore_vcs: bool
    successful_cycles: int = 0
    last_error: str | None = None
    conflicts: tuple[Conflict, ...] = ()
    excluded_conflicts: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mutagen(cls, data: dict[str, Any], workspace_label: str) -> SyncSession:
        ignore = data.get("ignore") or {}
        labels = dict(data.get("labels") or {})
        return cls(
            identifier=data["identifier"],
            name=data.get("name", ""),
            workspace=labels.get(workspace_label, ""),
            local=Endpoint.from_mutagen(data.get("alpha") or {}),
            remote=Endpoint.from_mutagen(data.get("beta") or {}),
            status=data.get("status", "disconnected"),
            paused=bool(data.get("paused")),
            mode=data.get("mode") or "two-way-safe",
            ignores=tuple(ignore.get("paths") or ()),
            ignore_vcs=bool(ignore.get("vcs")),
            successful_cycles=int(data.get("successfulCycles", 0)),
            last_error=data.get("lastError") or None,
            conflicts=tuple(Conflict.from_mutagen(c) for c in data.get("conflicts") or []),
            excluded_conflicts=int(data.get("excludedConflicts", 0)),
            labels=labels,
        )

    @property
    def problems(self) -> tuple[dict[str, str], ...]:
        return tuple({"side": "local", **p} for p in self.local.problems) + tuple(
            {"side": "workspace", **p} for p in self.remote.problems
        )

    @property
    def conflict_count(self) -> int:
        return len(self.conflicts) + self.excluded_conflicts

    @property
    def state(self) -> str:
        """One word for the session, most urgent first: paused, halted, error, conflicts,
        problems, connecting, syncing or watching (the ready state)."""
        if self.paused:
            return "paused"
        if self.status.startswith("halted"):
            return "halted"
        if self.last_error:
            return "error"
        if self.conflicts or self.excluded_conflicts:
            return "conflicts"
        if self.problems:
            return "problems"
        if self.status in ("disconnected", "connecting-alpha", "connecting-beta"):
            return "connecting"
        if self.status in BUSY:
            return "syncing"
        return "watching"

    @property
    def status_text(self) -> str:
        return "Paused" if self.paused else STATUS_TEXT.get(self.status, self.status)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.identifier,
            "name": self.name,
            "workspace": self.workspace,
            "state": self.state,
            "status": self.status,
            "statusText": self.status_text,
            "paused": self.paused,
            "mode": self.mode,
            "local": self.local.to_json_dict(),
            "remote": self.remote.to_json_dict(),
            "connected": self.local.connected and self.remote.connected,
            "successfulCycles": self.successful_cycles,
            "lastError": self.last_error,
            "conflicts": [c.to_json_dict() for c in self.conflicts],
            "conflictCount": self.conflict_count,
            "problems": list(self.problems),
            "ignores": list(self.ignores),
            "ignoreVcs": self.ignore_vcs,
        }
