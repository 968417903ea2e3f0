"""ssh-agent forwarding is chosen per workspace: the model, the store, the generated ssh config."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nexus.access.ssh_config import render_config, render_stanza
from nexus.config.schema import NexusConfig
from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.workspaces import WorkspaceService
from nexus.store import StateStore
from nexus.store.migrations import MIGRATIONS
from tests.factories import running_docker_workspace


def running(name: str, port: int, *, forward_agent: bool = False) -> Workspace:
    return running_docker_workspace(name, port, forward_agent=forward_agent)


def forward_agent_lines(config: str) -> dict[str, str]:
    """Host alias -> its ForwardAgent value, from a rendered config."""
    found: dict[str, str] = {}
    host = None
    for line in config.splitlines():
        words = line.split()
        if words[:1] == ["Host"]:
            host = words[1]
        elif words[:1] == ["ForwardAgent"] and host is not None:
            assert host not in found, f"two ForwardAgent lines for {host}"
            found[host] = words[1]
    return found


def test_config_default_is_off() -> None:
    assert NexusConfig().ssh.forward_agent is False
    assert (
        Workspace(
            name="w", backend=BackendType.DOCKER, status=WorkspaceStatus.RUNNING
        ).forward_agent
        is False
    )


@pytest.mark.parametrize(("on", "expected"), [(True, "yes"), (False, "no")])
def test_stanza_says_what_the_workspace_chose(tmp_path: Path, on: bool, expected: str) -> None:
    stanza = render_stanza(
        running("one", 32801, forward_agent=on),
        identity_file=tmp_path / "id",
        known_hosts=tmp_path / "known_hosts",
        server_alive_interval=30,
        server_alive_count_max=4,
    )
    assert forward_agent_lines(stanza) == {"nexus-one": expected}


def test_config_mixes_workspaces_with_and_without_forwarding(tmp_path: Path) -> None:
    config = render_config(
        [
            running("trusted", 32801, forward_agent=True),
            running("agent-box", 32802),
            running("other", 32803, forward_agent=False),
        ],
        NexusPaths(tmp_path),
        server_alive_interval=30,
        server_alive_count_max=4,
    )
    assert forward_agent_lines(config) == {
        "nexus-trusted": "yes",
        "nexus-agent-box": "no",
        "nexus-other": "no",
    }


def test_store_keeps_the_choice(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.reserve(running("on", 32801, forward_agent=True))
    store.reserve(running("off", 32802))
    assert store.get("on").forward_agent is True
    assert store.get("off").forward_agent is False
    assert {ws.name: ws.forward_agent for ws in store.list()} == {"on": True, "off": False}
    # other updates leave it alone; an update can change it
    assert store.update("on", status=WorkspaceStatus.STOPPED).forward_agent is True
    assert store.update("off", forward_agent=True).forward_agent is True
    raw = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT name, forward_agent FROM workspaces ORDER BY name"
    )
    assert raw.fetchall() == [("off", 1), ("on", 1)]
    assert store.get("on").public_dict()["forwardAgent"] is True


def v2_store(path: Path) -> None:
    """A state database as the previous Nexus left it (schema 2), with one workspace."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO meta (key, value) VALUES ('installation_id', 'abcd1234')")
    conn.execute(
        """INSERT INTO workspaces (name, backend, status, ssh_host, ssh_port, ssh_user,
        remote_path, created_at, updated_at) VALUES
        ('old', 'docker', 'running', '127.0.0.1', 32801, 'nexus', '/workspace',
         '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"""
    )
    conn.commit()
    conn.close()


def test_migration_3_turns_existing_workspaces_off(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    v2_store(db)
    store = StateStore(db)
    assert store.schema_version() == len(MIGRATIONS) >= 3
    assert store.upgraded_from == 2
    old = store.get("old")
    assert old.forward_agent is False
    assert old.ssh_port == 32801
    store.close()
    again = StateStore(db)
    assert again.upgraded_from is None  # already current: nothing to redo
    again.close()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert StateStore(fresh / "state.db").upgraded_from is None  # a new store is no upgrade


def test_an_upgraded_store_rewrites_a_stale_ssh_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    nexus_home = home / ".nexus"
    nexus_home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NEXUS_HOME", str(nexus_home))
    paths = NexusPaths(nexus_home)
    v2_store(paths.state_db)
    paths.ssh_dir.mkdir()
    # what the previous Nexus generated: forwarding on for every workspace
    paths.ssh_config.write_text("Host nexus-old\n  Port 32801\n  ForwardAgent yes\n")
    context = NexusContext(paths)
    try:
        service = WorkspaceService(context)
        assert "store" not in context.__dict__  # the service opens the store only when used
        assert service.get("old").forward_agent is False
        assert forward_agent_lines(paths.ssh_config.read_text()) == {"nexus-old": "no"}
    finally:
        context.close()
