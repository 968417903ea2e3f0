"""A create's engine calls over the socket and through the docker SDK make the same container."""

from __future__ import annotations

import io
import secrets
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.backends.docker import engine, engine_http
from nexus.backends.docker.backend import DockerBackend, _EngineCalls, _tar_of
from nexus.domain.errors import NexusError
from nexus.domain.models import BackendType, BindMount, CreateRequest, Resources

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

IMAGE = "debian:bookworm-slim"


class _Ports:
    def allocate_port(self, *args: object, **kwargs: object) -> int:
        raise AssertionError("not used")

    def release_ports(self, name: str) -> None:
        pass


@pytest.fixture
def made() -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True)


def both_ways() -> list[_EngineCalls]:
    raw = engine_http.Engine(engine_http.DEFAULT_SOCKET, None)
    return [_EngineCalls(raw, lambda: None), _EngineCalls(None, lambda: engine.connect(None))]


def test_socket_and_sdk_make_the_same_container(tmp_path: Path, made: list[str]) -> None:
    backend = DockerBackend(_Ports(), "t" + secrets.token_hex(4))  # type: ignore[arg-type]
    request = CreateRequest(
        name="same",
        backend=BackendType.DOCKER,
        resources=Resources(cpu=0.5, memory_gb=0.25),
        source_path=tmp_path,
        labels={"team": "a"},
        env={"GREETING": "a b=c"},
    )
    request.mounts = [BindMount(source=None, target="/workspace/.cache")]
    config = backend._container_config(request, IMAGE, 40123)
    config["Cmd"] = ["sleep", "60"]  # the base image has no entrypoint of Nexus's
    config["Entrypoint"] = []
    seen = []
    for calls in both_ways():
        name = f"nexus-test-{secrets.token_hex(4)}"
        container_id = calls.create(name, config)
        made.append(container_id)
        calls.put_files(container_id, _tar_of([("/etc/nexus-probe", b"bytes\n", 0o600, 0)]))
        calls.start(container_id)
        attrs = calls.inspect(container_id)
        assert attrs is not None and attrs["State"]["Running"]
        host = attrs["HostConfig"]
        seen.append(
            (
                sorted(attrs["Config"]["Env"]),
                attrs["Config"]["Labels"],
                attrs["Config"]["Hostname"],
                attrs["Config"]["WorkingDir"],
                host["PortBindings"],
                host["Mounts"],
                host["RestartPolicy"]["Name"],
                host["NanoCpus"],
                host["Memory"],
            )
        )
        probe = subprocess.run(
            ["docker", "cp", f"{container_id}:/etc/nexus-probe", "-"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(probe)) as tar:
            member = tar.next()
            assert member is not None and member.mode & 0o777 == 0o600
            handle = tar.extractfile(member)
            assert handle is not None and handle.read() == b"bytes\n"
        calls.remove(container_id)
        assert calls.inspect(container_id) is None
    assert seen[0] == seen[1]
    assert "GREETING=a b=c" in seen[0][0] and seen[0][7] == 500_000_000


def test_both_ways_fail_alike(made: list[str]) -> None:
    messages = []
    for calls in both_ways():
        with pytest.raises(NexusError) as failed:
            calls.start("nexus-test-no-such-container")
        messages.append((failed.value.code, "No such container" in failed.value.message))
    assert messages[0] == messages[1] == ("DOCKER_ERROR", True)
