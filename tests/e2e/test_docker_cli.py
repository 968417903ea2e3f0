"""The Docker user flow, through the `nexus` CLI as a user runs it, against a real engine."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def container_of(name: str, installation: str) -> dict:
    out = subprocess.run(
        ["docker", "inspect", f"nexus-{name}-{installation}"], capture_output=True, text=True
    )
    return json.loads(out.stdout)[0] if out.returncode == 0 else {}


def test_user_flow(nexus_env: NexusEnv) -> None:
    created = json.loads(ok(nexus_env.run("workspace", "create", "my-feature", "--json")).stdout)
    assert created["name"] == "my-feature"
    assert created["status"] == "running"
    assert created["backend"] == "docker"
    assert created["sshHost"] == "127.0.0.1"
    assert 32800 <= created["sshPort"] <= 34999
    assert created["sshAlias"] == "nexus-my-feature"

    version = ok(nexus_env.run("workspace", "exec", "my-feature", "--", "git", "--version"))
    assert version.stdout.startswith("git version")

    # both streams, exit code passes through
    mixed = nexus_env.run(
        "workspace", "exec", "my-feature", "--", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert mixed.returncode == 3
    assert mixed.stdout == "out\n"
    assert mixed.stderr == "err\n"

    # the project folder is mounted at /workspace, and is the working directory
    seen = ok(
        nexus_env.run("workspace", "exec", "my-feature", "--", "sh", "-c", "pwd; cat README.md")
    )
    assert seen.stdout == "/workspace\nhello from the host\n"
    # files written in the workspace appear on the host, owned by the folder's owner
    ok(nexus_env.run("workspace", "exec", "my-feature", "--", "sh", "-c", "echo made > made.txt"))
    made = nexus_env.project / "made.txt"
    assert made.read_text() == "made\n"
    assert made.stat().st_uid == nexus_env.project.stat().st_uid

    # stdin is forwarded
    echoed = ok(nexus_env.run("workspace", "exec", "my-feature", "--", "cat", input="piped\n"))
    assert echoed.stdout == "piped\n"

    listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
    assert [w["name"] for w in listed["workspaces"]] == ["my-feature"]
    assert listed["workspaces"][0]["status"] == "running"
    assert json.loads(
        ok(nexus_env.run("workspace", "list", "--backend-filter", "daytona", "--json")).stdout
    ) == {"workspaces": []}
    human = ok(nexus_env.run("workspace", "list", "--backend-filter", "docker"))
    assert "my-feature" in human.stdout and "running" in human.stdout

    info = json.loads(ok(nexus_env.run("workspace", "info", "my-feature", "--json")).stdout)
    assert info["capabilities"]["supportsSsh"] is True
    assert info["capabilities"]["supportsSnapshots"] is False
    assert info["stats"]["memoryLimitBytes"] > 0
    text_info = ok(nexus_env.run("workspace", "info", "my-feature")).stdout
    assert "docker" in text_info and "127.0.0.1" in text_info

    installation = nexus_env.installation_id()
    assert installation
    host_key_before = container_of("my-feature", installation)["Id"]
    stopped = json.loads(ok(nexus_env.run("workspace", "stop", "my-feature", "--json")).stdout)
    assert stopped["status"] == "stopped"
    assert (
        json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)["workspaces"][0][
            "status"
        ]
        == "stopped"
    )
    stopped_exec = nexus_env.run("workspace", "exec", "my-feature", "--", "true")
    assert stopped_exec.returncode == 255
    assert "WORKSPACE_NOT_RUNNING" in stopped_exec.stderr
    started = json.loads(ok(nexus_env.run("workspace", "start", "my-feature", "--json")).stdout)
    assert started["status"] == "running"
    assert started["sshPort"] == created["sshPort"]
    assert container_of("my-feature", installation)["Id"] == host_key_before
    ok(nexus_env.run("workspace", "exec", "my-feature", "--", "true"))

    # the system ssh client reaches it through the generated config, with strict host key checking
    via_ssh = ok(nexus_env.run("workspace", "ssh", "my-feature", "--", "hostname"))
    assert via_ssh.stdout.strip() == "my-feature"

    deleted = json.loads(ok(nexus_env.run("workspace", "delete", "my-feature", "--json")).stdout)
    assert deleted == {"deleted": "my-feature", "backend": "docker", "leftBehind": []}
    assert container_of("my-feature", installation) == {}
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}
    assert nexus_env.project.joinpath("README.md").exists()  # user files untouched
    gone = nexus_env.run("workspace", "info", "my-feature")
    assert gone.returncode == 3
    assert "WORKSPACE_NOT_FOUND" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_resources_are_real_limits(nexus_env: NexusEnv) -> None:
    ok(
        nexus_env.run(
            "workspace",
            "create",
            "limited",
            "--cpu",
            "1.5",
            "--memory",
            "0.5",
            "--disk",
            "8",
            "--label",
            "team=core",
        )
    )
    host_config = container_of("limited", nexus_env.installation_id() or "")["HostConfig"]
    assert host_config["NanoCpus"] == 1_500_000_000
    assert host_config["Memory"] == 512 * 1024 * 1024
    assert host_config["PortBindings"]["22/tcp"][0]["HostIp"] == "127.0.0.1"
    info = json.loads(ok(nexus_env.run("workspace", "info", "limited", "--json")).stdout)
    assert info["resources"] == {"cpu": 1.5, "memoryGb": 0.5, "diskGb": 8.0}
    assert info["labels"] == {"team": "core"}
    assert info["stats"]["memoryLimitBytes"] == 512 * 1024 * 1024


def test_parallel_creates_get_distinct_ports(nexus_env: NexusEnv) -> None:
    names = [f"par-{i}" for i in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda n: nexus_env.run("workspace", "create", n, "--json"), names))
    for result in results:
        ok(result)
    ports = [json.loads(r.stdout)["sshPort"] for r in results]
    assert len(set(ports)) == 5
    for name in names:
        out = ok(nexus_env.run("workspace", "exec", name, "--", "hostname"))
        assert out.stdout.strip() == name
    with ThreadPoolExecutor(max_workers=5) as pool:
        for result in pool.map(lambda n: nexus_env.run("workspace", "delete", n), names):
            ok(result)


def test_name_taken_and_freed_port_is_reused(nexus_env: NexusEnv) -> None:
    first = json.loads(ok(nexus_env.run("workspace", "create", "again", "--json")).stdout)
    taken = nexus_env.run("workspace", "create", "again")
    assert taken.returncode == 4
    assert "WORKSPACE_EXISTS" in taken.stderr
    ok(nexus_env.run("workspace", "delete", "again"))
    second = json.loads(ok(nexus_env.run("workspace", "create", "again", "--json")).stdout)
    assert second["sshPort"] == first["sshPort"]  # freed on delete, lowest free port again


def test_container_removed_behind_our_back_shows_missing(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "ghost"))
    subprocess.run(
        ["docker", "rm", "-f", "-v", f"nexus-ghost-{nexus_env.installation_id()}"],
        check=True,
        capture_output=True,
    )
    listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
    assert listed["workspaces"][0]["status"] == "missing"
    started = nexus_env.run("workspace", "start", "ghost")
    assert started.returncode == 7 and "WORKSPACE_MISSING" in started.stderr
    executed = nexus_env.run("workspace", "exec", "ghost", "--", "true")
    assert executed.returncode == 255 and "WORKSPACE_MISSING" in executed.stderr
    ok(nexus_env.run("workspace", "delete", "ghost"))


def test_unreachable_engine_is_docker_unavailable(nexus_env: NexusEnv) -> None:
    env = {"DOCKER_HOST": "tcp://127.0.0.1:1"}
    result = nexus_env.run("workspace", "create", "nowhere", extra_env=env)
    assert result.returncode == 5
    assert result.stderr.startswith("DOCKER_UNAVAILABLE:")
    assert "Traceback" not in result.stderr + result.stdout
    as_json = nexus_env.run("workspace", "create", "nowhere", "--json", extra_env=env)
    assert as_json.returncode == 5
    assert json.loads(as_json.stdout)["error"]["code"] == "DOCKER_UNAVAILABLE"
    # nothing half-made is left behind
    assert json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}


@pytest.mark.parametrize("bad", ["Upper", "under_score", "x" * 64, "-dash"])
def test_invalid_names_are_rejected(nexus_env: NexusEnv, bad: str) -> None:
    result = nexus_env.run("workspace", "create", "--json", "--", bad)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "INVALID_NAME"


def test_missing_source_folder(nexus_env: NexusEnv) -> None:
    result = nexus_env.run("workspace", "create", "nosrc", "--from", str(nexus_env.home / "absent"))
    assert result.returncode == 2
    assert "SOURCE_NOT_FOUND" in result.stderr
    # paths are printed as they are, never read as terminal markup
    odd = nexus_env.run("workspace", "create", "nosrc", "--from", "/nowhere/p[/x]/[bold]y")
    assert odd.returncode == 2 and "/nowhere/p[/x]/[bold]y" in odd.stderr


def test_config_commands(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("config", "set", "workspace.default_backend", "docker"))
    assert (
        ok(nexus_env.run("config", "get", "workspace.default_backend")).stdout.strip() == "docker"
    )
    bad = nexus_env.run("config", "set", "workspace.default_backend", "podman")
    assert bad.returncode == 2 and "INVALID_CONFIG" in bad.stderr
    listing = json.loads(
        ok(
            nexus_env.run(
                "config", "list", "--json", extra_env={"DAYTONA_API_KEY": "dtn_never_shown"}
            )
        ).stdout
    )
    assert listing["values"]["backends.daytona.api_key"] == "********"
    assert "dtn_never_shown" not in json.dumps(listing)


def test_ssh_gives_an_interactive_tty_in_workspace(nexus_env: NexusEnv) -> None:
    import os
    import pty
    import select
    import time

    from tests.conftest import NEXUS_BIN

    ok(nexus_env.run("workspace", "create", "tty"))
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on a real terminal
        os.chdir(nexus_env.project)
        os.execve(NEXUS_BIN, [NEXUS_BIN, "workspace", "ssh", "tty"], nexus_env.env)
    output = b""
    os.write(fd, b"tty; echo cwd=$(pwd); exit 7\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert "/dev/pts/" in text  # a real TTY on the remote side
    assert "cwd=/workspace" in text
    assert os.waitstatus_to_exitcode(status) == 7


def test_two_nexus_homes_on_one_engine_never_share_a_port(nexus_env: NexusEnv) -> None:
    """A stopped workspace of another Nexus home keeps its port: nobody else may take it."""
    from tests.conftest import remove_containers

    other_home = nexus_env.home.parent / "other-home"
    other_home.mkdir()
    other = NexusEnv(
        home=other_home,
        nexus_home=other_home / ".nexus",
        project=nexus_env.project,
        env={**nexus_env.env, "HOME": str(other_home), "NEXUS_HOME": str(other_home / ".nexus")},
    )
    try:
        first = json.loads(ok(nexus_env.run("workspace", "create", "mine", "--json")).stdout)
        ok(nexus_env.run("workspace", "stop", "mine"))  # its port is free on the host now
        second = json.loads(ok(other.run("workspace", "create", "theirs", "--json")).stdout)
        assert second["sshPort"] != first["sshPort"]
        restarted = json.loads(ok(nexus_env.run("workspace", "start", "mine", "--json")).stdout)
        assert restarted["sshPort"] == first["sshPort"]
        assert (
            ok(nexus_env.run("workspace", "exec", "mine", "--", "hostname")).stdout.strip()
            == "mine"
        )
    finally:
        remove_containers(other.installation_id())


def test_a_root_owned_folder_is_writable_in_the_workspace(nexus_env: NexusEnv) -> None:
    """Nexus run as root on root's folder: the workspace can write there, files stay root's."""
    import os

    if os.geteuid() != 0:
        pytest.skip("needs a root-owned folder, i.e. Nexus running as root")
    os.chown(nexus_env.project, 0, 0)
    os.chown(nexus_env.project / "README.md", 0, 0)
    ok(nexus_env.run("workspace", "create", "rooted"))
    ok(nexus_env.run("workspace", "exec", "rooted", "--", "sh", "-c", "echo made > made.txt"))
    made = nexus_env.project / "made.txt"
    assert made.read_text() == "made\n"
    assert made.stat().st_uid == 0
    # still key-only: no password works, and the root account itself has no key
    sshd = ok(
        nexus_env.run(
            "workspace",
            "exec",
            "rooted",
            "--",
            "sh",
            "-c",
            "sudo sshd -T | grep -E '^(passwordauthentication|permitrootlogin) '",
        )
    )
    assert "passwordauthentication no" in sshd.stdout
    assert (
        "permitrootlogin without-password" in sshd.stdout
        or "permitrootlogin prohibit-password" in sshd.stdout
    )


def test_a_transition_left_by_a_dead_process_is_not_busy_forever(nexus_env: NexusEnv) -> None:
    import socket

    from nexus.ownership import current_owner
    from nexus.store import StateStore

    ok(nexus_env.run("workspace", "create", "stale"))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead_owner = f"{socket.gethostname()}:{gone.pid}:1"
    store = StateStore(nexus_env.nexus_home / "state.db")
    try:
        # another live process is stopping it: busy
        store._conn.execute(
            "UPDATE workspaces SET status='stopping', owner=? WHERE name='stale'",
            (current_owner(),),
        )
        busy = nexus_env.run("workspace", "stop", "stale")
        assert busy.returncode == 4 and "WORKSPACE_BUSY" in busy.stderr
        # that process was killed: the status is stale, the engine's word counts again
        store._conn.execute(
            "UPDATE workspaces SET status='stopping', owner=? WHERE name='stale'", (dead_owner,)
        )
        listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
        assert listed["workspaces"][0]["status"] == "running"
        store._conn.execute(
            "UPDATE workspaces SET status='deleting', owner=? WHERE name='stale'", (dead_owner,)
        )
        assert (
            json.loads(ok(nexus_env.run("workspace", "stop", "stale", "--json")).stdout)["status"]
            == "stopped"
        )
    finally:
        store.close()


@pytest.mark.parametrize("client", ["openssh", "builtin"])
def test_sigterm_interrupts_cleanly(nexus_env: NexusEnv, client: str) -> None:
    import signal
    import time

    from tests.conftest import NEXUS_BIN

    ok(nexus_env.run("workspace", "create", "term"))
    proc = subprocess.Popen(
        [NEXUS_BIN, "workspace", "exec", "term", "--", "sh", "-c", "echo started; sleep 60"],
        cwd=nexus_env.project,
        env={**nexus_env.env, "NEXUS_SSH_CLIENT": client},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "CANCELLED" in stderr and "Traceback" not in stderr
    # it did not wait for the remote sleep (a shared ssh connection holds the session's stderr
    # open until the remote command ends: Nexus does not make its caller wait for that)
    assert time.monotonic() - began < 30
