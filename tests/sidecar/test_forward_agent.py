"""`forwardAgent` on the sidecar's create: recorded on the workspace, applied to its ssh stanza."""

from __future__ import annotations

import pytest
import sshconf
from sidecar_helpers import SidecarClient

from conftest import NexusHome

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def forward_agent_of(home: NexusHome, alias: str) -> str:
    return str(sshconf.read_ssh_config(str(home.ssh_config)).host(alias)["forwardagent"])


async def test_create_with_and_without_forward_agent(
    client: SidecarClient, nexus_home: NexusHome
) -> None:
    source = str(nexus_home.source)
    trusted = await client.request(
        "nexus/workspace/create",
        {"name": "trusted", "sourcePath": source, "worktree": False, "forwardAgent": True},
    )
    assert trusted["forwardAgent"] is True
    plain = await client.request(
        "nexus/workspace/create", {"name": "plain", "sourcePath": source, "worktree": False}
    )
    assert plain["forwardAgent"] is False  # config ssh.forward_agent: false by default

    got = await client.request("nexus/workspace/get", {"name": "trusted"})
    assert got["forwardAgent"] is True
    listed = await client.request("nexus/workspace/list", {"refresh": False})
    assert {ws["name"]: ws["forwardAgent"] for ws in listed["workspaces"]} == {
        "plain": False,
        "trusted": True,
    }
    assert forward_agent_of(nexus_home, "nexus-trusted") == "yes"
    assert forward_agent_of(nexus_home, "nexus-plain") == "no"
