"""The Docker escape hatches (`nexus workspace provider docker …`) through the CLI, against a
real engine: volumes that keep their data across a container recreate, a workspace cached to an
image another workspace starts from, prune, and workspaces that reach each other by name."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import NexusEnv, remove_containers

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

PROVIDER = ("workspace", "provider", "docker")


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The `--json` error object of a failed command (never a traceback)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)["error"]  # type: ignore[no-any-return]


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True)


def ssh_config_port(env: NexusEnv, name: str) -> int:
    return int(as_json(env.run("workspace", "info", name, "--json"))["sshPort"])


def user_ssh(env: NexusEnv, alias: str, command: str) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH with the generated config, as Remote-SSH connects (strict host key)."""
    return subprocess.run(
        ["ssh", "-F", str(env.home / ".ssh" / "config"), "-o", "BatchMode=yes", alias, command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env.env,
    )


@dataclass
class Ops:
    """The test's Nexus installation, and unique names for the engine objects it makes (the
    engine is shared: volume and network names are global)."""

    env: NexusEnv
    suffix: str

    def name(self, stem: str) -> str:
        return f"{stem}-{self.suffix}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.env.run(*PROVIDER, *args)

    def json(self, *args: str) -> Any:
        return as_json(self.run(*args, "--json"))

    def error(self, *args: str) -> dict[str, str]:
        return error_of(self.run(*args, "--json"))


@pytest.fixture
def ops(nexus_env: NexusEnv) -> Iterator[Ops]:
    made = Ops(nexus_env, secrets.token_hex(3))
    try:
        yield made
    finally:
        _remove_engine_objects(nexus_env.installation_id())


def _remove_engine_objects(installation: str | None) -> None:
    """Everything the installation made: containers, the volumes they took over, then the
    labelled volumes, networks and cached images."""
    if not installation:
        return
    label = f"label=nexus.installation={installation}"
    ids = docker("ps", "-aq", "--filter", label).stdout.split()
    taken_over: list[str] = []
    if ids:
        for mounts in docker("inspect", "--format", "{{json .Mounts}}", *ids).stdout.splitlines():
            taken_over += [m["Name"] for m in json.loads(mounts) if m.get("Type") == "volume"]
    remove_containers(installation)
    volumes = docker("volume", "ls", "-q", "--filter", label).stdout.split()
    if volumes or taken_over:
        docker("volume", "rm", *volumes, *taken_over)
    networks = docker("network", "ls", "-q", "--filter", label).stdout.split()
    if networks:
        docker("network", "rm", *networks)
    images = docker("images", "-q", "--filter", label).stdout.split()
    if images:
        docker("rmi", "-f", *sorted(set(images)))


def create(env: NexusEnv, name: str, *extra: str) -> None:
    ok(env.run("workspace", "create", name, *extra))


def exec_out(env: NexusEnv, name: str, script: str) -> str:
    return ok(env.run("workspace", "exec", name, "--", "sh", "-c", script)).stdout


# ---- volumes --------------------------------------------------------------------------------


def test_volume_data_survives_detach_attach_and_restart(ops: Ops) -> None:
    env = ops.env
    create(env, "vol")
    port = ssh_config_port(env, "vol")
    volume = ops.name("data")

    made = ops.json("volume", "create", "vol", "--volume", volume, "--size", "2")
    assert made["volume"] == volume and made["created"] is True
    assert made["sizeGb"] == 2.0 and made["sizeEnforced"] is False
    labels = json.loads(docker("volume", "inspect", volume, "--format", "{{json .Labels}}").stdout)
    assert labels["nexus.installation"] == env.installation_id()
    assert labels["nexus.volume.size-gb"] == "2"

    attached = ops.json("volume", "attach", "vol", "--volume", volume, "--mount", "/data")
    assert attached["mount"] == "/data" and attached["status"] == "running"
    # same port, same host key: exec and plain ssh (strict host key checking) still connect
    assert ssh_config_port(env, "vol") == port
    exec_out(env, "vol", "echo kept-bytes > /data/file")
    seen = ok(user_ssh(env, "nexus-vol", "cat /data/file; cat /workspace/README.md"))
    assert seen.stdout == "kept-bytes\nhello from the host\n"

    # in use: refused, with a resolution naming the workspace
    refused = ops.error("volume", "delete", "vol", "--volume", volume)
    assert refused["code"] == "DOCKER_VOLUME_IN_USE"
    assert "'vol'" in refused["message"] and "Detach" in refused["resolution"]
    assert docker("volume", "inspect", volume).returncode == 0

    detached = ops.json("volume", "detach", "vol", "--volume", volume)
    assert detached["status"] == "running"
    assert exec_out(env, "vol", "test -e /data/file && echo there || echo gone") == "gone\n"

    # a stopped workspace stays stopped; the volume comes back with its bytes elsewhere
    ok(env.run("workspace", "stop", "vol"))
    again = ops.json("volume", "attach", "vol", "--volume", volume, "--mount", "/srv/cache")
    assert again["status"] == "stopped"
    listed = as_json(env.run("workspace", "list", "--json"))["workspaces"]
    assert [w["status"] for w in listed] == ["stopped"]
    ok(env.run("workspace", "start", "vol"))
    assert exec_out(env, "vol", "cat /srv/cache/file") == "kept-bytes\n"
    # and across a restart
    ok(env.run("workspace", "stop", "vol"))
    ok(env.run("workspace", "start", "vol"))
    assert exec_out(env, "vol", "cat /srv/cache/file; id -un") == "kept-bytes\nnexus\n"
    assert ssh_config_port(env, "vol") == port

    ops.json("volume", "detach", "vol", "--volume", volume)
    deleted = ops.json("volume", "delete", "vol", "--volume", volume)
    assert deleted["deleted"] is True
    assert docker("volume", "inspect", volume).returncode != 0


def test_volume_bad_input(ops: Ops) -> None:
    env = ops.env
    create(env, "bad")
    volume = ops.name("v")
    ops.json("volume", "create", "bad", "--volume", volume)

    unknown = ops.error("volume", "attach", "bad", "--volume", ops.name("nope"), "--mount", "/x")
    assert unknown["code"] == "DOCKER_VOLUME_NOT_FOUND" and "no volume" in unknown["message"]
    for path in ("data", "/", "/workspace", "/workspace/", "/etc", "/etc/ssh/nexus", "/a/../b"):
        error = ops.error("volume", "attach", "bad", "--volume", volume, "--mount", path)
        assert error["code"] == "INVALID_ARGUMENT", (path, error)
    assert ops.error("volume", "create", "bad", "--volume", "-bad name")["code"] == "INVALID_NAME"
    assert ops.error("volume", "detach", "bad", "--volume", volume)["code"] == "INVALID_ARGUMENT"
    assert ops.error("volume", "create", "bad", "--volume", volume, "--size", "-1")["code"] == (
        "INVALID_ARGUMENT"
    )

    # a volume Nexus did not make is neither attached nor deleted
    foreign = ops.name("foreign")
    ok(subprocess.run(["docker", "volume", "create", foreign], capture_output=True, text=True))
    try:
        refused = ops.error("volume", "delete", "bad", "--volume", foreign)
        assert refused["code"] == "INVALID_ARGUMENT" and "not made by Nexus" in refused["message"]
        assert docker("volume", "inspect", foreign).returncode == 0
        assert ops.error("volume", "create", "bad", "--volume", foreign)["code"] == (
            "INVALID_ARGUMENT"
        )
    finally:
        docker("volume", "rm", foreign)
    # the workspace was never touched by the refusals
    assert exec_out(env, "bad", "cat README.md") == "hello from the host\n"

    # the engine refuses the new container (a volume over a file): the old one is put back
    container = f"nexus-bad-{env.installation_id()}"
    before = docker("inspect", "--format", "{{.Id}}", container).stdout
    failed = ops.error("volume", "attach", "bad", "--volume", volume, "--mount", "/etc/hostname")
    assert failed["code"] == "DOCKER_ERROR"
    assert docker("inspect", "--format", "{{.Id}}", container).stdout == before
    label = f"label=nexus.installation={env.installation_id()}"
    assert len(docker("ps", "-aq", "--filter", label).stdout.split()) == 1
    assert docker("images", "-q", "--filter", label).stdout.split() == []  # nor its saved image
    assert exec_out(env, "bad", "cat README.md") == "hello from the host\n"
    listed = as_json(env.run("workspace", "list", "--json"))["workspaces"]
    assert [w["status"] for w in listed] == ["running"]


def test_recreate_keeps_a_worktree_workspaces_private_folders(ops: Ops) -> None:
    """A workspace on a git repository has folders of its own (engine volumes): a recreate
    keeps their data, and deleting the workspace removes them."""
    env = ops.env
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", "Dev Person"),
        ("config", "user.email", "dev@example.com"),
        ("add", "README.md"),
        ("commit", "-qm", "initial"),
    ):
        subprocess.run(["git", "-c", "safe.directory=*", *args], cwd=env.project, check=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(env.project)], check=True)
    create(env, "tree")
    name = f"nexus-tree-{env.installation_id()}"
    before = json.loads(docker("inspect", "--format", "{{json .Mounts}}", name).stdout)
    private = {m["Destination"]: m["Name"] for m in before if m["Type"] == "volume"}
    assert private, before
    folder = sorted(private)[0]
    exec_out(env, "tree", f"sudo sh -c 'echo private > {folder}/mark'")

    volume = ops.name("tree")
    ops.json("volume", "create", "tree", "--volume", volume)
    ops.json("volume", "attach", "tree", "--volume", volume, "--mount", "/data")
    assert exec_out(env, "tree", f"cat {folder}/mark") == "private\n"
    assert exec_out(env, "tree", "git status --porcelain --branch").startswith("## ")

    ok(env.run("workspace", "delete", "tree", "--force"))
    for taken_over in private.values():
        assert docker("volume", "inspect", taken_over).returncode != 0, taken_over
    assert docker("volume", "inspect", volume).returncode == 0  # the user's volume stays


