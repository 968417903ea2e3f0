"""In-loop emulator (`async with Emulator()`), the AsyncDaytona client and timed behaviour."""

from __future__ import annotations

import asyncio

import docker
import pytest
from daytona import (
    CreateSandboxFromSnapshotParams,
    DaytonaNotFoundError,
    DaytonaTimeoutError,
    SandboxState,
)

from tests.daytona_emulator import Emulator
from tests.daytona_emulator.sdk import async_client

pytestmark = pytest.mark.docker


async def _wait_state(
    emu: Emulator, sandbox_id: str, state: str | None, timeout: float = 30
) -> None:
    """Wait for a state; ``None`` means the sandbox is gone."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = emu.store.find(sandbox_id)
        if (found.state if found else None) == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"sandbox {sandbox_id} never reached {state}")


async def test_async_client_flow(async_emulator: Emulator) -> None:
    async with async_client(async_emulator.api_url, async_emulator.api_key) as daytona:
        sandbox = await daytona.create(
            CreateSandboxFromSnapshotParams(labels={"flow": "async"}), timeout=120
        )
        assert sandbox.state == SandboxState.STARTED
        result = await sandbox.process.exec("echo async; exit 2")
        assert (result.exit_code, result.result) == (2, "async\n")
        await sandbox.fs.upload_file(b"abc", "x/y.txt")
        assert await sandbox.fs.download_file("x/y.txt") == b"abc"
        listed = [s async for s in daytona.list()]
        assert [s.id for s in listed] == [sandbox.id]
        await sandbox.stop()
        assert sandbox.state == SandboxState.STOPPED
        await sandbox.start()
        assert sandbox.state == SandboxState.STARTED
        await daytona.delete(sandbox, wait=True)
        with pytest.raises(DaytonaNotFoundError):
            await daytona.get(sandbox.id)


async def test_auto_stop_and_auto_delete(async_emulator: Emulator) -> None:
    # minute_seconds=0.2: an API "minute" lasts 0.2 s in this emulator
    async with async_client(async_emulator.api_url, async_emulator.api_key) as daytona:
        sandbox = await daytona.create(
            CreateSandboxFromSnapshotParams(auto_stop_interval=1, auto_delete_interval=1),
            timeout=120,
        )
        await _wait_state(async_emulator, sandbox.id, "stopped")
        await _wait_state(async_emulator, sandbox.id, None)
        assert async_emulator.container_id(sandbox.id) is None


async def test_auto_archive(async_emulator: Emulator) -> None:
    async with async_client(async_emulator.api_url, async_emulator.api_key) as daytona:
        sandbox = await daytona.create(
            CreateSandboxFromSnapshotParams(auto_stop_interval=0, auto_archive_interval=1),
            timeout=120,
        )
        await asyncio.sleep(0.5)
        assert async_emulator.store.get(sandbox.id).state == "started"  # 0 = never auto-stop
        await sandbox.stop()
        await _wait_state(async_emulator, sandbox.id, "archived")
        await sandbox.start()
        assert sandbox.state == SandboxState.STARTED


async def test_containers_removed_on_shutdown(docker_client: docker.DockerClient) -> None:
    emu = Emulator(docker_client=docker_client)
    async with emu:
        async with async_client(emu.api_url, emu.api_key) as daytona:
            await daytona.create(CreateSandboxFromSnapshotParams(), timeout=120)
            await daytona.create(CreateSandboxFromSnapshotParams(), timeout=120)
        label = f"nexus.daytona-emulator={emu.instance_id}"
        assert len(docker_client.containers.list(all=True, filters={"label": label})) == 2
    assert docker_client.containers.list(all=True, filters={"label": label}) == []


async def test_delete_while_creating_leaves_no_container(
    async_emulator: Emulator, docker_client: docker.DockerClient
) -> None:
    async_emulator.faults.slow_transitions(1.0)
    async with async_client(async_emulator.api_url, async_emulator.api_key) as daytona:
        with pytest.raises(DaytonaTimeoutError) as info:
            await daytona.create(CreateSandboxFromSnapshotParams(labels={"x": "y"}), timeout=0.5)
        sandbox_id = getattr(info.value, "sandbox_id", None)
        items = [s async for s in daytona.list()]
        assert len(items) == 1 and items[0].state == SandboxState.CREATING
        assert sandbox_id in (None, items[0].id)
        await daytona.delete(items[0])
        async_emulator.faults.slow_transitions(None)
        await _wait_state(async_emulator, items[0].id, None)
    label = f"nexus.daytona-emulator.sandbox={items[0].id}"
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
