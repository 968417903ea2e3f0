"""The user's ~/.ssh/config: every byte of theirs kept, one Include block, resolved by real OpenSSH."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.access.user_ssh_config import (
    BEGIN_MARKER,
    END_MARKER,
    InstallStatus,
    UserSshConfig,
    with_block,
    without_block,
)
from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.ssh_files import SshFiles

USER_HOSTS = ["alpha", "beta", "gamma"]

FRAGMENTS = st.sampled_from(
    [
        "# a comment\n",
        "\n",
        "Include ~/.ssh/extra_config\n",
        "Include /etc/ssh/ssh_config.d/*.conf\n",
        "ServerAliveInterval 15\n",
        "User globaluser\n",
        "Host *\n  ForwardAgent no\n  Port 2200\n",
        "Match all\n  Compression yes\n",
        "Host alpha\n  HostName alpha.example\n  Port 2201\n  User alice\n",
        "Host beta\n  HostName beta.example\n",
        "Host gamma delta\n  HostName gamma.example\n  IdentityFile ~/.ssh/id_gamma\n",
        "Match host beta\n  User bob\n",
        "Host nexus-*\n  User intruder\n",
    ]
)


@st.composite
def user_configs(draw: st.DrawFn) -> str:
    text = "".join(draw(st.lists(FRAGMENTS, max_size=8)))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    return text


def ssh_g(config: Path, host: str) -> dict[str, str]:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), host], capture_output=True, text=True, check=True
    ).stdout
    resolved = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        resolved.setdefault(key, value)
    return resolved


def make_store_workspace(name: str, port: int) -> Workspace:
    return Workspace(
        name=name,
        backend=BackendType.DOCKER,
        status=WorkspaceStatus.RUNNING,
        ssh_host="127.0.0.1",
        ssh_port=port,
        ssh_user="nexus",
        host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOJ0sqTsGbjSZ9Z0Oo4XfyFQ3kxGN6SJ3UNkvvAJRrHu",
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    original=user_configs(),
    ops=st.lists(
        st.tuples(st.sampled_from(["create", "delete"]), st.sampled_from(["w1", "w2", "w3"])),
        min_size=1,
        max_size=6,
    ),
)
def test_user_bytes_kept_and_ssh_resolves(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    original: str,
    ops: list[tuple[str, str]],
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir()
    user_config = ssh_dir / "config"
    user_config.write_bytes(original.encode())
    before = {host: ssh_g(user_config, host) for host in USER_HOSTS}

    context = NexusContext(NexusPaths(home / ".nexus"), env={})
    files = SshFiles(context)
    live: dict[str, int] = {}
    for index, (op, name) in enumerate(ops):
        if op == "create" and name not in live:
            live[name] = 33000 + index
            context.store.reserve(make_store_workspace(name, live[name]))
        elif op == "delete" and name in live:
            del live[name]
            context.store.remove(name)
        files.refresh()
    text = user_config.read_bytes().decode()
    # exactly one block, the user's bytes around it unchanged
    assert text.count(BEGIN_MARKER) == 1 and text.count(END_MARKER) == 1
    assert without_block(text, user_config).encode() == original.encode()
    # the user's hosts resolve exactly as before
    for host in USER_HOSTS:
        assert ssh_g(user_config, host) == before[host]
    # every live workspace resolves to its own endpoint, deleted ones left nothing behind
    generated = context.paths.ssh_config.read_text()
    for name in ("w1", "w2", "w3"):
        resolved = ssh_g(user_config, f"nexus-{name}")
        if name in live:
            assert resolved["hostname"] == "127.0.0.1"
            assert resolved["port"] == str(live[name])
            assert resolved["user"] == "nexus"
            assert resolved["stricthostkeychecking"] == "true"
            assert resolved["hostkeyalias"] == f"nexus-{name}"
        else:
            assert f"Host nexus-{name}\n" not in generated
    # uninstall gives back the original, byte for byte
    UserSshConfig(user_config, context.paths.ssh_config).uninstall()
    assert user_config.read_bytes() == original.encode()
    context.close()


def test_block_goes_after_leading_includes_before_anything_else(tmp_path: Path) -> None:
    text = "# header\nInclude ~/.orbstack/ssh/config\n\nUser bob\nHost a\n  HostName a\n"
    out = with_block(text, Path("/n/ssh/config"), tmp_path)
    lines = out.splitlines()
    assert lines[:2] == ["# header", "Include ~/.orbstack/ssh/config"]
    assert lines[2] == BEGIN_MARKER
    assert lines[3] == 'Include "/n/ssh/config"'
    assert lines[5:] == ["", "User bob", "Host a", "  HostName a"]
    assert with_block(out, Path("/n/ssh/config"), tmp_path) == out  # inserted once


def test_crlf_files_get_a_crlf_block(tmp_path: Path) -> None:
    out = with_block("Host a\r\n  HostName a", Path("/n/c"), tmp_path)
    assert out == f'{BEGIN_MARKER}\r\nInclude "/n/c"\r\n{END_MARKER}\r\nHost a\r\n  HostName a'


@pytest.mark.parametrize(
    "broken",
    [
        f"{BEGIN_MARKER}\nInclude x\n",
        f"Include x\n{END_MARKER}\n",
        f"{END_MARKER}\n{BEGIN_MARKER}\n",
        f"{BEGIN_MARKER}\n{END_MARKER}\n{BEGIN_MARKER}\n{END_MARKER}\n",
    ],
)
def test_broken_markers_are_refused_not_fixed(tmp_path: Path, broken: str) -> None:
    config = tmp_path / "config"
    config.write_text(broken)
    with pytest.raises(NexusError) as info:
        UserSshConfig(config, tmp_path / "nexus").install()
    assert info.value.code == ErrorCode.SSH_CONFIG_CONFLICT
    assert config.read_text() == broken


def test_missing_ssh_dir_is_created_private(tmp_path: Path) -> None:
    config = tmp_path / ".ssh" / "config"
    result = UserSshConfig(config, tmp_path / "nexus").install()
    assert result.status is InstallStatus.INSTALLED
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_existing_mode_is_kept_and_symlinks_are_written_through(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "ssh_config"
    real.parent.mkdir()
    real.write_text("Host a\n")
    os.chmod(real, 0o640)
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").symlink_to(real)
    UserSshConfig(ssh_dir / "config", tmp_path / "nexus").install()
    assert (ssh_dir / "config").is_symlink()
    assert BEGIN_MARKER in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_read_only_config_is_left_alone_with_a_hint(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host a\n")
    os.chmod(config, 0o444)
    result = UserSshConfig(config, tmp_path / "nexus").install()
    assert result.status is InstallStatus.READ_ONLY
    assert config.read_text() == "Host a\n"
    assert result.hint is not None
    assert f'Include "{tmp_path / "nexus"}"' in result.hint
    assert "remote.SSH.configFile" in result.hint and "ssh -F" in result.hint
