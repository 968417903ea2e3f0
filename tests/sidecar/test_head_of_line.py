"""A long create never holds up a ``list``: the sidecar answers reads while creates wait."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from sidecar_helpers import SidecarClient, eventually

from conftest import NexusHome
from nexus.locking import file_lock
from nexus.paths import NexusPaths

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

# Python's default thread pool for blocking calls (min(32, CPUs + 4) threads): one more create
# than that, each holding a thread while it waits, leaves none free for the list's engine read.
DEFAULT_POOL = min(32, (os.cpu_count() or 1) + 4)
CREATES = DEFAULT_POOL + 1


def preparing_image(client: SidecarClient, token: str) -> bool:
    return any(
        (getattr(value, "message", None) or "").startswith("Preparing workspace image")
        for value in client.progress_reports.get(token, [])
    )


async def test_list_answers_while_creates_wait_for_the_image_build(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    names = [f"queued-{index}" for index in range(CREATES)]
    creates: list[asyncio.Future[Any]] = []
    # another process builds the workspace image: every create waits for it, in a thread
    with file_lock(NexusPaths(nexus_home.nexus_home).lock("image-build")):
        for name in names:
            client.progress_reports[name] = []
            params = {"name": name, "sourcePath": str(nexus_home.source), "workDoneToken": name}
            creates.append(client.start_request("nexus/workspace/create", params, f"c-{name}"))
        await eventually(
            lambda: sum(preparing_image(client, name) for name in names) >= DEFAULT_POOL,
            timeout=120,
            what="creates waiting for the image build, as many as the default pool has threads",
        )
        listed = await asyncio.wait_for(client.request("nexus/workspace/list", {}), 60)
        got = await asyncio.wait_for(client.request("nexus/workspace/get", {"name": names[0]}), 60)
        assert not any(create.done() for create in creates)  # answered while all of them wait
        assert [(w["name"], w["status"]) for w in listed["workspaces"]] == [
            (name, "creating") for name in sorted(names)
        ]
        assert got["status"] == "creating"
    created = await asyncio.wait_for(asyncio.gather(*creates), 300)
    assert sorted(ws["status"] for ws in created) == ["running"] * CREATES
