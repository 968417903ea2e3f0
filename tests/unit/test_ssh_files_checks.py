"""The user's ssh config around Nexus's: overrides above the block, taken aliases, ConnectTimeout,
nothing left in ~/.ssh, and the CLI's install status and --json usage errors. Real OpenSSH, the
real CLI in a temp HOME; no Docker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.access.user_ssh_config import BEGIN_MARKER, render_block
from nexus.domain.errors import ErrorCode, NexusError
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.ssh_files import SshFiles
from tests.conftest import NexusEnv
from tests.factories import running_docker_workspace

workspace = running_docker_workspace


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / ".nexus"))
    (tmp_path / ".ssh").mkdir(mode=0o700)
    return tmp_path


@pytest.fixture
def context(home: Path) -> Iterator[NexusContext]:
    ctx = NexusContext(NexusPaths(home / ".nexus"), env={})
    yield ctx
    ctx.close()


# ---- settings above the Nexus block that override a Nexus host ----------------------------------


def test_a_host_star_in_a_leading_include_is_reported_with_its_line(
    home: Path, context: NexusContext
) -> None:
    extra = home / ".ssh" / "orbstack.conf"
    extra.write_text(
        "# OrbStack-ish\nHost *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
    )
    # the block goes after the leading Include: the included Host * is read first, and wins
    (home / ".ssh" / "config").write_bytes(
        f"Include {extra}\n# Jos\xe9\nHost work\n  HostName work.example\n".encode("latin-1")
    )
    context.store.reserve(workspace("w1", 33001))
    files = SshFiles(context)
    files.refresh()
    found = {o.setting: o for o in files.last_overrides}
    assert sorted(found) == ["stricthostkeychecking", "userknownhostsfile"]
    assert found["stricthostkeychecking"].effective == "false"
    assert found["stricthostkeychecking"].expected == "true"
    assert found["stricthostkeychecking"].source == f"{extra}:3"
    assert found["userknownhostsfile"].effective == "/dev/null"
    assert found["userknownhostsfile"].source == f"{extra}:4"
    message = found["stricthostkeychecking"].message()
    assert "nexus-w1" in message and f"{extra}:3" in message
    # the same answer for a later caller (e.g. a doctor command), without any refresh
    assert sorted(o.setting for o in files.check_overrides()) == sorted(found)


def test_lines_moved_above_the_block_are_reported(home: Path, context: NexusContext) -> None:
    block = render_block(context.paths.ssh_config, b"\n")
    user = home / ".ssh" / "config"
    user.write_bytes(b"Host nexus-*\n  Port 2222\n  IdentityFile ~/.ssh/id_mine\n" + block)
    context.store.reserve(workspace("w1", 33002))
    files = SshFiles(context)
    files.refresh()
    found = {o.setting: o for o in files.last_overrides}
    assert sorted(found) == ["identityfile", "port"]
    assert found["port"].effective == "2222" and found["port"].source == f"{user}:2"
    assert found["identityfile"].source == f"{user}:3"


def test_nothing_is_reported_when_nothing_overrides(home: Path, context: NexusContext) -> None:
    (home / ".ssh" / "config").write_text(  # below the block: harmless
        "Host *\n  StrictHostKeyChecking no\n  IdentityFile ~/.ssh/id_ed25519\n"
        "Host nexus-*\n  Port 2\n"
    )
    context.store.reserve(workspace("w1", 33003))
    files = SshFiles(context)
    files.refresh()
    assert (home / ".ssh" / "config").read_text().startswith(BEGIN_MARKER)
    assert files.last_overrides == []
    assert files.check_overrides() == []


def test_the_check_runs_only_when_something_changed(home: Path, context: NexusContext) -> None:
    extra = home / ".ssh" / "extra.conf"
    extra.write_text("Host *\n  StrictHostKeyChecking no\n")
    (home / ".ssh" / "config").write_text(f"Include {extra}\n")
    context.store.reserve(workspace("w1", 33004))
    files = SshFiles(context)
    files.refresh()
    assert [o.setting for o in files.last_overrides] == ["stricthostkeychecking"]
    files.refresh()  # nothing changed (exec, info…): no ssh -G
    assert files.last_overrides == []
    files.refresh(check=True)
    assert [o.setting for o in files.last_overrides] == ["stricthostkeychecking"]


# ---- a user's own Host nexus-<name> ---------------------------------------------------------------


def test_a_users_own_host_entry_takes_the_alias(home: Path, context: NexusContext) -> None:
    included = home / ".ssh" / "work.conf"
    included.write_text("Host jump nexus-prod\n  HostName prod.example\n")
    (home / ".ssh" / "config").write_bytes(
        b"# caf\xe9\nHost nexus-*\n  User me\nHost !nexus-staging x\n  Port 1\n"
        + f"Include {included}\n".encode()
    )
    files = SshFiles(context)
    with pytest.raises(NexusError) as info:
        files.check_alias_free("prod")
    assert info.value.code == ErrorCode.SSH_ALIAS_TAKEN
    assert info.value.exit_code == 2
    assert f"{included}:1" in info.value.message
    assert "--" not in info.value.resolution  # no CLI flag named to a sidecar user
    files.check_alias_free("staging")  # a negated or wildcard pattern is not a definition
    files.check_alias_free("other")


def test_nexus_own_stanzas_do_not_count(home: Path, context: NexusContext) -> None:
    context.store.reserve(workspace("prod", 33005))
    files = SshFiles(context)
    files.refresh()
    assert "Host nexus-prod" in context.paths.ssh_config.read_text()
    assert files.alias_taken("nexus-prod") == []


def test_cli_create_refuses_a_taken_alias(nexus_env: NexusEnv) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "config").write_text("Host nexus-prod\n  HostName prod.example\n")
    refused = nexus_env.run("workspace", "create", "prod", "--json")
    assert refused.returncode == 2, refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "SSH_ALIAS_TAKEN"
    assert f"{ssh_dir / 'config'}:1" in error["message"]
    human = nexus_env.run("workspace", "create", "prod")
    assert human.returncode == 2 and "SSH_ALIAS_TAKEN" in human.stderr
    assert (ssh_dir / "config").read_text() == "Host nexus-prod\n  HostName prod.example\n"
    listed = json.loads(nexus_env.run("workspace", "list", "--json").stdout)
    assert listed["workspaces"] == []


# ---- ConnectTimeout -----------------------------------------------------------------------------


def ssh_g(config: Path, host: str) -> dict[str, str]:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), host], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.partition(" ")[::2] for line in reversed(out.splitlines()))


@pytest.mark.parametrize(("configured", "expected"), [(None, "30"), (5, "5"), (0.2, "1")])
def test_generated_stanzas_have_a_connect_timeout(
    home: Path, configured: float | None, expected: str
) -> None:
    context = NexusContext(NexusPaths(home / ".nexus"), env={})
    if configured is not None:
        context.config_manager.set("ssh.connect_timeout", str(configured))
    context.store.reserve(workspace("w1", 33006))
    SshFiles(context).refresh()
    assert ssh_g(context.paths.ssh_config, "nexus-w1")["connecttimeout"] == expected
    context.close()


def test_plain_ssh_gives_up_on_a_hung_sshd(home: Path, context: NexusContext) -> None:
    """A server that accepts and never says a word: ssh stops after ConnectTimeout, not never."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        context.config_manager.set("ssh.connect_timeout", "2")
        context.store.reserve(workspace("hung", listener.getsockname()[1]))
        SshFiles(context).refresh()
        result = subprocess.run(
            [
                "ssh",
                "-F",
                str(context.paths.ssh_config),
                "-o",
                "BatchMode=yes",
                "nexus-hung",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=120,  # without ConnectTimeout this would hang until killed here
        )
        assert result.returncode == 255
        assert "timed out" in result.stderr.lower()
        assert held, "ssh never reached the listener"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


# ---- the CLI: install status, nothing left in ~/.ssh, --json usage errors, any bytes -----------


def test_install_says_installed_then_unchanged_and_leaves_nothing_else(
    nexus_env: NexusEnv,
) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "known_hosts").write_text("")
    original = b"# Jos\xe9\r\nHost work\r\n  HostName work.example"  # Latin-1, CRLF, no final LF
    (ssh_dir / "config").write_bytes(original)
    before = sorted(p.name for p in ssh_dir.iterdir())

    first = nexus_env.run("ssh-config", "install", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "installed"
    assert json.loads(first.stdout)["overrides"] == []
    second = nexus_env.run("ssh-config", "install")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().endswith(": unchanged")
    data = (ssh_dir / "config").read_bytes()
    assert data.startswith(BEGIN_MARKER.encode() + b"\r\n") and data.endswith(original)
    assert sorted(p.name for p in ssh_dir.iterdir()) == before

    dry = nexus_env.run("ssh-config", "install", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    removed = nexus_env.run("ssh-config", "uninstall", "--json")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout)["removed"] is True
    assert (ssh_dir / "config").read_bytes() == original
    assert sorted(p.name for p in ssh_dir.iterdir()) == before
    reinstalled = nexus_env.run("ssh-config", "install")
    assert reinstalled.returncode == 0 and reinstalled.stdout.strip().endswith(": installed")


def test_install_warns_about_an_override(nexus_env: NexusEnv) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    extra = ssh_dir / "extra.conf"
    extra.write_text("Host *\n  UserKnownHostsFile /dev/null\n")
    (ssh_dir / "config").write_text(f"Include {extra}\n")
    context = NexusContext(NexusPaths(nexus_env.nexus_home), env={})
    context.store.reserve(workspace("w1", 33007))
    context.close()
    result = nexus_env.run("ssh-config", "install")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr
    assert "UserKnownHostsFile".lower() in result.stderr and f"{extra}:2" in result.stderr
    as_json = json.loads(nexus_env.run("ssh-config", "install", "--json").stdout)
    assert [o["setting"] for o in as_json["overrides"]] == ["userknownhostsfile"]
    assert as_json["overrides"][0]["source"] == f"{extra}:2"


@pytest.mark.parametrize(
    "argv",
    [
        ["workspace", "create", "--json"],  # missing argument
        ["workspace", "list", "--json", "--no-such-flag"],  # unknown option
        ["workspace", "list", "--json", "--backend-filter", "nope"],  # bad value
        ["ssh-config", "install", "--json", "extra"],  # unexpected argument
    ],
)
def test_json_usage_errors_are_json(nexus_env: NexusEnv, argv: list[str]) -> None:
    result = nexus_env.run(*argv)
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["message"] and error["resolution"].endswith("--help` for the usage.")


def test_usage_errors_are_caught_with_the_click_typer_runs_on() -> None:
    """No private typer module: the classes come through typer's public BadParameter."""
    import typer

    from nexus.cli.main import app, click_errors

    click_exception, usage_error = click_errors()
    assert issubclass(typer.BadParameter, usage_error)
    assert issubclass(usage_error, click_exception)
    with pytest.raises(usage_error) as raised:
        app(args=["workspace", "list", "--no-such-flag"], prog_name="nexus", standalone_mode=False)
    assert "--no-such-flag" in raised.value.format_message()


def test_usage_errors_without_json_are_unchanged(nexus_env: NexusEnv) -> None:
    result = nexus_env.run("workspace", "create")
    assert result.returncode == 2
    assert result.stdout == "" and "Missing argument" in result.stderr
    assert nexus_env.run("version", "--json").returncode == 0


def test_include_cycles_and_odd_lines_do_not_break_the_readers(home: Path) -> None:
    from nexus.access.user_ssh_scan import alias_definitions, directives

    config = home / ".ssh" / "config"
    other = home / ".ssh" / "other.conf"
    config.write_bytes(
        f"Include {config} {other}\n=\n\xff\xfe junk\nHost nexus-a\n".encode("latin-1")
    )
    other.write_text(f'Include "{config}"\nMatch host nexus-b exec "false"\n  Port 1\n')
    assert alias_definitions(config, "nexus-a", []) == [f"{config}:4"]
    ports = [d for d in directives(config) if d.keyword == "port"]
    assert [d.where for d in ports] == [f"{other}:3"]
    assert ports[0].applies("nexus-b") is None  # depends on the exec: cannot be told
    assert ports[0].applies("nexus-c") is False


def test_no_ssh_on_path_skips_the_check(
    home: Path, context: NexusContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = home / ".ssh" / "extra.conf"
    extra.write_text("Host *\n  StrictHostKeyChecking no\n")
    (home / ".ssh" / "config").write_text(f"Include {extra}\n")
    context.store.reserve(workspace("w1", 33008))
    files = SshFiles(context)
    empty = home / "empty-bin"
    empty.mkdir()
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(empty))
    files.refresh(check=True)
    assert files.last_install is not None and files.last_install.status.value == "installed"
    assert files.last_overrides == []
    monkeypatch.setenv("PATH", path)
    assert [o.setting for o in files.check_overrides()] == ["stricthostkeychecking"]
