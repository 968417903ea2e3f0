"""SQLite state store shared by every Nexus process (CLI, sidecars, agents) at once.

WAL mode lets readers run beside a writer; every write is a short ``BEGIN IMMEDIATE``
transaction, so two processes never interleave a read-modify-write (no lost updates).
A global ``revision`` counter is bumped by every write, so watchers (the sidecar) can
notice changes made by any process with one cheap query.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.errors import ErrorCode, NexusError, workspace_not_found
from ..domain.kinds import TRANSITIONAL, BackendType, WorkspaceStatus, utcnow
from ..fsutil import atomic_write
from ..ownership import current_owner
from ..paths import NexusPaths
from .migrations import MIGRATIONS

if TYPE_CHECKING:
    from ..domain.models import Workspace

_JSON_FIELDS = ("resources", "labels", "metadata")

DELETED = "deleted"  # the status of the last transition of a removed workspace


@dataclass(frozen=True)
class Transition:
    """A workspace's status from ``at`` on, with its resources then (None: not known)."""

    workspace: str
    backend: str
    status: str  # a WorkspaceStatus value, or DELETED
    at: datetime
    cpu: float | None = None
    memory_gb: float | None = None
    disk_gb: float | None = None


Transitions = list[Transition]  # (``StateStore.list`` hides the builtin in its class body)


