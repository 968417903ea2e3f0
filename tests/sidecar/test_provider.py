"""nexus/provider/execute and nexus/provider/operations: the escape hatches over the sidecar,
through the same service call as `nexus workspace provider`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException
from sidecar_helpers import SidecarClient

from conftest import NexusHome

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

NEXUS_CLI = str(Path(sys.executable).parent / "nexus")


async def test_operations_are_listed_with_their_params(client: SidecarClient) -> None:
    listed = await client.request("nexus/provider/operations", {"backend": "docker"})
    by_id = {op["operation"]: op for op in listed["operations"]}
    attach = by_id["docker.volume.attach"]
    assert attach["capability"] == "supports_direct_volume_management" and attach["takesWorkspace"]
    assert set(attach["params"]["required"]) == {"volume", "mount"}
    assert not by_id["docker.network.create"]["takesWorkspace"]


async def test_execute_runs_an_operation_for_real(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    network = f"side-{nexus_home.installation_id[:8]}"
    try:
        answer = await client.request(
            "nexus/provider/execute",
            {"operation": "docker.network.create", "params": {"network": network}},
        )
        assert answer["operation"] == "docker.network.create" and answer["fallback"] is None
        inspected = subprocess.run(
            ["docker", "network", "inspect", network], capture_output=True, text=True
        )
        assert inspected.returncode == 0, inspected.stderr  # it exists on the engine
    finally:
        subprocess.run(["docker", "network", "rm", network], capture_output=True)


@pytest.mark.parametrize(
    ("request_params", "code"),
    [
        ({"operation": "docker.volume.explode", "workspace": "w"}, "INVALID_ARGUMENT"),
        ({"operation": "podman.volume.create", "workspace": "w"}, "INVALID_ARGUMENT"),
        ({"operation": "docker.volume.create"}, "INVALID_ARGUMENT"),  # no workspace
        (
            {"operation": "docker.volume.create", "workspace": "nope", "params": {"volume": "v"}},
            "WORKSPACE_NOT_FOUND",
        ),
        (
            {"operation": "docker.network.create", "params": {"network": "x", "bogus": 1}},
            "INVALID_ARGUMENT",
        ),
    ],
)
async def test_bad_requests_get_a_stable_code(
    client: SidecarClient, request_params: dict[str, object], code: str
) -> None:
    with pytest.raises(JsonRpcException) as refused:
        await client.request("nexus/provider/execute", request_params)
    assert refused.value.data["code"] == code
    assert "--" not in refused.value.data["resolution"]  # an editor user reads it


async def test_an_operation_of_the_other_backend_names_the_workspace_backend(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    created = subprocess.run(
        [NEXUS_CLI, "workspace", "create", "dock", "--json"],
        cwd=nexus_home.source,
        env=nexus_home.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert created.returncode == 0, created.stderr
    with pytest.raises(JsonRpcException) as refused:
        await client.request(
            "nexus/provider/execute",
            {"operation": "daytona.snapshot.create", "workspace": "dock", "params": {"name": "s"}},
        )
    assert refused.value.data["code"] == "CAPABILITY_NOT_SUPPORTED"
    assert "on the docker backend" in refused.value.data["message"]
