"""A user's ~/.ssh/config as it really is (any encoding, CRLF, Host entries of their own) through
the whole workspace lifecycle: real containers, the real CLI, real OpenSSH, a temp HOME."""

from __future__ import annotations

import json
import subprocess

import pytest

from nexus.access.user_ssh_config import BEGIN_MARKER
from tests.conftest import NexusEnv
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def test_a_non_utf8_config_through_create_exec_stop_start_delete(nexus_env: NexusEnv) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "known_hosts").write_text("")
    original = b"Host work\r\n  HostName work.example\r\n# Jos\xe9"  # Latin-1, CRLF, no final LF
    (ssh_dir / "config").write_bytes(original)
    before = sorted(p.name for p in ssh_dir.iterdir())

    created = nexus_env.run("workspace", "create", "bytes", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "bytes"
    data = (ssh_dir / "config").read_bytes()
    assert data.startswith(BEGIN_MARKER.encode() + b"\r\n") and data.endswith(original)

    echoed = nexus_env.run("workspace", "exec", "bytes", "--", "echo", "fine")
    assert echoed.returncode == 0, echoed.stderr
    assert echoed.stdout == "fine\n"
    remote = nexus_env.run("workspace", "exec", "bytes", "--", "sh", "-c", "exit 1")
    assert remote.returncode == 1 and "INTERNAL_ERROR" not in remote.stderr  # the remote's 1
    as_json = nexus_env.run("workspace", "exec", "bytes", "--json", "--", "sh", "-c", "exit 3")
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["exitCode"] == 3
    ok(nexus_env.run("workspace", "stop", "bytes"))
    ok(nexus_env.run("workspace", "start", "bytes"))
    # plain OpenSSH reads the same file and reaches the workspace
    plain = subprocess.run(
        ["ssh", "-F", str(ssh_dir / "config"), "-o", "BatchMode=yes", "nexus-bytes", "hostname"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.stdout.strip() == "bytes", plain.stderr

    deleted = nexus_env.run("workspace", "delete", "bytes")
    assert deleted.returncode == 0, deleted.stderr
    assert sorted(p.name for p in ssh_dir.iterdir()) == before  # no lock, no temp file
    uninstalled = nexus_env.run("ssh-config", "uninstall")
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert (ssh_dir / "config").read_bytes() == original


def test_a_taken_alias_is_refused_unless_allowed_and_overrides_are_warned(
    nexus_env: NexusEnv,
) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    extra = ssh_dir / "corp.conf"
    extra.write_text("Host *\n  StrictHostKeyChecking no\n")
    mine = f"Include {extra}\nHost nexus-prod\n  HostName prod.example\n"
    (ssh_dir / "config").write_text(mine)

    refused = nexus_env.run("workspace", "create", "prod")
    assert refused.returncode == 2 and "SSH_ALIAS_TAKEN" in refused.stderr
    assert f"{ssh_dir / 'config'}:2" in refused.stderr

    created = nexus_env.run("workspace", "create", "prod", "--allow-alias-shadowing")
    assert created.returncode == 0, created.stderr
    # the Host * of the included file is read before the Nexus block: create says so
    assert "warning:" in created.stderr
    assert "stricthostkeychecking" in created.stderr and f"{extra}:2" in created.stderr
    assert "SSH_ALIAS_TAKEN" not in created.stderr
    ok(nexus_env.run("workspace", "delete", "prod"))
    ok(nexus_env.run("ssh-config", "uninstall"))
    assert (ssh_dir / "config").read_text() == mine
