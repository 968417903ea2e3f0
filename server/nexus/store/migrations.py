"""Versioned schema migrations: each entry upgrades the schema from its index to index + 1."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: workspaces, their allocated ports, and a revision counter watchers poll.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE workspaces (
        name TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        status TEXT NOT NULL,
        backend_id TEXT,
        ssh_host TEXT,
        ssh_port INTEGER,
        ssh_user TEXT,
        host_key TEXT,
        remote_path TEXT NOT NULL,
        local_path TEXT,
        branch TEXT,
        image TEXT,
        resources TEXT NOT NULL DEFAULT '{}',
        labels TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        revision INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE ports (
        port INTEGER PRIMARY KEY,
        workspace TEXT NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,
        purpose TEXT NOT NULL,
        UNIQUE (workspace, purpose)
    );
    INSERT INTO meta (key, value) VALUES ('revision', '0');
    """,
    # 2: the process running a create/start/stop/delete, to recognise stale transitions.
    """
    ALTER TABLE workspaces ADD COLUMN owner TEXT;
    """,
    # 3: ssh-agent forwarding per workspace (opt-in; rows from before stay off).
    """
    ALTER TABLE workspaces ADD COLUMN forward_agent INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: every change of a workspace's status with its resources then (`nexus usage`). No
    # foreign key: the history outlives the record. The workspaces already there enter with
    # their status at the upgrade (their earlier history is unknown).
    """
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        workspace TEXT NOT NULL,
        backend TEXT NOT NULL,
        status TEXT NOT NULL,
        at TEXT NOT NULL,
        cpu REAL,
        memory_gb REAL,
        disk_gb REAL
    );
    CREATE INDEX transitions_at ON transitions (at);
    INSERT INTO transitions (workspace, backend, status, at, cpu, memory_gb, disk_gb)
        SELECT name, backend, status, strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'),
            json_extract(resources, '$.cpu'), json_extract(resources, '$.memory_gb'),
            json_extract(resources, '$.disk_gb')
        FROM workspaces;
    """,
]