def test_recreate_keeps_the_containers_own_files(ops: Ops) -> None:
    """Attach and detach change only the mounts: what the user put in the container's own
    filesystem (home folder, system folders) is still there. The container is saved to an
    image of Nexus's, one per workspace; prune and delete leave none behind."""
    env = ops.env
    create(env, "own")
    port = ssh_config_port(env, "own")
    container = f"nexus-own-{env.installation_id()}"
    installation = f"label=nexus.installation={env.installation_id()}"
    entrypoint = docker("inspect", "--format", "{{json .Config.Entrypoint}}", container).stdout

    def saved() -> list[str]:
        found = docker(
            "images", "-q", "--no-trunc", "--filter", "label=nexus.image=recreate",
            "--filter", installation,
        )  # fmt: skip
        return sorted(set(ok(found).stdout.split()))

    def running_image() -> str:
        return docker("inspect", "--format", "{{.Image}}", container).stdout.strip()

    exec_out(env, "own", "echo home-bytes > /home/nexus/kept")
    exec_out(env, "own", "sudo sh -c 'echo opt-bytes > /opt/kept'")
    check = "cat /home/nexus/kept /opt/kept; id -un"
    expected = "home-bytes\nopt-bytes\nnexus\n"
    volume = ops.name("own")
    ops.json("volume", "create", "own", "--volume", volume)

    ops.json("volume", "attach", "own", "--volume", volume, "--mount", "/data")
    assert exec_out(env, "own", check) == expected
    assert ok(user_ssh(env, "nexus-own", check)).stdout == expected
    first = saved()
    assert first == [running_image()]
    labels = json.loads(
        docker("image", "inspect", first[0], "--format", "{{json .Config.Labels}}").stdout
    )
    assert labels["nexus.workspace"] == "own"
    # the container is the workspace's as before: its entrypoint, labels and port
    assert docker("inspect", "--format", "{{json .Config.Entrypoint}}", container).stdout == (
        entrypoint
    )
    container_labels = json.loads(
        docker("inspect", "--format", "{{json .Config.Labels}}", container).stdout
    )
    assert container_labels["nexus.image"] == "workspace"
    assert ssh_config_port(env, "own") == port

    # in use by the workspace: prune keeps it
    pruned = ops.json("image", "prune")
    assert [entry["id"] for entry in pruned["kept"]] == first
    assert saved() == first

    ops.json("volume", "detach", "own", "--volume", volume)
    assert exec_out(env, "own", check) == expected
    assert ok(user_ssh(env, "nexus-own", check)).stdout == expected
    second = saved()
    assert second == [running_image()] and second != first  # the previous one is gone
    env_of = docker("inspect", "--format", "{{json .Config.Env}}", container).stdout
    assert "/data" not in "".join(json.loads(env_of))  # the detached folder is not given back
    assert ssh_config_port(env, "own") == port

    # a container removed behind Nexus's back leaves its saved image unused: prune removes it
    ops.json("volume", "attach", "own", "--volume", volume, "--mount", "/data")
    third = saved()
    assert len(third) == 1 and third != second
    ok(docker("rm", "-f", "-v", container))
    pruned = ops.json("image", "prune")
    assert [entry["id"] for entry in pruned["removed"]] == third
    assert saved() == []
    ok(env.run("workspace", "delete", "own", "--force"))


