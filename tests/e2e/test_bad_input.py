"""Bad input and odd states: each gets a stable code and a true status, never INTERNAL_ERROR.

Through the `nexus` CLI as a user runs it, against a real Docker engine.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nexus.access import exec as ssh_exec
from nexus.domain.create_options import CreateOptions
from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import SSHConnection
from nexus.service.context import NexusContext
from nexus.service.workspaces import WorkspaceService
from tests.conftest import NEXUS_BIN, NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The `--json` error object of a failed command."""
    assert result.returncode != 0, result.stdout
    return json.loads(result.stdout)["error"]  # type: ignore[no-any-return]


def nothing_recorded(nexus_env: NexusEnv) -> None:
    listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
    assert listed == {"workspaces": []}
    installation = nexus_env.installation_id()
    if installation:
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=nexus.installation={installation}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert left == []


def container_name(nexus_env: NexusEnv, name: str) -> str:
    return f"nexus-{name}-{nexus_env.installation_id()}"


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


# ---- 1. resources -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--memory", "0.0001"),  # would round to 0 MiB: no limit at all
        ("--memory", "0.06"),
        ("--memory", "nan"),
        ("--memory", "inf"),
        ("--memory", "1e308"),
        ("--cpu", "nan"),
        ("--cpu", "-inf"),
        ("--cpu", "inf"),
        ("--cpu", "1e308"),
        ("--cpu", "0.001"),
        ("--disk", "nan"),
        ("--disk", "inf"),
        ("--disk", "1e308"),
    ],
)
def test_resource_out_of_range_is_invalid_argument(
    nexus_env: NexusEnv, flag: str, value: str
) -> None:
    result = nexus_env.run("workspace", "create", "res", f"{flag}={value}", "--json")
    error = error_of(result)
    assert result.returncode == 2, result.stdout
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(f"{flag.removeprefix('--')} must be ")
    assert "(got " in error["message"] and "e+06" not in error["message"]
    assert error["resolution"].startswith("Pass a value from ")
    nothing_recorded(nexus_env)


def test_more_cpus_than_the_engine_has_names_the_maximum(nexus_env: NexusEnv) -> None:
    available = int(docker("info", "--format", "{{.NCPU}}"))
    result = nexus_env.run("workspace", "create", "greedy", f"--cpu={available + 1}", "--json")
    error = error_of(result)
    assert result.returncode == 2
    assert error["code"] == "INVALID_ARGUMENT"
    assert f"at most {available} CPUs" in error["message"]
    assert "runc" not in error["message"].lower()
    nothing_recorded(nexus_env)


async def test_the_service_refuses_what_the_cli_refuses(nexus_env: NexusEnv) -> None:
    """The sidecar calls the same service: non-finite and too-small values never reach an engine."""
    context = NexusContext()
    try:
        service = WorkspaceService(context)
        for options in (
            CreateOptions(name="svc", memory_gb=math.nan),
            CreateOptions(name="svc", cpu=math.inf),
            CreateOptions(name="svc", memory_gb=0.0001),
            CreateOptions(name="svc", disk_gb=-math.inf),
        ):
            with pytest.raises(NexusError) as refused:
                await service.create(options)
            assert refused.value.code == ErrorCode.INVALID_ARGUMENT
        assert context.store.list() == []
    finally:
        context.close()


# ---- 2. images --------------------------------------------------------------------------------
def test_invalid_image_reference_is_image_invalid(nexus_env: NexusEnv) -> None:
    result = nexus_env.run("workspace", "create", "img", "--image", "UPPER:case::", "--json")
    error = error_of(result)
    assert result.returncode == 2
    assert error["code"] == "IMAGE_INVALID"
    assert "UPPER:case::" in error["message"] and error["resolution"]
    nothing_recorded(nexus_env)


def test_image_that_cannot_be_pulled_is_image_not_found(nexus_env: NexusEnv) -> None:
    missing = "nexus-test-no-such-image:does-not-exist"
    result = nexus_env.run("workspace", "create", "img", "--image", missing, "--json")
    error = error_of(result)
    assert result.returncode == 2
    assert error["code"] == "IMAGE_NOT_FOUND"
    assert missing in error["message"] and "docker pull" in error["resolution"]
    nothing_recorded(nexus_env)
    human = nexus_env.run("workspace", "create", "img", "--image", missing)
    assert human.returncode == 2
    last = human.stderr.splitlines()[-2:]  # after the progress lines: the error, its resolution
    assert last[0].startswith("IMAGE_NOT_FOUND: ") and last[1].strip().startswith("→")
    assert "Traceback" not in human.stderr


