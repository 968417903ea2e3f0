"""One workspace's SSH access fields, read straight from the SQLite store without a model.

For the paths that must start in milliseconds (``workspace exec`` through the system ssh): no
pydantic, no migrations, no locks. Anything unexpected (no database, an older schema, a busy
file) gives None, and the caller takes the full path, which reports it properly.
"""

from __future__ import annotations

import _sqlite3
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain.kinds import REMOTE_PATH, BackendType, WorkspaceStatus, ssh_alias
from . import readonly

if TYPE_CHECKING:
    from ..domain.models import Workspace

_COLUMNS = (
    "name, backend, status, ssh_host, ssh_port, host_key, remote_path, metadata, forward_agent"
)


@dataclass(frozen=True)
class AccessRecord:
    name: str
    backend: str
    status: str
    ssh_host: str
    ssh_port: int | None
    host_key: str | None
    remote_path: str
    forward_agent: bool
    uses_token: bool  # the SSH user name is an expiring token (a gateway), not Nexus's key

    @property
    def ssh_alias(self) -> str:
        return ssh_alias(self.name)

    @property
    def reachable_directly(self) -> bool:
        """Exec may connect on the store's word alone: a running Docker workspace reached with
        Nexus's own key, its host key pinned. A token gateway (Daytona) is asked first: its
        answers (stopped, auto-stopped, token refused) have codes of their own."""
        return (
            self.backend == BackendType.DOCKER
            and self.status == WorkspaceStatus.RUNNING
            and self.ssh_port is not None
            and bool(self.host_key)
            and not self.uses_token
        )

    @classmethod
    def of(cls, workspace: Workspace) -> AccessRecord:
        return cls(
            name=workspace.name,
            backend=workspace.backend.value,
            status=workspace.status.value,
            ssh_host=workspace.ssh_host or "127.0.0.1",
            ssh_port=workspace.ssh_port,
            host_key=workspace.host_key,
            remote_path=workspace.remote_path or REMOTE_PATH,
            forward_agent=workspace.forward_agent,
            uses_token="ssh_token" in workspace.metadata,
        )


def access_record(database: Path, name: str) -> AccessRecord | None:
    if not database.is_file():
        return None
    db = readonly.connect(str(database), timeout=1.0)
    if db is None:
        return None
    try:
        row = db.execute(f"SELECT {_COLUMNS} FROM workspaces WHERE name = ?", (name,)).fetchone()
        metadata = json.loads(row[7] or "{}") if row is not None else None
    except (_sqlite3.Error, ValueError):
        return None
    finally:
        db.close()
    if row is None:
        return None
    return AccessRecord(
        name=row[0],
        backend=row[1],
        status=row[2],
        ssh_host=row[3] or "127.0.0.1",
        ssh_port=row[4],
        host_key=row[5],
        remote_path=row[6] or REMOTE_PATH,
        forward_agent=bool(row[8]),
        uses_token=isinstance(metadata, dict) and "ssh_token" in metadata,
    )