def test_deleting_a_recreated_workspace_removes_its_saved_image(ops: Ops) -> None:
    env = ops.env
    create(env, "gone")
    volume = ops.name("gone")
    ops.json("volume", "create", "gone", "--volume", volume)
    ops.json("volume", "attach", "gone", "--volume", volume, "--mount", "/data")
    installation = f"label=nexus.installation={env.installation_id()}"
    assert len(docker("images", "-q", "--filter", installation).stdout.split()) == 1

    ok(env.run("workspace", "delete", "gone", "--force"))
    assert docker("images", "-q", "--filter", installation).stdout.split() == []
    assert docker("volume", "inspect", volume).returncode == 0  # the user's volume stays


# ---- images ---------------------------------------------------------------------------------


def test_image_cache_is_a_base_for_new_workspaces_and_prune_keeps_used_ones(ops: Ops) -> None:
    env = ops.env
    create(env, "origin")
    exec_out(env, "origin", "echo baked-in > /home/nexus/marker")
    used = f"nexus-test-cache/{ops.suffix}:used"
    cached = ops.json("image", "cache", "origin", "--to", used, "--from", "debian:bookworm-slim")
    assert cached["image"] == used and cached["from"] == "debian:bookworm-slim"
    labels = json.loads(
        docker("image", "inspect", used, "--format", "{{json .Config.Labels}}").stdout
    )
    assert labels["nexus.image"] == "cache"
    assert labels["nexus.installation"] == env.installation_id()
    assert labels["nexus.workspace"] == ""  # the origin's record labels are not inherited

    create(env, "copy", "--image", used)
    assert exec_out(env, "copy", "cat /home/nexus/marker; id -un") == "baked-in\nnexus\n"
    # the copy is a workspace of its own: its own folder, port and host key
    assert exec_out(env, "copy", "cat README.md") == "hello from the host\n"
    assert ssh_config_port(env, "copy") != ssh_config_port(env, "origin")
    assert ok(user_ssh(env, "nexus-copy", "cat /home/nexus/marker")).stdout == "baked-in\n"

    # the default reference, then a second cache nobody uses
    default = ops.json("image", "cache", "origin")
    assert default["image"] == "nexus-cache/origin:latest"
    assert default["from"] == as_json(env.run("workspace", "info", "origin", "--json"))["image"]

    pruned = ops.json("image", "prune")
    assert [entry["image"] for entry in pruned["removed"]] == ["nexus-cache/origin:latest"]
    assert [(entry["image"], entry["reason"]) for entry in pruned["kept"]] == [
        (used, "used by workspace 'copy'")
    ]
    assert docker("image", "inspect", "nexus-cache/origin:latest").returncode != 0
    assert docker("image", "inspect", used).returncode == 0
    # the workspace images Nexus builds from a base are left alone
    built = as_json(env.run("workspace", "info", "origin", "--json"))["image"]
    assert docker("image", "inspect", built).returncode == 0


