"""What a workspace sends is never waited on once this side refused it: a sink that fails (a
full disk) ends the command at once, even one that would send forever."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus.disk_space import DiskGuard
from nexus.domain.errors import ErrorCode, NexusError
from tests.conftest import NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def test_an_endless_stream_into_a_full_disk_ends_with_a_clear_error(
    nexus_env: NexusEnv, tmp_path: Path
) -> None:
    assert nexus_env.run("workspace", "create", "firehose").returncode == 0

    async def run() -> None:
        from nexus.service.context import NexusContext
        from nexus.service.workspaces import WorkspaceService

        service = WorkspaceService(NexusContext())
        with (tmp_path / "out").open("wb") as handle:
            guard = DiskGuard(handle, tmp_path, "reading the stream", floor=0)

            def write(chunk: bytes) -> None:
                guard.write(chunk)
                if guard.room.written > 4 << 20:  # the disk "fills up" after 4 MiB
                    guard.room.floor = 1 << 62
                    guard.room.check()

            await service.exec("firehose", ["yes"], stdout=write, stderr=lambda _: None)

    with pytest.raises(NexusError) as refused:
        asyncio.run(asyncio.wait_for(run(), 120))  # `yes` never ends by itself
    assert refused.value.code == ErrorCode.SYNC_FAILED
    assert "would keep less than" in refused.value.message
    assert (tmp_path / "out").stat().st_size >= 4 << 20
    # the workspace is fine afterwards: nothing of `yes` is left running
    ps = nexus_env.run("workspace", "exec", "firehose", "--", "pgrep -x yes || echo none")
    assert ps.stdout.strip() == "none", ps.stdout


def test_the_guard_refuses_before_the_first_byte_when_the_disk_is_already_full(
    tmp_path: Path,
) -> None:
    with (tmp_path / "out").open("wb") as handle, pytest.raises(NexusError) as refused:
        DiskGuard(handle, tmp_path, "reading repo.bundle", floor=1 << 62)
    assert refused.value.code == ErrorCode.SYNC_FAILED
    assert "reading repo.bundle stopped after 0 bytes" in refused.value.message
