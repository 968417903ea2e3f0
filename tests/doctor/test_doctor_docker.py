"""`nexus doctor` against the real engine and OpenSSH: each planted problem is found, `--fix`
repairs the safe ones (the user's own ssh config lines byte-identical) and names the command
for the rest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nexus.access.user_ssh_config import END_MARKER
from nexus.doctor import ssh_block
from tests.conftest import NexusEnv
from tests.doctor.helpers import by_code, doctor, findings, one, ssh_g, user_config
from tests.e2e.test_docker_cli import container_of, ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def create(env: NexusEnv, name: str) -> dict[str, Any]:
    created: dict[str, Any] = json.loads(ok(env.run("workspace", "create", name, "--json")).stdout)
    return created


def nexus_config(env: NexusEnv) -> Path:
    return env.nexus_home / "ssh" / "config"


def test_a_healthy_installation_passes(nexus_env: NexusEnv) -> None:
    create(nexus_env, "fine")
    result = doctor(nexus_env, "--json")
    assert result.returncode == 0, result
    found = findings(result)
    assert one(found, "DOCTOR_SSH_ALIAS_OK", "fine")["severity"] == "ok"
    assert one(found, "DOCTOR_SSH_BLOCK_OK")["severity"] == "ok"
    assert one(found, "DOCTOR_DOCKER_OK")["severity"] == "ok"
    assert one(found, "DOCTOR_RECORDS_OK", "docker")["severity"] == "ok"
    assert one(found, "DOCTOR_KNOWN_HOSTS_OK")["severity"] == "ok"
    human = doctor(nexus_env)
    assert human.returncode == 0
    assert "DOCTOR_SSH_ALIAS_OK" in human.stdout and "0 error(s)" in human.stdout


@pytest.mark.parametrize(
    ("user_lines", "setting"),
    [
        (b"Host *\n    Port 2222\n    User someone\n\n", "port"),
        (b"# mine\nHost nexus-*\n    HostName example.invalid\n\n", "hostname"),
    ],
    ids=["host-star", "host-nexus-star"],
)
def test_a_user_host_above_the_block_is_named_and_fix_moves_the_block(
    nexus_env: NexusEnv, user_lines: bytes, setting: str
) -> None:
    created = create(nexus_env, "shadow")
    config = user_config(nexus_env)
    block = config.read_bytes()  # Nexus made the file: its block only
    config.write_bytes(user_lines + block)
    nexus_value = str(created["sshPort"]) if setting == "port" else "127.0.0.1"
    assert ssh_g(nexus_env, "nexus-shadow")[setting] != nexus_value  # shadowed for real

    result = doctor(nexus_env, "--json")
    assert result.returncode == 7, result
    found = findings(result)
    shadowed = one(found, "DOCTOR_SSH_HOST_SHADOWED", "shadow")
    assert shadowed["severity"] == "error" and shadowed["fixable"]
    host_line = 2 if user_lines.startswith(b"#") else 1
    assert f"{config}:{host_line}" in shadowed["message"], shadowed
    assert ("`Host *`" if setting == "port" else "`Host nexus-*`") in shadowed["message"]
    assert one(found, "DOCTOR_SSH_BLOCK_NOT_FIRST")["fixable"]

    fixed = doctor(nexus_env, "--fix", "--json")
    assert fixed.returncode == 0, fixed
    found = findings(fixed)
    assert one(found, "DOCTOR_SSH_HOST_SHADOWED", "shadow")["fixed"]
    assert not [f for f in found if f["severity"] == "error"], found
    # the block is first again and the user's lines are exactly what they were
    assert config.read_bytes() == block + user_lines
    settings = ssh_g(nexus_env, "nexus-shadow")
    assert settings["port"] == str(created["sshPort"])
    assert settings["hostname"] == "127.0.0.1"
    login = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "nexus-shadow", "echo", "reached"],
        capture_output=True,
        text=True,
        timeout=60,
        env=nexus_env.env,
    )
    assert login.stdout.strip() == "reached", login.stderr


def test_each_planted_problem_is_found_and_fix_leaves_the_unsafe_ones(
    nexus_env: NexusEnv,
) -> None:
    create(nexus_env, "gone")
    create(nexus_env, "orphan")
    iid = nexus_env.installation_id()
    assert iid
    orphan_container = container_of("orphan", iid)["Name"].lstrip("/")

    # a container removed behind Nexus's back
    gone = container_of("gone", iid)["Id"]
    subprocess.run(["docker", "rm", "-f", "-v", gone], check=True, capture_output=True)
    # a container whose record is lost
    from nexus.store import StateStore

    store = StateStore(nexus_env.nexus_home / "state.db")
    try:
        store.remove("orphan")
    finally:
        store.close()
    # the Nexus block with its end marker deleted, amid the user's own lines
    config = user_config(nexus_env)
    user_before = b"Host build\r\n  HostName 10.1.2.3\r\n"
    user_after = b"\r\nHost *\r\n  ServerAliveInterval 15"  # no final newline
    damaged = (
        config.read_bytes().replace(b"\n", b"\r\n").replace(END_MARKER.encode() + b"\r\n", b"")
    )
    config.write_bytes(damaged + user_before + user_after)
    # a config key that is not a setting, and a Mutagen that is not there
    cfg = nexus_env.nexus_home / "config.yaml"
    cfg.write_text('version: "2"\nworkspace:\n  defualt_backend: docker\n')
    nowhere = {"NEXUS_MUTAGEN": str(nexus_env.home / "no" / "mutagen")}

    result = doctor(nexus_env, "--json", extra_env=nowhere)
    assert result.returncode == 7, result
    found = findings(result)
    missing = one(found, "DOCTOR_WORKSPACE_MISSING", "gone")
    assert "nexus workspace delete gone" in missing["fix"] and not missing["fixable"]
    orphan = one(found, "DOCTOR_ORPHAN", "orphan")
    assert f"docker rm -f -v {orphan_container}" in orphan["fix"] and not orphan["fixable"]
    assert "nexus workspace recover" in orphan["fix"]
    broken = one(found, "DOCTOR_SSH_BLOCK_BROKEN")
    assert "end marker" in broken["message"] and broken["fixable"]
    mutagen = one(found, "DOCTOR_MUTAGEN_MISSING")
    assert str(nexus_env.home / "no" / "mutagen") in mutagen["message"]
    assert not mutagen["fixable"]
    key = one(found, "DOCTOR_CONFIG_UNKNOWN_KEY", "workspace.defualt_backend")
    assert "line 3" in key["message"] and key["severity"] == "error"

    fixed = doctor(nexus_env, "--fix", "--json", extra_env=nowhere)
    assert fixed.returncode == 7, fixed  # what is not safe to fix is still there
    found = findings(fixed)
    assert one(found, "DOCTOR_SSH_BLOCK_BROKEN")["fixed"]
    for code, subject in (
        ("DOCTOR_WORKSPACE_MISSING", "gone"),
        ("DOCTOR_ORPHAN", "orphan"),
        ("DOCTOR_MUTAGEN_MISSING", None),
        ("DOCTOR_CONFIG_UNKNOWN_KEY", "workspace.defualt_backend"),
    ):
        left = one(found, code, subject)
        assert not left["fixed"] and left["fix"], left
    data = config.read_bytes()
    assert ssh_block.inspect(data, nexus_config(nexus_env)).state is ssh_block.BlockState.INTACT
    assert ssh_block.user_lines(data, nexus_config(nexus_env)) == ssh_block.user_lines(
        user_before + user_after, nexus_config(nexus_env)
    )
    assert data.endswith(user_before + user_after)
    assert ssh_g(nexus_env, "nexus-gone")["hostkeyalias"] == "nexus-gone"
    assert list((nexus_env.nexus_home / "doctor").glob("ssh-config.*.bak"))

    # the commands doctor printed do the rest
    cfg.write_text('version: "2"\n')
    subprocess.run(["docker", "rm", "-f", "-v", orphan_container], check=True, capture_output=True)
    ok(nexus_env.run("workspace", "delete", "gone", "--force"))
    after = doctor(nexus_env, "--json", extra_env=nowhere)
    assert after.returncode == 0, after  # a missing Mutagen with nothing to sync is a warning
    found = findings(after)
    for code in ("DOCTOR_WORKSPACE_MISSING", "DOCTOR_ORPHAN", "DOCTOR_CONFIG_UNKNOWN_KEY"):
        assert not by_code(found, code), found
    assert one(found, "DOCTOR_MUTAGEN_MISSING")["severity"] == "warning"


def test_stale_nexus_files_are_regenerated(nexus_env: NexusEnv) -> None:
    created = create(nexus_env, "pins")
    pins = nexus_env.nexus_home / "ssh" / "known_hosts"
    good_pins = pins.read_bytes()
    pins.write_text(
        "nexus-pins ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDifferentKeyDifferentKeyDiff\n"
    )
    nexus_config(nexus_env).write_text("# emptied by hand\n")
    found = findings(doctor(nexus_env, "--json"))
    assert one(found, "DOCTOR_KNOWN_HOSTS_STALE")["severity"] == "error"
    assert one(found, "DOCTOR_SSH_FILES_STALE")["fixable"]
    alias = one(found, "DOCTOR_SSH_ALIAS_UNRESOLVED", "pins")
    assert alias["severity"] == "error" and alias["fixable"]

    fixed = doctor(nexus_env, "--fix", "--json")
    assert fixed.returncode == 0, fixed
    assert one(findings(fixed), "DOCTOR_SSH_ALIAS_UNRESOLVED", "pins")["fixed"]
    assert pins.read_bytes() == good_pins
    assert ssh_g(nexus_env, "nexus-pins")["port"] == str(created["sshPort"])
    ok(nexus_env.run("workspace", "exec", "pins", "--", "true"))


def test_a_dead_sync_daemon_is_started_again(nexus_env: NexusEnv) -> None:
    from nexus.paths import NexusPaths
    from nexus.sync.binary import check
    from nexus.sync.daemon import MutagenDaemon
    from tests.conftest import MUTAGEN_BIN

    use = {"NEXUS_MUTAGEN": str(MUTAGEN_BIN)}
    daemon = MutagenDaemon(NexusPaths(nexus_env.nexus_home), check(MUTAGEN_BIN))
    daemon.ensure_running()
    daemon.stop()  # as if it died: its data (and sessions) stay on disk
    assert not daemon.running()

    found = findings(doctor(nexus_env, "--json", extra_env=use))
    assert one(found, "DOCTOR_MUTAGEN_OK")["severity"] == "ok"
    down = one(found, "DOCTOR_SYNC_DAEMON_DOWN")
    assert down["severity"] == "error" and down["fixable"]

    fixed = doctor(nexus_env, "--fix", "--json", extra_env=use)
    assert one(findings(fixed), "DOCTOR_SYNC_DAEMON_DOWN")["fixed"]
    assert daemon.running()


def test_an_unreachable_engine_is_named_with_its_address(nexus_env: NexusEnv) -> None:
    result = doctor(nexus_env, "--json", extra_env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert result.returncode == 7, result
    found = findings(result)
    down = one(found, "DOCTOR_DOCKER_UNREACHABLE")
    assert "tcp://127.0.0.1:9 (DOCKER_HOST)" in down["message"]
    assert "docker info" in down["fix"]
    # the other families still ran
    assert [f for f in found if f["check"] == "sync"]
    assert by_code(found, "DOCTOR_SSH_TOOLS_OK")
