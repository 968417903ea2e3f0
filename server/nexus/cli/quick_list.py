"""`nexus workspace list` for the common case, read straight from the state store file and the
engine's socket: no event loop, no models, no rich, no docker SDK.

It answers only where it prints exactly what the full listing (``nexus.cli.listing``) prints and
the full listing would change nothing: the default config, a current store, only Docker
workspaces, each in a settled status that the engine confirms, no container of this installation
without a record, and text the table shows as is. Anything else (or any failure) raises
``Unhandled`` before a byte is printed, and the full listing runs instead, recording what it
finds. The store is opened read-only: this path never writes.
"""

from __future__ import annotations

# The C module: ``sqlite3`` imports ``datetime`` and registers adapters this read never needs.
import _sqlite3
import json
import os
import sys
from typing import Any

from ..backends.docker.engine import STATE_STATUS, installation_filter, states_by_workspace
from ..backends.docker.engine_http import engine_socket, list_containers
from ..domain.errors import NexusError
from ..store import readonly
from .list_view import COLUMNS, EMPTY, STATUS_STYLE, endpoint_text
from .output import print_json

# kept equal to their sources by tests (importing those sources costs what this path saves)
CONFIG_ENV_OVERRIDES = (  # nexus.config.loader.ENV_OVERRIDES
    "NEXUS_DEFAULT_BACKEND",
    "DAYTONA_API_KEY",
    "DAYTONA_API_URL",
    "NEXUS_DAYTONA_REGION",
    "NEXUS_SYNC_THRESHOLD",
    "NEXUS_MUTAGEN",
)
CREATE_INTERRUPTED = "create_interrupted"  # nexus.service.workspaces.CREATE_INTERRUPTED
SSH_ALIAS_PREFIX = "nexus-"  # nexus.domain.kinds.SSH_ALIAS_PREFIX

# statuses shown as read (the transitional ones belong to a running operation, whose owner the
# full listing checks; "unknown" is never a recorded engine answer)
SETTLED = frozenset({"running", "stopped", "paused", "error", "missing"})
_RESOURCES = {"cpu": "cpu", "memory_gb": "memoryGb", "disk_gb": "diskGb"}
_SGR = {"green": "32", "yellow": "33", "red": "31", "dim": "2", "bold": "1"}
_COLUMNS = (
    "name, backend, status, backend_id, ssh_host, ssh_port, ssh_user, remote_path, local_path,"
    " branch, image, resources, labels, metadata, created_at, updated_at, forward_agent"
)


class Unhandled(Exception):
    """Left to the full listing."""


def quick_list(backend_filter: str | None, as_json: bool) -> None:
    """Print the list, or raise ``Unhandled`` having printed nothing."""
    if backend_filter not in (None, "docker"):
        raise Unhandled("not the docker backend")
    home = _home()
    if os.path.exists(os.path.join(home, "config.yaml")) or any(
        os.environ.get(var) for var in CONFIG_ENV_OVERRIDES
    ):
        raise Unhandled("a config to load")
    installation_id, rows = _read_store(home)
    recorded = {row["name"] for row in rows}
    listed = [row for row in rows if backend_filter is None or row["backend"] == backend_filter]
    if any(row["backend"] != "docker" for row in listed):
        raise Unhandled("another backend")
    if listed:
        _confirm_statuses(listed, recorded, installation_id)
    elif _host_key_names(home) - recorded:
        raise Unhandled("host keys without a record: the engine is asked")
    workspaces = [_public(row) for row in listed]
    if as_json:
        print_json({"workspaces": workspaces})
    else:
        sys.stdout.write(_table(workspaces))  # made whole first: nothing printed if Unhandled


def _home() -> str:
    """``nexus.paths.nexus_home`` without pathlib."""
    override = os.environ.get("NEXUS_HOME")
    return os.path.expanduser(override) if override else os.path.expanduser("~/.nexus")


def _read_store(home: str) -> tuple[str, list[dict[str, Any]]]:
    """The installation id and every workspace row, from one read transaction."""
    path = os.path.join(home, "state.db")
    try:
        if os.stat(path).st_size == 0 or not os.path.exists(os.path.join(home, "installation-id")):
            raise Unhandled("a new or damaged store")
    except OSError:
        raise Unhandled("no store") from None
    conn = readonly.connect(path, timeout=30.0)
    if conn is None:
        raise Unhandled("a store that cannot be opened read-only, or one to migrate")
    try:
        conn.execute("BEGIN")  # one snapshot for every read below
        found = conn.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()
        cursor = conn.execute(f"SELECT {_COLUMNS} FROM workspaces ORDER BY name")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except _sqlite3.Error:
        raise Unhandled("cannot read the store") from None
    finally:
        conn.close()
    if found is None or not isinstance(found[0], str):
        raise Unhandled("no installation id")
    return found[0], rows


