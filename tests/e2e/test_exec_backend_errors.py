"""exec/info on an engine that does not answer say so (not "WORKSPACE_NOT_RUNNING ... unknown");
list stays tolerant and shows the status as unknown."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import NexusEnv
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


@pytest.mark.parametrize("client", ["openssh", "builtin"])
def test_exec_on_an_unreachable_docker_engine_says_so(nexus_env: NexusEnv, client: str) -> None:
    ok(nexus_env.run("workspace", "create", "engine"))
    gone = {"DOCKER_HOST": f"unix://{nexus_env.home}/no-docker.sock", "NEXUS_SSH_CLIENT": client}

    # a running workspace answers without the engine: exec trusts the store, sshd confirms
    reached = nexus_env.run("workspace", "exec", "engine", "--", "echo", "up", extra_env=gone)
    assert (reached.returncode, reached.stdout) == (0, "up\n"), reached.stderr
    info = nexus_env.run("workspace", "info", "engine", "--json", extra_env=gone)
    assert info.returncode == 5
    assert json.loads(info.stdout)["error"]["code"] == "DOCKER_UNAVAILABLE"

    listed = ok(nexus_env.run("workspace", "list", "--json", extra_env=gone))
    assert [(w["name"], w["status"]) for w in json.loads(listed.stdout)["workspaces"]] == [
        ("engine", "unknown")
    ]
    # the workspace does not answer and the engine cannot say why: that is the error
    container = f"nexus-engine-{nexus_env.installation_id()}"
    subprocess.run(["docker", "stop", "-t", "1", container], check=True, capture_output=True)
    failed = nexus_env.run("workspace", "exec", "engine", "--", "true", extra_env=gone)
    assert failed.returncode == 255, failed.stderr  # exec: Nexus's own failure
    assert failed.stderr.startswith("DOCKER_UNAVAILABLE:"), failed.stderr
    assert "WORKSPACE_NOT_RUNNING" not in failed.stderr
    # the engine back: the precise state, and nothing was recorded from the outage
    stopped = nexus_env.run("workspace", "exec", "engine", "--", "true")
    assert stopped.returncode == 255 and "WORKSPACE_NOT_RUNNING" in stopped.stderr
    ok(nexus_env.run("workspace", "start", "engine"))
    assert ok(nexus_env.run("workspace", "exec", "engine", "--", "echo", "ok")).stdout == "ok\n"
    ok(nexus_env.run("workspace", "delete", "engine"))
