"""The engine's container list read straight from its socket: what the docker SDK reads, and the
same errors."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.backends.docker import engine, engine_http
from nexus.domain.errors import ErrorCode, NexusError

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

IMAGE = "debian:bookworm-slim"  # the default base image


@pytest.fixture
def installation() -> Iterator[str]:
    """An installation id with two containers on the engine: workspace `one` (created, never
    started) and an unlabelled one; removed afterwards."""
    installation_id = "t" + secrets.token_hex(4)
    made = []
    for labels in (
        ["--label", f"nexus.installation={installation_id}", "--label", "nexus.workspace=one"],
        ["--label", f"nexus.installation={installation_id}"],
    ):
        made.append(
            subprocess.run(
                ["docker", "create", *labels, IMAGE, "true"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    try:
        yield installation_id
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", *made], capture_output=True)


def test_it_lists_what_the_sdk_lists(installation: str) -> None:
    path = engine_http.engine_socket(None)
    assert path is not None
    filters = engine.installation_filter(installation)
    ours = engine_http.list_containers(path, filters)
    client = engine.connect(None)
    try:
        theirs = client.api.containers(all=True, filters=filters)
    finally:
        client.close()
    assert sorted(c["Id"] for c in ours) == sorted(c["Id"] for c in theirs)
    assert engine.states_by_workspace(ours) == {"one": "created"}
    assert engine.STATE_STATUS["created"] == "stopped"


def test_no_container_is_an_empty_list() -> None:
    path = engine_http.engine_socket(None)
    assert path is not None
    filters = engine.installation_filter("none" + secrets.token_hex(4))
    assert engine_http.list_containers(path, filters) == []


def test_a_socket_that_does_not_exist_is_docker_unavailable(tmp_path: Path) -> None:
    with pytest.raises(NexusError) as caught:
        engine_http.list_containers(str(tmp_path / "no.sock"), {}, host="unix:///nowhere")
    assert caught.value.code is ErrorCode.DOCKER_UNAVAILABLE
    assert "unix:///nowhere" in caught.value.message
    assert "No such file" in caught.value.message


def test_an_engine_error_is_docker_error_with_its_message() -> None:
    path = engine_http.engine_socket(None)
    assert path is not None
    with pytest.raises(NexusError) as caught:
        engine_http.list_containers(path, {"no-such-filter": ["x"]})
    assert caught.value.code is ErrorCode.DOCKER_ERROR
    assert "no-such-filter" in caught.value.message


@pytest.mark.parametrize(
    ("host", "path"),
    [
        (None, "/var/run/docker.sock"),
        ("", "/var/run/docker.sock"),
        ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
        ("unix://", None),
        ("tcp://127.0.0.1:2375", None),
        ("ssh://me@host", None),
    ],
)
def test_which_hosts_it_reads_itself(host: str | None, path: str | None) -> None:
    assert engine_http.socket_path(host) == path
