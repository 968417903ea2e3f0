"""Opening the state store read-only, for the start-up paths that read it without a
``StateStore`` (no migrations, no locks, never a write): `workspace list` and `workspace exec`.

Built on the C module ``_sqlite3`` and plain strings: ``sqlite3`` imports ``datetime`` and
registers adapters, and ``pathlib`` costs more than these paths can spend.
"""

from __future__ import annotations

import _sqlite3

from .migrations import MIGRATIONS

_URI_SAFE = frozenset("/._-~")


def connect(path: str, timeout: float) -> _sqlite3.Connection | None:
    """A read-only connection to the store at ``path`` that is at the current schema (one
    not upgraded yet is the full path's to upgrade, with the ssh files); None when it cannot be
    opened as such."""
    uri = "file:" + "".join(c if c.isalnum() or c in _URI_SAFE else f"%{ord(c):02X}" for c in path)
    if not uri.isascii():
        return None
    try:
        conn = _sqlite3.connect(uri + "?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    except _sqlite3.Error:
        return None
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    except _sqlite3.Error:
        current = False
    if not current:
        conn.close()
        return None
    return conn