def test_image_cache_bad_input(ops: Ops) -> None:
    env = ops.env
    create(env, "img")
    assert ops.error("image", "cache", "img", "--to", "Not/Valid:Ref")["code"] == "IMAGE_INVALID"
    # an image Nexus did not make is never overwritten
    refused = ops.error("image", "cache", "img", "--to", "debian:bookworm-slim")
    assert refused["code"] == "INVALID_ARGUMENT"
    assert ops.error("image", "cache", "nobody")["code"] == "WORKSPACE_NOT_FOUND"
    assert ops.json("image", "prune") == {"removed": [], "kept": []}


# ---- networks -------------------------------------------------------------------------------


def test_workspaces_on_a_network_reach_each_other_by_name(ops: Ops) -> None:
    env = ops.env
    create(env, "alpha")
    create(env, "beta")
    network = ops.name("net")
    made = ops.json("network", "create", network)
    assert made["network"] == network and made["created"] is True
    labels = json.loads(
        docker("network", "inspect", network, "--format", "{{json .Labels}}").stdout
    )
    assert labels["nexus.installation"] == env.installation_id()

    for name in ("alpha", "beta"):
        joined = ops.json("network", "connect", name, "--network", network)
        assert joined["alias"] == name and joined["changed"] is True
    assert exec_out(env, "alpha", "getent hosts beta").split()[1] == "beta"
    # a TCP connection from one workspace to the other's sshd
    banner = exec_out(env, "alpha", "bash -c 'exec 3<>/dev/tcp/beta/22; head -c 8 <&3'")
    assert banner == "SSH-2.0-"
    assert ops.json("network", "connect", "alpha", "--network", network)["changed"] is False

    # a volume attach recreates beta's container: it stays on the network, under its name
    volume = ops.name("netvol")
    ops.json("volume", "create", "beta", "--volume", volume)
    ops.json("volume", "attach", "beta", "--volume", volume, "--mount", "/data")
    assert exec_out(env, "alpha", "getent hosts beta").split()[1] == "beta"

    ops.json("network", "disconnect", "beta", "--network", network)
    gone = env.run("workspace", "exec", "alpha", "--", "getent", "hosts", "beta")
    assert gone.returncode != 0 and gone.stdout == ""