# ---- 3. config --------------------------------------------------------------------------------
def test_non_utf8_config_is_invalid_config_and_kept(nexus_env: NexusEnv) -> None:
    nexus_env.nexus_home.mkdir(parents=True, exist_ok=True)
    config = nexus_env.nexus_home / "config.yaml"
    original = b"version: '2'\nworkspace:\n  worktree: true\nx: \xe9\n"
    config.write_bytes(original)
    for args in (
        ("config", "list", "--json"),
        ("config", "get", "workspace.worktree", "--json"),
        ("config", "set", "workspace.worktree", "false", "--json"),
        ("workspace", "create", "cfg", "--json"),
    ):
        result = nexus_env.run(*args)
        error = error_of(result)
        assert result.returncode == 2, args
        assert error["code"] == "INVALID_CONFIG", args
        assert str(config) in error["message"]
        assert "offset 44" in error["message"] and "line 4, column 4" in error["message"]
    assert config.read_bytes() == original  # `config set` did not replace the user's file
    human = nexus_env.run("config", "list")
    assert human.stderr.startswith("INVALID_CONFIG: ") and "Traceback" not in human.stderr


# ---- 4. literal output ------------------------------------------------------------------------
def test_messages_and_paths_print_literally(nexus_env: NexusEnv) -> None:
    odd = nexus_env.project.parent / "p:smile: [bold]x :b:"
    odd.mkdir()
    owner = nexus_env.project.stat()
    os.chown(odd, owner.st_uid, owner.st_gid)  # like the project: a normal user's folder
    # an error message carrying the path
    gone = nexus_env.project.parent / "gone :smile: [red]y"
    failed = nexus_env.run("workspace", "create", "lit", "--from", str(gone))
    assert failed.returncode == 2 and "SOURCE_NOT_FOUND" in failed.stderr
    assert str(gone) in failed.stderr and "😄" not in failed.stderr
    # a workspace whose folder name looks like emoji codes and markup
    ok(nexus_env.run("workspace", "create", "lit", "--from", str(odd), "--memory", "0.0625"))
    listed = ok(nexus_env.run("workspace", "list")).stdout
    info = ok(nexus_env.run("workspace", "info", "lit")).stdout
    for text in (listed, info):
        assert str(odd) in text, text
        assert "😄" not in text and "🅱" not in text
    # the smallest memory accepted is a real limit (64 MiB), not "no limit"
    limit = docker(
        "inspect", "--format", "{{.HostConfig.Memory}}", container_name(nexus_env, "lit")
    )
    assert int(limit) == 64 * 2**20
    ok(nexus_env.run("workspace", "delete", "lit"))


# ---- 5. interrupted create --------------------------------------------------------------------
def _git(repo: Path, *args: str) -> str:
    """Host-side git (safe.directory only because the tests run as root)."""
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


