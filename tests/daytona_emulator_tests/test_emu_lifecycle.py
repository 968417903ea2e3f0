"""Control-plane fidelity: the unmodified SDK drives sandboxes that are real containers."""

from __future__ import annotations

import uuid

import docker
import pytest
from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    Daytona,
    DaytonaNotFoundError,
    ListSandboxesQuery,
    Resources,
    Sandbox,
    SandboxState,
)

from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.runtime import INSTANCE_LABEL

pytestmark = pytest.mark.docker


def _container(client: docker.DockerClient, emu: EmulatorThread, sandbox_id: str) -> dict:
    container_id = emu.container_id(sandbox_id)
    assert container_id
    return client.api.inspect_container(container_id)


def test_create_from_image_with_labels_and_resources(
    daytona: Daytona,
    emulator: EmulatorThread,
    docker_client: docker.DockerClient,
    unique_label: dict[str, str],
) -> None:
    sandbox = daytona.create(
        CreateSandboxFromImageParams(
            image="debian:bookworm-slim",
            labels=unique_label,
            env_vars={"FOO": "bar"},
            resources=Resources(cpu=2, memory=2, disk=5),
            auto_stop_interval=30,
        ),
        timeout=120,
    )
    try:
        assert sandbox.state == SandboxState.STARTED
        assert sandbox.labels["emu-test"] == unique_label["emu-test"]
        assert (sandbox.cpu, sandbox.memory, sandbox.disk) == (2, 2, 5)
        assert sandbox.auto_stop_interval == 30
        assert sandbox.build_info is not None
        assert "FROM debian:bookworm-slim" in (sandbox.build_info.dockerfile_content or "")

        attrs = _container(docker_client, emulator, sandbox.id)
        assert attrs["Config"]["Labels"][INSTANCE_LABEL] == emulator.instance_id
        assert attrs["HostConfig"]["NanoCpus"] == 2_000_000_000
        assert attrs["HostConfig"]["Memory"] == 2 * 1024**3
        bindings = attrs["HostConfig"]["PortBindings"]["22/tcp"]
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings)
        assert "FOO=bar" in attrs["Config"]["Env"]
        assert sandbox.process.exec("echo $FOO").result.strip() == "bar"
    finally:
        daytona.delete(sandbox)


def test_get_by_id_and_name(daytona: Daytona, unique_label: dict[str, str]) -> None:
    name = f"emu-{uuid.uuid4().hex[:8]}"
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(name=name, labels=unique_label), timeout=120
    )
    try:
        assert sandbox.name == name
        assert daytona.get(sandbox.id).name == name
        assert daytona.get(name).id == sandbox.id
    finally:
        daytona.delete(sandbox)


def test_stop_start_delete(
    daytona: Daytona, sandbox: Sandbox, emulator: EmulatorThread, docker_client: docker.DockerClient
) -> None:
    sandbox.process.exec("echo persisted > ~/state.txt")
    sandbox.stop(timeout=60)
    assert sandbox.state == SandboxState.STOPPED
    assert _container(docker_client, emulator, sandbox.id)["State"]["Running"] is False

    sandbox.start(timeout=60)
    assert sandbox.state == SandboxState.STARTED
    assert _container(docker_client, emulator, sandbox.id)["State"]["Running"] is True
    assert sandbox.process.exec("cat ~/state.txt").result.strip() == "persisted"

    container_id = emulator.container_id(sandbox.id)
    sandbox.delete(timeout=60, wait=True)
    with pytest.raises(DaytonaNotFoundError):
        daytona.get(sandbox.id)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container_id)


def test_list_by_labels_with_cursor_paging(daytona: Daytona, unique_label: dict[str, str]) -> None:
    created = [
        daytona.create(CreateSandboxFromSnapshotParams(labels=unique_label), timeout=120)
        for _ in range(3)
    ]
    try:
        found = list(daytona.list(ListSandboxesQuery(labels=unique_label, limit=2)))
        assert sorted(s.id for s in found) == sorted(s.id for s in created)
        assert all(isinstance(s, Sandbox) for s in found)
        # the server really pages: one page holds at most `limit` items
        page = daytona._sandbox_api.list_sandboxes(
            labels=f'{{"emu-test": "{unique_label["emu-test"]}"}}', limit=2
        )
        assert len(page.items) == 2 and page.next_cursor
        rest = daytona._sandbox_api.list_sandboxes(
            labels=f'{{"emu-test": "{unique_label["emu-test"]}"}}', limit=2, cursor=page.next_cursor
        )
        assert len(rest.items) == 1 and not rest.next_cursor
        other = list(daytona.list(ListSandboxesQuery(labels={"emu-test": "nobody"})))
        assert other == []
        started = list(
            daytona.list(ListSandboxesQuery(labels=unique_label, states=[SandboxState.STOPPED]))
        )
        assert started == []
    finally:
        for sandbox in created:
            daytona.delete(sandbox)


def test_labels_autostop_and_archive(daytona: Daytona, sandbox: Sandbox) -> None:
    sandbox.set_labels({"changed": "yes"})
    assert daytona.get(sandbox.id).labels == {"changed": "yes"}
    sandbox.set_autostop_interval(5)
    assert daytona.get(sandbox.id).auto_stop_interval == 5
    sandbox.stop(timeout=60)
    sandbox.archive()
    sandbox.refresh_data()
    assert sandbox.state in (SandboxState.ARCHIVING, SandboxState.ARCHIVED)
    sandbox.start(timeout=60)
    assert sandbox.state == SandboxState.STARTED


def test_ephemeral_sandbox_is_deleted_on_stop(
    daytona: Daytona, unique_label: dict[str, str]
) -> None:
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(labels=unique_label, ephemeral=True), timeout=120
    )
    assert sandbox.auto_delete_interval == 0
    sandbox.stop(timeout=60)
    with pytest.raises(DaytonaNotFoundError):
        daytona.get(sandbox.id)


def test_unknown_snapshot_and_target(daytona: Daytona) -> None:
    from daytona import DaytonaBadRequestError

    with pytest.raises(DaytonaBadRequestError, match="Snapshot no-such-snapshot not found"):
        daytona.create(CreateSandboxFromSnapshotParams(snapshot="no-such-snapshot"))
    with pytest.raises(DaytonaNotFoundError, match="Region not found"):
        daytona.create(CreateSandboxFromSnapshotParams(target="mars"))


def test_create_in_other_region(daytona: Daytona, unique_label: dict[str, str]) -> None:
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(labels=unique_label, target="eu"), timeout=120
    )
    try:
        assert sandbox.target == "eu"
    finally:
        daytona.delete(sandbox)


def test_snapshot_of_sandbox_is_usable(daytona: Daytona, sandbox: Sandbox) -> None:
    sandbox.process.exec("echo baked > ~/baked.txt")
    name = f"emu-snap-{uuid.uuid4().hex[:8]}"
    sandbox.create_snapshot(name)
    assert daytona.snapshot.get(name).name == name
    clone = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name), timeout=120)
    try:
        assert clone.process.exec("cat ~/baked.txt").result.strip() == "baked"
    finally:
        daytona.delete(clone)
