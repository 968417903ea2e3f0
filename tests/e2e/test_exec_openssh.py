"""`workspace exec` through the system ssh: one shared connection per workspace, closed by stop
and delete, and the precise error when the store's word turns out wrong."""

from __future__ import annotations

import json
import subprocess

import pytest

from nexus.access.openssh import control_path
from tests.conftest import NexusEnv
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def client_port(env: NexusEnv, name: str, **extra: str) -> str:
    """The client-side port of the TCP connection a command ran over (as sshd saw it)."""
    shown = ok(env.run("workspace", "exec", name, "--", "echo $SSH_CONNECTION", extra_env=extra))
    return shown.stdout.split()[1]


def master_running(env: NexusEnv, name: str) -> bool:
    check = subprocess.run(
        ["ssh", "-F", str(env.nexus_home / "ssh" / "config"), "-O", "check", f"nexus-{name}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return check.returncode == 0


def test_execs_share_one_connection_until_stop(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "warm"))
    socket_path = control_path(nexus_env.nexus_home / "ssh", "nexus-warm")
    assert socket_path is not None
    config = (nexus_env.nexus_home / "ssh" / "config").read_text()
    assert f"ControlPath {socket_path}" in config and "ControlMaster auto" in config

    first = client_port(nexus_env, "warm")
    assert master_running(nexus_env, "warm") and socket_path.is_socket()
    assert client_port(nexus_env, "warm") == first  # the same TCP connection
    # plain ssh through ~/.ssh/config rides on it too
    plain = subprocess.run(
        [
            "ssh",
            "-F",
            str(nexus_env.home / ".ssh" / "config"),
            "nexus-warm",
            "echo $SSH_CONNECTION",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.stdout.split()[1] == first, plain.stderr

    ok(nexus_env.run("workspace", "stop", "warm"))
    assert not master_running(nexus_env, "warm") and not socket_path.exists()
    stopped = nexus_env.run("workspace", "exec", "warm", "--", "true")
    assert stopped.returncode == 255
    assert stopped.stderr.startswith("WORKSPACE_NOT_RUNNING:"), stopped.stderr

    ok(nexus_env.run("workspace", "start", "warm"))
    assert client_port(nexus_env, "warm") != first  # a new connection after the restart
    assert master_running(nexus_env, "warm")
    ok(nexus_env.run("workspace", "delete", "warm"))
    assert not master_running(nexus_env, "warm") and not socket_path.exists()


def test_exec_passes_stdin_exit_code_streams_and_workdir(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "io"))
    for client in ("openssh", "builtin"):
        env = {"NEXUS_SSH_CLIENT": client}
        echoed = nexus_env.run(
            "workspace", "exec", "io", "--", "cat", input="piped\n", extra_env=env
        )
        assert (echoed.returncode, echoed.stdout) == (0, "piped\n"), (client, echoed.stderr)
        failed = nexus_env.run(
            "workspace", "exec", "io", "--", "echo out; echo err >&2; exit 7", extra_env=env
        )
        assert (failed.returncode, failed.stdout, failed.stderr) == (7, "out\n", "err\n"), client
        where = nexus_env.run("workspace", "exec", "io", "-w", "/tmp", "--", "pwd", extra_env=env)
        assert where.stdout == "/tmp\n", (client, where.stderr)
        default = nexus_env.run("workspace", "exec", "io", "--", "pwd", extra_env=env)
        assert default.stdout == "/workspace\n", client
        quoted = nexus_env.run(
            "workspace", "exec", "io", "--", "printf", "%s|", "a b", "c", extra_env=env
        )
        assert quoted.stdout == "a b|c|", client
    as_json = json.loads(
        ok(nexus_env.run("workspace", "exec", "io", "--json", "--", "echo hi")).stdout
    )
    assert as_json == {"exitCode": 0, "stdout": "hi\n", "stderr": ""}
    ok(nexus_env.run("workspace", "delete", "io"))


@pytest.mark.parametrize("client", ["openssh", "builtin"])
def test_a_workspace_stopped_or_removed_behind_nexus_gets_the_precise_error(
    nexus_env: NexusEnv, client: str
) -> None:
    env = {"NEXUS_SSH_CLIENT": client}
    ok(nexus_env.run("workspace", "create", "gone"))
    ok(nexus_env.run("workspace", "exec", "gone", "--", "true", extra_env=env))
    container = f"nexus-gone-{nexus_env.installation_id()}"
    subprocess.run(["docker", "stop", "-t", "1", container], check=True, capture_output=True)
    stopped = nexus_env.run("workspace", "exec", "gone", "--", "true", extra_env=env)
    assert stopped.returncode == 255
    assert stopped.stderr.startswith("WORKSPACE_NOT_RUNNING:"), stopped.stderr
    assert "stopped" in stopped.stderr
    subprocess.run(["docker", "rm", "-f", "-v", container], check=True, capture_output=True)
    missing = nexus_env.run("workspace", "exec", "gone", "--", "true", extra_env=env)
    assert missing.returncode == 255
    assert missing.stderr.startswith("WORKSPACE_MISSING:"), missing.stderr
    unknown = nexus_env.run("workspace", "exec", "nosuch", "--", "true", extra_env=env)
    assert unknown.returncode == 255 and "WORKSPACE_NOT_FOUND" in unknown.stderr
    ok(nexus_env.run("workspace", "delete", "gone"))