def test_network_bad_input(ops: Ops) -> None:
    env = ops.env
    create(env, "lonely")
    for name in ("bridge", "host"):
        refused = ops.error("network", "connect", "lonely", "--network", name)
        assert refused["code"] == "INVALID_ARGUMENT" and "not made by Nexus" in refused["message"]
    foreign = ops.name("foreign")
    ok(subprocess.run(["docker", "network", "create", foreign], capture_output=True, text=True))
    try:
        refused = ops.error("network", "connect", "lonely", "--network", foreign)
        assert refused["code"] == "INVALID_ARGUMENT" and "not made by Nexus" in refused["message"]
        assert ops.error("network", "create", foreign)["code"] == "INVALID_ARGUMENT"
    finally:
        docker("network", "rm", foreign)
    unknown = ops.error("network", "connect", "lonely", "--network", ops.name("nope"))
    assert unknown["code"] == "DOCKER_NETWORK_NOT_FOUND" and "no network" in unknown["message"]
    assert ops.error("network", "create", "bad name!")["code"] == "INVALID_NAME"
    assert ops.error("network", "create", "bridge")["code"] == "INVALID_NAME"
    network = ops.name("net")
    ops.json("network", "create", network)
    assert ops.error("network", "disconnect", "lonely", "--network", network)["code"] == (
        "INVALID_ARGUMENT"
    )
    # a missing option
    assert ops.error("network", "connect", "lonely")["code"] == "INVALID_ARGUMENT"