def _confirm_statuses(
    listed: list[dict[str, Any]], recorded: set[str], installation_id: str
) -> None:
    """The engine reports each listed workspace in the status its row records, and has no
    container of this installation without a row (else the full listing records the change
    or points at `workspace recover`)."""
    path = engine_socket(None)
    if path is None:
        raise Unhandled("an engine the SDK reaches")
    try:
        states = states_by_workspace(list_containers(path, installation_filter(installation_id)))
    except NexusError:
        raise Unhandled("the engine did not answer") from None
    if set(states) - recorded:
        raise Unhandled("containers without a record")
    for row in listed:
        observed = STATE_STATUS.get(states[row["name"]]) if row["name"] in states else "missing"
        if observed not in SETTLED or observed != row["status"]:
            raise Unhandled("a status to record or to check")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """``Workspace.public_dict()`` of a Docker row, for the values it shows as they are."""
    metadata = _loads(row["metadata"], dict)
    if metadata.get(CREATE_INTERRUPTED):
        raise Unhandled("an interrupted create")
    labels = _loads(row["labels"], dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise Unhandled("labels to convert")
    for key in ("name", "backend", "status", "remote_path"):
        _check(row[key], str)
    for key in ("backend_id", "ssh_host", "ssh_user", "local_path", "branch", "image"):
        _check(row[key], str, optional=True)
    _check(row["ssh_port"], int, optional=True)
    if row["forward_agent"] not in (0, 1):
        raise Unhandled("a flag to convert")
    return {
        "name": row["name"],
        "backend": row["backend"],
        "status": row["status"],
        "backendId": row["backend_id"],
        "sshHost": row["ssh_host"],
        "sshPort": row["ssh_port"],
        "sshUser": row["ssh_user"],
        "remotePath": row["remote_path"],
        "localPath": row["local_path"],
        "branch": row["branch"],
        "image": row["image"],
        "resources": _resources(row["resources"]),
        "labels": labels,
        "createdAt": _utc_time(row["created_at"]),
        "updatedAt": _utc_time(row["updated_at"]),
        "forwardAgent": bool(row["forward_agent"]),
        "sshAlias": SSH_ALIAS_PREFIX + row["name"],
        "autoStop": None,  # a Docker workspace never stops itself
    }


def _loads(text: Any, kind: type) -> Any:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise Unhandled("a value to convert") from None
    _check(value, kind)
    return value


def _check(value: Any, kind: type, *, optional: bool = False) -> None:
    if (value is None and optional) or (type(value) is kind):
        return
    raise Unhandled("a value to convert")


def _resources(text: Any) -> dict[str, float | None]:
    given = _loads(text, dict)
    if not set(given) <= set(_RESOURCES):
        raise Unhandled("resources to convert")
    shown: dict[str, float | None] = {}
    for key, alias in _RESOURCES.items():
        value = given.get(key)
        if value is not None:
            if type(value) not in (int, float) or value != value or abs(value) == float("inf"):
                raise Unhandled("resources to convert")
            value = float(value)
        shown[alias] = value
    return shown


def _utc_time(stored: Any) -> str:
    """A stored time (``utcnow().isoformat()``: whole seconds, UTC) as the JSON shows it."""
    _check(stored, str)
    text: str = stored
    if len(text) != 25 or not text.endswith("+00:00"):
        raise Unhandled("a time to convert")
    separators = text[4] + text[7] + text[10] + text[13] + text[16]
    digits = text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    if separators != "--T::" or not (digits.isascii() and digits.isdigit()):
        raise Unhandled("a time to convert")
    return text[:19] + "Z"


def _table(workspaces: list[dict[str, Any]]) -> str:
    """The table rich prints for these workspaces to this stdout."""
    if sys.platform == "win32" or "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        raise Unhandled("a console rich sets up otherwise")
    try:
        terminal = sys.stdout.isatty()
    except ValueError:
        terminal = False
    if terminal and (
        os.environ.get("NO_COLOR") or os.environ.get("TERM", "").lower() in ("dumb", "unknown")
    ):
        raise Unhandled("a terminal rich styles otherwise")
    if not workspaces:
        before, command, after = EMPTY
        return f"{before}{_styled(command, 'bold', terminal)}{after}\n"
    rows = [table_row(ws) for ws in workspaces]
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return render_table(rows, width=_width(), terminal=terminal, ellipsis=encoding == "utf8")


def table_row(ws: dict[str, Any]) -> list[str]:
    """A workspace's cells (from its public form), as the full listing fills them."""
    return [
        ws["name"],
        ws["backend"],
        ws["status"],
        ws["branch"] or "-",
        endpoint_text(ws["sshUser"], ws["sshHost"], ws["sshPort"]),
        ws["localPath"] or "-",
    ]


def _styled(text: str, style: str, terminal: bool) -> str:
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m" if terminal and style else text


def render_table(rows: list[list[str]], *, width: int, terminal: bool, ellipsis: bool) -> str:
    """What rich prints for ``Table(box=None, pad_edge=False)`` with the list's columns and these
    rows (the status in the third column styled), on a console ``width`` wide: in colour on a
    terminal, truncating a cell that does not fit with "…" (only where ``ellipsis`` may be
    written). Raises Unhandled where rich would do more: wrap a cell onto more lines, measure
    text other than printable ASCII, or read markup."""
    for row in rows:
        for cell in row:
            if not (cell.isascii() and cell.isprintable()) or "\\" in cell:
                raise Unhandled("text rich may lay out otherwise")
    count = len(COLUMNS)
    pads = [(index > 0) + (index < count - 1) for index in range(count)]
    natural = [
        min(max(len(cell) for cell in column) + pad, width)
        for column, pad in zip(zip(COLUMNS, *rows, strict=True), pads, strict=True)
    ]
    widths = [max(fitted, 0) - pad for fitted, pad in zip(_fit(natural, width), pads, strict=True)]

    def cell_text(text: str, size: int) -> str:
        if len(text) <= size:
            return text
        if " " in text or size < 2 or not ellipsis:
            raise Unhandled("a cell to wrap or to cut")
        return text[: size - 1] + "…"

    header = [
        _styled(cell_text(c, w).ljust(w), "bold", terminal)
        for c, w in zip(COLUMNS, widths, strict=True)
    ]
    lines = [(_styled(" ", "bold", terminal) * 2).join(header)]
    for row in rows:
        cells = [cell_text(text, size) for text, size in zip(row, widths, strict=True)]
        status = cells[2]
        padded = [cell.ljust(size) for cell, size in zip(cells, widths, strict=True)]
        padded[2] = _styled(status, STATUS_STYLE.get(row[2], ""), terminal) + " " * (
            widths[2] - len(status)
        )
        lines.append("  ".join(padded))
    return "".join(line + "\n" for line in lines)


def _fit(widths: list[int], max_width: int) -> list[int]:
    """Column widths (padding included) narrowed to ``max_width`` the way rich's
    ``Table._calculate_column_widths`` narrows columns that may all wrap: the widest first,
    down to the next widest, then all evenly."""
    if sum(widths) <= max_width:
        return widths
    excess = sum(widths) - max_width
    while excess > 0:
        widest = max(widths)
        second = max((w for w in widths if w != widest), default=0)
        if widest == second:
            break
        ratios = [1 if w == widest else 0 for w in widths]
        widths = _ratio_reduce(excess, ratios, [min(excess, widest - second)] * len(widths), widths)
        excess = sum(widths) - max_width
    if excess > 0:
        widths = _ratio_reduce(excess, [1] * len(widths), widths, widths)
    return [w if w >= 1 else 0 for w in widths]


def _ratio_reduce(
    total: int, ratios: list[int], maximums: list[int], values: list[int]
) -> list[int]:
    """``rich._ratio.ratio_reduce``."""
    ratios = [ratio if maximum else 0 for ratio, maximum in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    result = []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            result.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _width() -> int:
    """The console width rich uses: COLUMNS, else the terminal of stdin, stdout or stderr, else 80."""
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns)
    for fd in (0, 1, 2):
        try:
            return os.get_terminal_size(fd).columns or 80
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def _host_key_names(home: str) -> set[str]:
    """The names ``Path.glob("*_ed25519")`` finds in the host keys folder (as the full listing
    reads them)."""
    try:
        files = os.listdir(os.path.join(home, "ssh", "host_keys"))
    except OSError:
        return set()
    return {f.removesuffix("_ed25519") for f in files if f.endswith("_ed25519")}
