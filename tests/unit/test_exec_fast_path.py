"""`workspace exec` to a running Docker workspace goes to the system ssh on the store's word:
no engine, typer, pydantic or asyncio on the way (modules counted, never timed)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.access.ssh_config import render_config
from nexus.domain.models import WorkspaceStatus
from nexus.paths import NexusPaths
from nexus.store import StateStore
from tests.factories import running_docker_workspace

NOT_FOR_EXEC = (
    "docker",
    "asyncssh",
    "daytona",
    "requests",
    "pydantic",
    "typer",
    "rich",
    "yaml",
    "asyncio",
    "logging",
    "nexus.service",
)


@pytest.fixture
def sshd_banner() -> Iterator[int]:
    """A port that answers like an SSH server (its banner), as often as asked."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def installation(tmp_path: Path, port: int, status: WorkspaceStatus) -> dict[str, str]:
    """A store with one workspace, its generated ssh config, and an `ssh` that says how it ran."""
    home = tmp_path / ".nexus"
    paths = NexusPaths(home)
    store = StateStore(paths.state_db)
    store.reserve(running_docker_workspace("one", port, status=status))
    rendered = render_config(
        store.list(), paths, server_alive_interval=30, server_alive_count_max=4
    )
    store.close()
    paths.ssh_dir.mkdir(parents=True, exist_ok=True)
    paths.ssh_config.write_text(rendered)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text('#!/bin/sh\necho "ssh $*"\necho "on stderr" >&2\nexit 7\n')
    fake.chmod(0o755)
    return {"HOME": str(tmp_path), "NEXUS_HOME": str(home), "PATH": f"{bin_dir}:/usr/bin:/bin"}


def run_exec(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    code = (
        "import json, sys\n"
        "from nexus.cli.main import main\n"
        "try:\n"
        f"    main({['workspace', 'exec', 'one', *args]!r})\n"
        "finally:\n"
        "    print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    modules = set(json.loads(done.stderr.strip().splitlines()[-1]))
    return done, modules


def test_exec_runs_ssh_without_the_heavy_modules(tmp_path: Path, sshd_banner: int) -> None:
    env = installation(tmp_path, sshd_banner, WorkspaceStatus.RUNNING)
    done, modules = run_exec(env, "-w", "/src", "--", "make", "test")
    assert done.returncode == 7  # ssh's exit code is exec's
    config = Path(env["NEXUS_HOME"]) / "ssh" / "config"
    assert done.stdout == (
        # stdin is not data (here /dev/null): -n, the remote command reads EOF
        f"ssh -F {config} -o ForwardAgent=no -n -- nexus-one cd /src || exit 1; make test\n"
    )
    assert done.stderr.startswith("on stderr\n")
    heavy = {m for m in modules if m.split(".")[0] in NOT_FOR_EXEC or m.startswith(NOT_FOR_EXEC)}
    assert not heavy


@pytest.mark.parametrize("status", [WorkspaceStatus.STOPPED, WorkspaceStatus.CREATING])
def test_a_workspace_the_store_does_not_call_running_takes_the_full_path(
    tmp_path: Path, sshd_banner: int, status: WorkspaceStatus
) -> None:
    env = installation(tmp_path, sshd_banner, status)
    done, modules = run_exec(env, "--", "true")
    assert "ssh -F" not in done.stdout
    assert "nexus.service.workspaces" in modules
    assert done.returncode == 255 and "WORKSPACE_" in done.stderr


def test_nothing_answering_takes_the_full_path(tmp_path: Path) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = installation(tmp_path, port, WorkspaceStatus.RUNNING)
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-docker.sock"
    done, modules = run_exec(env, "--", "true")
    assert "ssh -F" not in done.stdout and "nexus.service.workspaces" in modules
    assert done.returncode == 255 and done.stderr.startswith("DOCKER_UNAVAILABLE:"), done.stderr
