"""`nexus workspace provider daytona process execute`: the Process API against the emulator.

The command's output and exit code pass through (the CLI exits with the command's code); with
the Process API answering 503 the command runs over SSH instead, unless --no-fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

WS = "proc"


@pytest.fixture(autouse=True)
def _clean_faults(emulator: EmulatorThread) -> Iterator[None]:
    emulator.faults.clear()
    yield
    emulator.faults.clear()


@pytest.fixture
def workspace(daytona_env: NexusEnv) -> dict[str, Any]:
    created = ok(daytona_env.run("workspace", "create", WS, "--backend", "daytona", "--json"))
    return dict(json.loads(created.stdout))


def _execute(env: NexusEnv, *args: str) -> Any:
    return env.run("workspace", "provider", "daytona", "process", "execute", WS, *args)


def test_output_and_exit_code_pass_through(
    daytona_env: NexusEnv, workspace: dict[str, Any]
) -> None:
    ran = _execute(daytona_env, "--json", "--", "sh", "-c", 'pwd; echo "to stderr" >&2; exit 3')
    assert ran.returncode == 3, ran.stderr
    data = json.loads(ran.stdout)
    assert data["exitCode"] == 3
    assert data["stdout"] == f"{workspace['remotePath']}\nto stderr\n"
    assert data["method"] == "process-api" and "fallback" not in data

    # human output: the command's own output, and its exit code (0 here)
    plain = ok(_execute(daytona_env, "--", "echo", "two words", "$HOME"))
    assert plain.stdout == "two words $HOME\n"  # several arguments are quoted as given

    # one argument is a shell snippet, run in --cwd; what it writes really lands there
    ok(_execute(daytona_env, "--cwd", "/tmp", "--", "echo made > here.txt"))
    shown = ok(daytona_env.run("workspace", "exec", WS, "--", "cat", "/tmp/here.txt"))
    assert shown.stdout == "made\n"


def test_timeout_answers_124(daytona_env: NexusEnv, workspace: dict[str, Any]) -> None:
    ran = _execute(daytona_env, "--timeout", "1", "--json", "--", "sleep 30; echo late")
    assert ran.returncode == 124, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["exitCode"] == 124


def test_process_api_down_falls_back_to_ssh(
    daytona_env: NexusEnv, emulator: EmulatorThread, workspace: dict[str, Any]
) -> None:
    emulator.faults.http_error(503, count=1000, path=r"/process/execute$")
    refused = _execute(daytona_env, "--json", "--no-fallback", "--", "echo", "hi")
    assert refused.returncode == 5
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "DAYTONA_UNAVAILABLE" and "SSH exec" in error["resolution"]

    ran = _execute(daytona_env, "--json", "--", "sh", "-c", "pwd; echo err >&2; exit 4")
    assert ran.returncode == 4
    data = json.loads(ran.stdout)
    assert data["stdout"] == f"{workspace['remotePath']}\nerr\n"
    assert data["method"] == "ssh" and "SSH exec" in data["fallback"]
    assert emulator.faults.to_json()  # the Process API was still down
