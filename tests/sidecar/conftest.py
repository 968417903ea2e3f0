"""Fixtures: a private HOME/NEXUS_HOME per test, the sidecar as a subprocess, container cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sidecar_helpers import DockerGate, SidecarClient, docker_socket, start_client

from nexus.store import StateStore


@dataclass
class NexusHome:
    home: Path
    nexus_home: Path
    source: Path
    installation_id: str
    env: dict[str, str]

    @property
    def state_db(self) -> Path:
        return self.nexus_home / "state.db"

    @property
    def ssh_config(self) -> Path:
        return self.nexus_home / "ssh" / "config"

    def store(self) -> StateStore:
        return StateStore(self.state_db)


def _remove_containers(installation_id: str) -> None:
    with contextlib.suppress(Exception):
        import docker

        client = docker.from_env(timeout=60)
        for container in client.containers.list(
            all=True, filters={"label": f"nexus.installation={installation_id}"}
        ):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
        client.close()


@pytest.fixture
def nexus_home(tmp_path: Path) -> Iterator[NexusHome]:
    """HOME and NEXUS_HOME in temp dirs; every container of this installation removed at the end."""
    home = tmp_path / "home"
    nexus = home / ".nexus"
    source = home / "project"
    source.mkdir(parents=True)
    (source / "README.md").write_text("hello from the host\n")
    if os.geteuid() == 0:  # the workspace user adopts the folder's owner: make it a normal user
        for path in (tmp_path, home, source, source / "README.md"):
            os.chown(path, 1000, 1000)
    # A port block of its own, away from the default range other Nexus homes on this engine use.
    low = random.randrange(40000, 60000, 100)
    (nexus).mkdir(parents=True, exist_ok=True)
    (nexus / "config.yaml").write_text(
        f'version: "2"\nbackends:\n  docker:\n    port_range: [{low}, {low + 99}]\n'
    )
    store = StateStore(nexus / "state.db")
    installation_id = store.installation_id
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(HOME=str(home), NEXUS_HOME=str(nexus))
    env.pop("SSH_AUTH_SOCK", None)
    try:
        yield NexusHome(home, nexus, source, installation_id, env)
    finally:
        _remove_containers(installation_id)


async def _stop(lsp: SidecarClient) -> None:
    """Shut the server down cleanly if it still answers; never hang a teardown."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(lsp.shutdown_session(), 60)
    if lsp._server is not None and lsp._server.returncode is None:
        lsp._server.kill()
    await lsp.stop()


@pytest_asyncio.fixture
async def client(nexus_home: NexusHome) -> AsyncIterator[SidecarClient]:
    lsp = await start_client(nexus_home.env, nexus_home.source)
    try:
        yield lsp
    finally:
        await _stop(lsp)


@pytest_asyncio.fixture
async def gate_factory(nexus_home: NexusHome) -> AsyncIterator[object]:
    """``await make(pattern)`` -> (DockerGate, client of a sidecar whose engine is behind it)."""
    upstream = docker_socket()
    if upstream is None:
        pytest.skip("the Docker gate needs a unix-socket engine")
    socket_dir = Path(tempfile.mkdtemp(prefix="nxgate"))  # short: unix socket paths are limited
    gates: list[DockerGate] = []
    clients: list[SidecarClient] = []

    async def make(pattern: str) -> tuple[DockerGate, SidecarClient]:
        gate = DockerGate(upstream, socket_dir / f"d{len(gates)}.sock", pattern)
        await gate.start()
        gates.append(gate)
        env = dict(nexus_home.env, DOCKER_HOST=gate.docker_host)
        lsp = await start_client(env, nexus_home.source)
        clients.append(lsp)
        return gate, lsp

    try:
        yield make
    finally:
        for gate in gates:
            gate.release()
        for lsp in clients:
            await _stop(lsp)
        for gate in gates:
            await gate.close()
        shutil.rmtree(socket_dir, ignore_errors=True)
