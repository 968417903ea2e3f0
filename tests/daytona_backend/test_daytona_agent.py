"""ssh-agent forwarding on Daytona sandboxes, through the emulator's SSH gateway: opt-in per workspace."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import NexusEnv, UserAgent
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

PROBE = 'echo "sock=${SSH_AUTH_SOCK:-none}"; ssh-add -l; echo "rc=$?"'


def plain_ssh(env: NexusEnv, alias: str, agent_env: dict[str, str]) -> str:
    result = subprocess.run(
        ["ssh", "-F", str(env.home / ".ssh" / "config"), "-o", "BatchMode=yes", alias, PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env.env, **agent_env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sandbox_gets_the_agent_only_when_asked(
    daytona_env: NexusEnv, user_agent: UserAgent
) -> None:
    env = daytona_env
    agent_env, _ = user_agent
    on = json.loads(
        ok(
            env.run(
                "workspace", "create", "keys", "--backend", "daytona", "--forward-agent", "--json"
            )
        ).stdout
    )
    off = json.loads(
        ok(env.run("workspace", "create", "nokeys", "--backend", "daytona", "--json")).stdout
    )
    assert (on["forwardAgent"], off["forwardAgent"]) == (True, False)

    with_agent = ok(env.run("workspace", "exec", "keys", "--", PROBE, extra_env=agent_env))
    assert "user@laptop" in with_agent.stdout and "rc=0" in with_agent.stdout
    assert "user@laptop" in plain_ssh(env, "nexus-keys", agent_env)

    without = ok(env.run("workspace", "exec", "nokeys", "--", PROBE, extra_env=agent_env))
    assert "sock=none" in without.stdout and "rc=2" in without.stdout, without.stdout
    through_gateway = plain_ssh(env, "nexus-nokeys", agent_env)
    assert "sock=none" in through_gateway and "rc=2" in through_gateway, through_gateway
