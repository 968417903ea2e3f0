"""exec/info on an engine that does not answer say so (not "WORKSPACE_NOT_RUNNING ... unknown");
list stays tolerant and shows the status as unknown."""

from __future__ import annotations

import json

import pytest

from tests.conftest import NexusEnv
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def test_exec_on_an_unreachable_docker_engine_says_so(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "engine"))
    gone = {"DOCKER_HOST": f"unix://{nexus_env.home}/no-docker.sock"}

    failed = nexus_env.run("workspace", "exec", "engine", "--", "true", extra_env=gone)
    assert failed.returncode == 255, failed.stderr  # exec: Nexus's own failure
    assert failed.stderr.startswith("DOCKER_UNAVAILABLE:"), failed.stderr
    assert "WORKSPACE_NOT_RUNNING" not in failed.stderr
    info = nexus_env.run("workspace", "info", "engine", "--json", extra_env=gone)
    assert info.returncode == 5
    assert json.loads(info.stdout)["error"]["code"] == "DOCKER_UNAVAILABLE"

    listed = ok(nexus_env.run("workspace", "list", "--json", extra_env=gone))
    assert [(w["name"], w["status"]) for w in json.loads(listed.stdout)["workspaces"]] == [
        ("engine", "unknown")
    ]
    # the engine back: everything works again, nothing was recorded from the outage
    assert ok(nexus_env.run("workspace", "exec", "engine", "--", "echo", "ok")).stdout == "ok\n"
    ok(nexus_env.run("workspace", "delete", "engine"))
