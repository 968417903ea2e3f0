"""Records of background previews: ``NEXUS_HOME/previews/<workspace>-<port>.json``.

Each one is written by the preview process itself once it listens, and removed by it when it
ends; a record whose process is gone (killed, machine restarted) is dropped when read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import NexusPaths, ensure_dir

# the argument only a background preview process carries (checked against its command line, so
# a reused pid of another program is never taken for it)
MARKER = "--serve-managed"


@dataclass(frozen=True)
class PreviewRecord:
    workspace: str
    port: int
    local_port: int
    url: str
    pid: int
    via: str  # "ssh" or "preview-url"
    started_at: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "port": self.port,
            "localPort": self.local_port,
            "url": self.url,
            "pid": self.pid,
            "via": self.via,
            "startedAt": self.started_at,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> PreviewRecord:
        return cls(
            workspace=str(data["workspace"]),
            port=int(data["port"]),
            local_port=int(data["localPort"]),
            url=str(data["url"]),
            pid=int(data["pid"]),
            via=str(data.get("via", "ssh")),
            started_at=str(data.get("startedAt", "")),
        )


def folder(paths: NexusPaths) -> Path:
    return paths.home / "previews"


def record_path(paths: NexusPaths, workspace: str, port: int) -> Path:
    return folder(paths) / f"{workspace}-{port}.json"


def log_path(paths: NexusPaths, workspace: str, port: int) -> Path:
    return folder(paths) / f"{workspace}-{port}.log"


def write(paths: NexusPaths, record: PreviewRecord) -> None:
    ensure_dir(folder(paths))
    target = record_path(paths, record.workspace, record.port)
    temp = target.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(record.to_json_dict(), out)
    os.replace(temp, target)


def read(path: Path) -> PreviewRecord | None:
    try:
        return PreviewRecord.from_json_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(paths: NexusPaths, record: PreviewRecord, *, only_pid: int | None = None) -> None:
    """Remove the record (and its log); with ``only_pid``, only if it is still that process's."""
    path = record_path(paths, record.workspace, record.port)
    if only_pid is not None:
        current = read(path)
        if current is None or current.pid != only_pid:
            return
    for stale in (path, log_path(paths, record.workspace, record.port)):
        with contextlib.suppress(OSError):
            stale.unlink()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running background preview (not a zombie, not another program)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one of ours
    proc = Path(f"/proc/{pid}")
    if sys.platform.startswith("linux") and proc.exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            return MARKER.encode() in (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return False
    return True


def live(paths: NexusPaths, workspace: str | None = None) -> list[PreviewRecord]:
    """The running background previews (of ``workspace``); dead records are removed."""
    found = []
    base = folder(paths)
    if not base.is_dir():
        return []
    for path in sorted(base.glob("*.json")):
        record = read(path)
        if record is None:
            continue
        if workspace is not None and record.workspace != workspace:
            continue
        if alive(record.pid):
            found.append(record)
        else:
            remove(paths, record, only_pid=record.pid)
    return sorted(found, key=lambda r: (r.workspace, r.port))