def _stamp(at: datetime) -> str:
    """One fixed text form (UTC, microseconds), so the stored times sort as text."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _record_transition(conn: sqlite3.Connection, name: str, status: str | None = None) -> None:
    """Append the row's status (or ``status``) and its resources now to the history."""
    row = conn.execute(
        "SELECT backend, status, resources FROM workspaces WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return
    resources = json.loads(row["resources"])
    conn.execute(
        "INSERT INTO transitions (workspace, backend, status, at, cpu, memory_gb, disk_gb) "
        "VALUES (?,?,?,?,?,?,?)",
        (
            name,
            row["backend"],
            status or row["status"],
            _stamp(datetime.now(UTC)),
            resources.get("cpu"),
            resources.get("memory_gb"),
            resources.get("disk_gb"),
        ),
    )


def _status_of(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT status FROM workspaces WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row["status"])


def _row_to_workspace(row: sqlite3.Row, ports: dict[str, int]) -> Workspace:
    from ..domain.models import Resources, Workspace  # pydantic: only once there is a row

    data = dict(row)
    return Workspace(
        name=data["name"],
        backend=BackendType(data["backend"]),
        status=WorkspaceStatus(data["status"]),
        backend_id=data["backend_id"],
        ssh_host=data["ssh_host"],
        ssh_port=data["ssh_port"],
        ssh_user=data["ssh_user"],
        host_key=data["host_key"],
        remote_path=data["remote_path"],
        local_path=data["local_path"],
        branch=data["branch"],
        image=data["image"],
        resources=Resources.model_validate(json.loads(data["resources"])),
        labels=json.loads(data["labels"]),
        metadata=json.loads(data["metadata"]),
        ports=ports,
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        owner=data.get("owner"),
        forward_agent=bool(data.get("forward_agent", 0)),
    )


_RowKey = tuple[tuple[Any, ...], tuple[tuple[str, int], ...]]  # a row's values, its ports


@dataclass(frozen=True)
class _Listing:
    """The last ``list`` read: what it saw (its stamp), and the model built for each row."""

    stamp: tuple[int, int]
    records: tuple[Workspace, ...]
    by_row: dict[_RowKey, Workspace]


def _retry_locked(step: Callable[[], None], attempts: int = 100) -> None:
    for attempt in range(attempts):
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == attempts - 1:
                raise NexusError(
                    ErrorCode.STORE_ERROR,
                    f"the state store stayed locked: {exc}",
                    "Retry; if it persists, check for a stuck nexus process.",
                ) from exc
            time.sleep(0.05 + random.random() * 0.05)


def _owner_for(status: WorkspaceStatus) -> str | None:
    """A transition in progress records the process running it; a settled status records none."""
    return current_owner() if status in TRANSITIONAL else None


INSTALLATION_ID_FILE = "installation-id"


def read_installation_id(home: Path) -> str | None:
    """The installation id kept beside the store (``NEXUS_HOME/installation-id``), if any."""
    try:
        value = (home / INSTALLATION_ID_FILE).read_text().strip()
    except OSError:
        return None
    return value if value.isalnum() else None


def host_key_names(home: Path) -> list[str]:
    """Workspace names whose SSH host key this home keeps (``ssh/host_keys/<name>_ed25519``)."""
    keys = NexusPaths(home).host_keys_dir
    if not keys.is_dir():
        return []
    return sorted(p.name.removesuffix("_ed25519") for p in keys.glob("*_ed25519"))


class StoreDamaged(NexusError):
    """STORE_ERROR for a file that is not (or no longer) a Nexus state store."""


def store_broken(path: Path, detail: str) -> StoreDamaged:
    return StoreDamaged(
        ErrorCode.STORE_ERROR,
        f"the state store {path} is damaged ({detail})",
        "Run `nexus workspace recover`: it moves the file aside (kept as "
        f"{path.name}.broken-<time>) and rebuilds the records from your containers and sandboxes.",
    )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.RLock()
        self._writes = 0  # commits made on this connection (``data_version`` counts the others')
        self._listed: _Listing | None = None
        truncated = self._truncated()  # before connecting: connect creates a missing file empty
        self._refuse_new_id_for_known_keys()
        try:
            self._conn = sqlite3.connect(
                path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise NexusError(
                ErrorCode.STORE_ERROR,
                f"cannot open the state store {path}: {exc}",
                f"Check that {path.parent} exists and is writable by you.",
            ) from None
        try:
            if truncated:
                raise store_broken(path, "the file is empty")
            self._open()
        except NexusError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:  # not a database, malformed, foreign schema
            self._conn.close()
            raise store_broken(path, str(exc)) from None

    def _open(self) -> None:
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # the schema version this process upgraded from (None: new or already current), so the
        # caller can rewrite files derived from the rows (the ssh config) once
        self.upgraded_from: int | None = None
        # Switching to WAL needs an exclusive lock for a moment and SQLite answers "locked" at
        # once (no busy wait) while another process creates or migrates the same new file.
        _retry_locked(self._enable_wal)
        # one statement, one snapshot: another process may be creating this very file, and two
        # reads could see its schema without its version
        version, has_tables = self._conn.execute(
            "SELECT (SELECT user_version FROM pragma_user_version()),"
            " EXISTS (SELECT 1 FROM sqlite_master)"
        ).fetchone()
        if version == 0 and has_tables:
            raise store_broken(self.path, "a database, but not a Nexus state store")
        _retry_locked(self._migrate)
        for table in ("meta", "workspaces", "ports"):  # a valid file of another program
            self._conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
        self._keep_installation_id()

    def _truncated(self) -> bool:
        """An existing state.db of 0 bytes in a home that already has an installation id file:
        it was truncated (a new file is empty only while its creator writes the first page, and
        a home gets the id file only after its first store is complete)."""
        try:
            if self.path.stat().st_size > 0 or not self._id_file.exists():
                return False
        except FileNotFoundError:
            return False
        wal = self.path.with_name(self.path.name + "-wal")
        return not (wal.exists() and wal.stat().st_size > 0)

    def _refuse_new_id_for_known_keys(self) -> None:
        """A home without an installation id whose store is missing or empty, but which keeps the
        host keys of workspaces (a home from before the id file, whose store was lost): a new
        store would mint a new id and orphan their containers and sandboxes. Refused, before
        any file is made, so ``recover`` can still find the old id."""
        if self._id_file.exists():
            return
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size > 0:
                return  # a store with content keeps its own id (or reports its damage)
        names = host_key_names(self.path.parent)
        if not names:
            return
        state = "empty" if self.path.exists() else "missing"
        raise NexusError(
            ErrorCode.STORE_ERROR,
            f"the state store {self.path} is {state}, and this Nexus home has no installation id "
            f"but keeps the SSH host keys of workspaces it has no record of ({', '.join(names)})",
            "Run `nexus workspace recover`: it finds their containers by those names and "
            "rebuilds the records (a new store would not recognise them as this home's).",
        )

    @property
    def _id_file(self) -> Path:
        return self.path.with_name(INSTALLATION_ID_FILE)

    def _keep_installation_id(self) -> None:
        """Mirror the installation id to a file beside the store: it names this home's containers
        and sandboxes, so a lost or broken store can be rebuilt from them."""
        if not self._id_file.exists():
            atomic_write(self._id_file, self.installation_id + "\n", mode=0o600)

    def _enable_wal(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            self._conn.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise NexusError(
                    ErrorCode.STORE_ERROR,
                    f"state store {self.path} is busy: {exc}",
                    "Retry; if it persists, check for a stuck nexus process.",
                ) from exc
            try:
                yield conn
                conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._writes += 1

    def _migrate(self) -> None:
        with self._lock:
            conn = self._conn
            if conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
                return  # current: no write lock needed just to open the store
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for index in range(version, len(MIGRATIONS)):
                    for statement in MIGRATIONS[index].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {index + 1}")
                if 0 < version < len(MIGRATIONS):
                    self.upgraded_from = version
                if version == 0:
                    conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('installation_id', ?)",
                        (read_installation_id(self.path.parent) or secrets.token_hex(4),),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._writes += 1

    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def installation_id(self) -> str:
        """A short random id naming this Nexus home's containers, so several homes share one engine."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'installation_id'"
            ).fetchone()
        return str(row[0])

    def revision(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0])

    def _ports_of(self, conn: sqlite3.Connection, name: str) -> dict[str, int]:
        rows = conn.execute("SELECT purpose, port FROM ports WHERE workspace = ?", (name,))
        return {r["purpose"]: r["port"] for r in rows}

    # ---- workspaces --------------------------------------------------------------------------
    def reserve(self, workspace: Workspace) -> Workspace:
        """Insert a new workspace row; the name is taken atomically (WORKSPACE_EXISTS otherwise)."""
        with self._write() as conn:
            try:
                conn.execute(
                    """INSERT INTO workspaces (name, backend, status, backend_id, ssh_host,
                    ssh_port, ssh_user, host_key, remote_path, local_path, branch, image,
                    resources, labels, metadata, created_at, updated_at, owner, forward_agent)
                    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (
                        workspace.name,
                        workspace.backend.value,
                        workspace.status.value,
                        workspace.backend_id,
                        workspace.ssh_host,
                        workspace.ssh_port,
                        workspace.ssh_user,
                        workspace.host_key,
                        workspace.remote_path,
                        workspace.local_path,
                        workspace.branch,
                        workspace.image,
                        workspace.resources.model_dump_json(),
                        json.dumps(workspace.labels),
                        json.dumps(workspace.metadata),
                        workspace.created_at.isoformat(),
                        workspace.updated_at.isoformat(),
                        _owner_for(workspace.status),
                        int(workspace.forward_agent),
                    ),
                )
            except sqlite3.IntegrityError:
                raise NexusError(
                    ErrorCode.WORKSPACE_EXISTS,
                    f"workspace '{workspace.name}' already exists",
                    f"Pick another name, or delete it first: `nexus workspace delete {workspace.name}`.",
                ) from None
            _record_transition(conn, workspace.name)
        return workspace

    def get(self, name: str) -> Workspace:
        found = self.find(name)
        if found is None:
            raise workspace_not_found(name)
        return found

    def find(self, name: str) -> Workspace | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM workspaces WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            return _row_to_workspace(row, self._ports_of(self._conn, name))

    def list(self, backend: BackendType | None = None) -> list[Workspace]:
        """Every record (of ``backend``), by name.

        The records are shared with later calls while the file stays unchanged: treat them as
        values (``model_copy(update=...)``), never change one in place.
        """
        with self._lock:
            records = self._records()
        if backend is None:
            return list(records)
        return [ws for ws in records if ws.backend is backend]

    def _records(self) -> tuple[Workspace, ...]:
        """All records, read again only when the database changed since the last read.

        ``PRAGMA data_version`` moves whenever another connection (any process) commits, and
        ``_writes`` whenever this one commits or rolls back (inside its own transaction it
        always reads). The stamp is read before the rows, so rows newer than their stamp can
        only cause one more read, never a stale answer. A re-read builds models only for rows
        (with their ports) that differ from the last read.
        """
        stamp = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._writes)
        listed = self._listed
        if listed is not None and listed.stamp == stamp and not self._conn.in_transaction:
            return listed.records
        rows = self._conn.execute("SELECT * FROM workspaces ORDER BY name").fetchall()
        ports: dict[str, dict[str, int]] = {}
        for prow in self._conn.execute("SELECT workspace, purpose, port FROM ports"):
            ports.setdefault(prow["workspace"], {})[prow["purpose"]] = prow["port"]
        before = listed.by_row if listed is not None else {}
        by_row: dict[_RowKey, Workspace] = {}
        for row in rows:
            own = ports.get(row["name"], {})
            key = (tuple(row), tuple(sorted(own.items())))
            found = before.get(key)
            by_row[key] = found if found is not None else _row_to_workspace(row, own)
        self._listed = _Listing(stamp, tuple(by_row.values()), by_row)
        return self._listed.records

    def update(self, name: str, **changes: Any) -> Workspace:
        """Change some fields of one row in one transaction (other fields untouched)."""
        from ..domain.models import Resources

        columns: dict[str, Any] = {}
        for key, value in changes.items():
            if key in _JSON_FIELDS:
                value = (
                    value.model_dump_json() if isinstance(value, Resources) else json.dumps(value)
                )
            elif isinstance(value, BackendType | WorkspaceStatus):
                value = value.value
            elif isinstance(value, bool):
                value = int(value)
            columns[key] = value
        if "status" in changes:
            columns["owner"] = _owner_for(WorkspaceStatus(changes["status"]))
        columns["updated_at"] = utcnow().isoformat()
        assignments = ", ".join(f"{column} = ?" for column in columns)
        with self._write() as conn:
            before = _status_of(conn, name) if "status" in columns else None
            cursor = conn.execute(
                f"UPDATE workspaces SET {assignments}, revision = revision + 1 WHERE name = ?",
                (*columns.values(), name),
            )
            if cursor.rowcount == 0:
                raise workspace_not_found(name)
            if "status" in columns and before != columns["status"]:
                _record_transition(conn, name)
        return self.get(name)

    def update_metadata(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> Workspace:
        """Read-modify-write the metadata JSON inside one transaction."""
        with self._write() as conn:
            row = conn.execute("SELECT metadata FROM workspaces WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise workspace_not_found(name)
            metadata = json.loads(row["metadata"])
            mutate(metadata)
            conn.execute(
                "UPDATE workspaces SET metadata = ?, updated_at = ?, revision = revision + 1 "
                "WHERE name = ?",
                (json.dumps(metadata), utcnow().isoformat(), name),
            )
        return self.get(name)

    def set_status_if(
        self, name: str, expected: set[WorkspaceStatus], new: WorkspaceStatus
    ) -> bool:
        """Compare-and-set the status: True if it was one of ``expected`` and is now ``new``."""
        placeholders = ",".join("?" for _ in expected)
        with self._write() as conn:
            before = _status_of(conn, name)
            cursor = conn.execute(
                f"UPDATE workspaces SET status = ?, owner = ?, updated_at = ?, "
                f"revision = revision + 1 WHERE name = ? AND status IN ({placeholders})",
                (
                    new.value,
                    _owner_for(new),
                    utcnow().isoformat(),
                    name,
                    *[s.value for s in expected],
                ),
            )
            if cursor.rowcount == 1 and before != new.value:
                _record_transition(conn, name)
            return cursor.rowcount == 1

    def remove(self, name: str) -> None:
        with self._write() as conn:
            _record_transition(conn, name, DELETED)
            conn.execute("DELETE FROM ports WHERE workspace = ?", (name,))
            conn.execute("DELETE FROM workspaces WHERE name = ?", (name,))

    # ---- history -----------------------------------------------------------------------------
    def transitions(self, since: datetime, until: datetime | None = None) -> Transitions:
        """The transitions recorded in [``since``, ``until``), and before them, for each
        workspace, its last one before ``since`` (its status when the window opened); in the
        order they were recorded."""
        low = _stamp(since)
        high = _stamp(until) if until is not None else "9999"
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM transitions WHERE (at >= ? AND at < ?) OR id IN "
                "(SELECT MAX(id) FROM transitions WHERE at < ? GROUP BY workspace, backend) "
                "ORDER BY id",
                (low, high, low),
            ).fetchall()
        return [
            Transition(
                workspace=row["workspace"],
                backend=row["backend"],
                status=row["status"],
                at=datetime.fromisoformat(row["at"]),
                cpu=row["cpu"],
                memory_gb=row["memory_gb"],
                disk_gb=row["disk_gb"],
            )
            for row in rows
        ]

    # ---- ports -------------------------------------------------------------------------------
    def allocate_port(
        self, name: str, purpose: str, low: int, high: int, exclude: AbstractSet[int] = frozenset()
    ) -> int:
        """Give ``name`` a host port for ``purpose`` from [low, high], unique across all workspaces.

        The choice and the insert happen in one write transaction, so concurrent creates in
        several processes can never get the same port. Ports something else listens on are skipped.
        """
        with self._write() as conn:
            existing = conn.execute(
                "SELECT port FROM ports WHERE workspace = ? AND purpose = ?", (name, purpose)
            ).fetchone()
            if existing:
                return int(existing["port"])
            taken = {r["port"] for r in conn.execute("SELECT port FROM ports")}
            for port in range(low, high + 1):
                if port in taken or port in exclude or not _port_is_free(port):
                    continue
                conn.execute(
                    "INSERT INTO ports (port, workspace, purpose) VALUES (?, ?, ?)",
                    (port, name, purpose),
                )
                return port
        raise NexusError(
            ErrorCode.PORTS_EXHAUSTED,
            f"no free port left in {low}-{high}",
            "Delete unused workspaces or widen backends.docker.port_range.",
        )

    def release_ports(self, name: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM ports WHERE workspace = ?", (name,))

    def claim_port(self, name: str, purpose: str, port: int) -> None:
        """Record a port ``name`` already holds (a rebuilt record: the container publishes it)."""
        with self._write() as conn:
            conn.execute("DELETE FROM ports WHERE port = ? AND workspace = ?", (port, name))
            try:
                conn.execute(
                    "INSERT INTO ports (port, workspace, purpose) VALUES (?, ?, ?)",
                    (port, name, purpose),
                )
            except sqlite3.IntegrityError:
                raise NexusError(
                    ErrorCode.PORTS_EXHAUSTED,
                    f"port {port} of workspace '{name}' is recorded for another workspace",
                    "Delete one of the two workspaces.",
                ) from None