async def test_killed_create_shows_interrupted_and_deletes_cleanly(
    nexus_env: NexusEnv, repo: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sidecar"))
    from sidecar_helpers import DockerGate, docker_socket

    upstream = docker_socket()
    assert upstream is not None, "the test needs a unix-socket Docker engine"
    socket_dir = Path(tempfile.mkdtemp(prefix="nxgate"))
    # hold the container start: the container exists, SSH is not ready, the create is mid-way
    gate = DockerGate(upstream, socket_dir / "d.sock", r"^POST /[^ ]*/containers/[^/ ]+/start")
    await gate.start()
    try:
        process = await asyncio.create_subprocess_exec(
            NEXUS_BIN,
            "workspace",
            "create",
            "half",
            cwd=str(repo),
            env={**nexus_env.env, "DOCKER_HOST": gate.docker_host},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(gate.hit.wait(), 300)
        process.kill()  # SIGKILL: no cleanup runs
        await process.wait()
    finally:
        await gate.close()
    installation = nexus_env.installation_id()
    assert installation
    assert docker("ps", "-aq", "--filter", f"name={container_name(nexus_env, 'half')}")
    worktree = repo / ".worktree" / "half"
    assert worktree.is_dir() and "nexus/half" in _git(repo, "branch", "--list", "nexus/half")

    listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
    assert [(w["name"], w["status"]) for w in listed["workspaces"]] == [("half", "error")]
    assert "error (create interrupted)" in ok(nexus_env.run("workspace", "list")).stdout
    assert "error (create interrupted)" in ok(nexus_env.run("workspace", "info", "half")).stdout
    started = nexus_env.run("workspace", "start", "half")
    assert started.returncode == 7, started.stderr
    assert started.stderr.startswith("WORKSPACE_INCOMPLETE: ")
    assert "nexus workspace delete half" in started.stderr
    assert "wait for the create" not in started.stderr.lower()
    stopped = nexus_env.run("workspace", "stop", "half", "--json")
    assert error_of(stopped)["code"] == "WORKSPACE_INCOMPLETE"
    executed = nexus_env.run("workspace", "exec", "half", "--", "true")
    assert executed.returncode == 255 and executed.stderr.startswith("WORKSPACE_INCOMPLETE: ")

    ok(nexus_env.run("workspace", "delete", "half"))
    nothing_recorded(nexus_env)
    assert not worktree.exists()
    assert _git(repo, "branch", "--list", "nexus/half").strip() == ""
    assert not (nexus_env.nexus_home / "ssh" / "host_keys" / "half_ed25519").exists()


# ---- 6. paused container ----------------------------------------------------------------------
def test_paused_container_shows_paused_and_start_resumes_it(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "frozen", "--no-worktree"))
    docker("pause", container_name(nexus_env, "frozen"))
    try:
        listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
        assert listed["workspaces"][0]["status"] == "paused"
        info = json.loads(ok(nexus_env.run("workspace", "info", "frozen", "--json")).stdout)
        assert info["status"] == "paused"
        executed = nexus_env.run("workspace", "exec", "frozen", "--", "true")
        assert executed.returncode == 255 and "WORKSPACE_NOT_RUNNING" in executed.stderr
        assert "paused" in executed.stderr
        started = json.loads(ok(nexus_env.run("workspace", "start", "frozen", "--json")).stdout)
        assert started["status"] == "running"
        state = docker(
            "inspect", "--format", "{{.State.Status}}", container_name(nexus_env, "frozen")
        )
        assert state == "running"
        assert ok(nexus_env.run("workspace", "exec", "frozen", "--", "echo", "hi")).stdout == "hi\n"
    finally:
        subprocess.run(
            ["docker", "unpause", container_name(nexus_env, "frozen")], capture_output=True
        )
    ok(nexus_env.run("workspace", "delete", "frozen"))


# ---- 7. pinned host key -----------------------------------------------------------------------
def _host_key_in_store(nexus_env: NexusEnv, name: str) -> str | None:
    with sqlite3.connect(nexus_env.nexus_home / "state.db") as db:
        row = db.execute("SELECT host_key FROM workspaces WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def _forget_host_key(nexus_env: NexusEnv, name: str) -> None:
    db = sqlite3.connect(nexus_env.nexus_home / "state.db")
    try:
        with db:
            db.execute("UPDATE workspaces SET host_key = NULL WHERE name = ?", (name,))
    finally:
        db.close()


def test_lost_host_key_is_repinned_from_nexus_key_file_or_refused(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "pinned", "--no-worktree"))
    pinned = _host_key_in_store(nexus_env, "pinned")
    assert pinned and pinned.startswith("ssh-ed25519 ")
    known_hosts = nexus_env.nexus_home / "ssh" / "known_hosts"

    # the key file Nexus generated is still there: the same key is pinned again, exec works
    _forget_host_key(nexus_env, "pinned")
    assert ok(nexus_env.run("workspace", "exec", "pinned", "--", "echo", "ok")).stdout == "ok\n"
    repinned = _host_key_in_store(nexus_env, "pinned")
    assert repinned is not None
    assert repinned.split()[:2] == pinned.split()[:2]
    assert pinned.split()[1] in known_hosts.read_text()

    # no pinned key and no key file: Nexus refuses to connect at all
    _forget_host_key(nexus_env, "pinned")
    (nexus_env.nexus_home / "ssh" / "host_keys" / "pinned_ed25519").unlink()
    refused = nexus_env.run("workspace", "exec", "pinned", "--", "echo", "unchecked")
    assert refused.returncode == 255
    assert refused.stderr.startswith("HOST_KEY_UNKNOWN: ")
    assert "unchecked" not in refused.stdout
    assert _host_key_in_store(nexus_env, "pinned") is None
    ok(nexus_env.run("workspace", "delete", "pinned"))


async def test_exec_never_connects_without_a_pinned_key() -> None:
    conn = SSHConnection(host="127.0.0.1", port=9, username="nexus", host_key=None)
    with pytest.raises(NexusError) as refused:
        await ssh_exec.connect(conn, timeout=1.0)
    assert refused.value.code == ErrorCode.HOST_KEY_UNKNOWN
    assert refused.value.exit_code == 6


def test_failed_image_build_leaves_no_containers_or_layers(nexus_env: NexusEnv) -> None:
    """A base image on which the workspace image cannot be built: IMAGE_BUILD_FAILED, and the
    engine keeps nothing of the attempt (no build container, no half-built layer)."""
    base = f"nexus-test-unbuildable:{nexus_env.home.parent.name.lower()}"
    context = nexus_env.home.parent / "unbuildable"
    context.mkdir()
    # apt-get "succeeds" (a layer is made), then the next step fails: useradd is gone
    (context / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        "RUN printf '#!/bin/sh\\nexit 0\\n' > /usr/bin/apt-get && rm -f /usr/sbin/useradd\n"
    )
    docker("build", "-q", "-t", base, str(context))
    base_id = docker("image", "inspect", "--format", "{{.Id}}", base)
    try:
        result = nexus_env.run("workspace", "create", "nobuild", "--image", base, "--json")
        error = error_of(result)
        assert result.returncode == 5
        assert error["code"] == "IMAGE_BUILD_FAILED" and error["resolution"]
        nothing_recorded(nexus_env)
        assert docker("ps", "-aq", "--filter", f"ancestor={base_id}") == ""
        children = [
            image_id
            for image_id in docker("images", "-aq", "--no-trunc").split()
            if docker("image", "inspect", "--format", "{{.Parent}}", image_id) == base_id
        ]
        assert children == []
    finally:
        subprocess.run(["docker", "rmi", "-f", base], capture_output=True)
