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
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.ssh_files import SshFiles
from tests.factories import running_docker_workspace

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
        "# Jos\xe9 (Latin-1, not UTF-8)\n",
        "Host alpha-\xe9t\xe9\n  HostName x.example\n",
        "# \x0c form feed, \x1c and \u2028 are not line ends to OpenSSH\n",
    ]
)


@st.composite
def user_configs(draw: st.DrawFn) -> bytes:
    text = "".join(draw(st.lists(FRAGMENTS, max_size=8)))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    # Latin-1 where it fits (the byte 0xE9 alone is not UTF-8), UTF-8 for the rest
    latin1 = draw(st.booleans()) and all(ord(c) < 256 for c in text)
    return text.encode("latin-1") if latin1 else text.encode("utf-8")


def ssh_g(config: Path, host: str) -> dict[str, str]:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), host], capture_output=True, text=True, check=True
    ).stdout
    resolved = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        resolved.setdefault(key, value)
    return resolved


make_store_workspace = running_docker_workspace


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
    original: bytes,
    ops: list[tuple[str, str]],
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir()
    user_config = ssh_dir / "config"
    user_config.write_bytes(original)
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
    data = user_config.read_bytes()
    # exactly one block, the user's bytes around it unchanged
    assert data.count(BEGIN_MARKER.encode()) == 1 and data.count(END_MARKER.encode()) == 1
    assert without_block(data, user_config) == original
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
    assert user_config.read_bytes() == original
    context.close()


def test_block_goes_after_leading_includes_before_anything_else(tmp_path: Path) -> None:
    text = b"# header\nInclude ~/.orbstack/ssh/config\n\nUser bob\nHost a\n  HostName a\n"
    out = with_block(text, Path("/n/ssh/config"), tmp_path)
    lines = out.splitlines()
    assert lines[:2] == [b"# header", b"Include ~/.orbstack/ssh/config"]
    assert lines[2] == BEGIN_MARKER.encode()
    assert lines[3] == b'Include "/n/ssh/config"'
    assert lines[5:] == [b"", b"User bob", b"Host a", b"  HostName a"]
    assert with_block(out, Path("/n/ssh/config"), tmp_path) == out  # inserted once


def test_crlf_files_get_a_crlf_block(tmp_path: Path) -> None:
    out = with_block(b"Host a\r\n  HostName a", Path("/n/c"), tmp_path)
    assert (
        out
        == f'{BEGIN_MARKER}\r\nInclude "/n/c"\r\n{END_MARKER}\r\nHost a\r\n  HostName a'.encode()
    )


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


BYTE_LINES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [b"Include /etc/ssh/ssh_config.d/*.conf", b"# Jos\xe9", b"Host *", b"  Port 2200", b""]
    ),
).map(lambda line: line.replace(b"\n", b" "))


@st.composite
def arbitrary_configs(draw: st.DrawFn) -> bytes:
    """Any bytes at all, as lines ended by LF, CRLF, a lone CR or nothing at the very end."""
    lines = draw(st.lists(BYTE_LINES, max_size=10))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r\n", b"\n"]), min_size=len(lines)))
    data = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    if draw(st.booleans()):
        data += draw(st.binary(max_size=20)).replace(b"\n", b"")  # no final newline
    return data


@settings(max_examples=300, deadline=None)
@given(original=arbitrary_configs())
def test_any_bytes_round_trip_through_the_block(original: bytes) -> None:
    nexus_config = Path("/home/me/.nexus/ssh/config")
    path = Path("/home/me/.ssh/config")
    with_it = with_block(original, nexus_config, path)
    assert with_it.count(BEGIN_MARKER.encode()) == 1
    assert with_block(with_it, nexus_config, path) == with_it  # once, and only once
    assert without_block(with_it, path) == original  # every byte of the user's kept
    # a moved Nexus home updates the block in place, still keeping every other byte
    moved = with_block(with_it, Path("/elsewhere/ssh/config"), path)
    assert without_block(moved, path) == original


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(original=arbitrary_configs())
def test_any_bytes_install_and_uninstall_byte_exactly(
    tmp_path_factory: pytest.TempPathFactory, original: bytes
) -> None:
    folder = tmp_path_factory.mktemp("any")
    config = folder / ".ssh" / "config"
    config.parent.mkdir()
    config.write_bytes(original)
    user = UserSshConfig(config, folder / "nexus" / "config", lock=folder / "nexus" / "u.lock")
    assert user.install().status is InstallStatus.INSTALLED
    assert user.is_installed()
    assert user.diff() == ""
    assert user.install().status is InstallStatus.UNCHANGED
    assert user.uninstall() is True
    assert config.read_bytes() == original
    assert sorted(p.name for p in config.parent.iterdir()) == ["config"]  # no lock, no temp file


def test_latin1_crlf_no_final_newline_round_trips(tmp_path: Path) -> None:
    original = b"# Jos\xe9's hosts\r\nHost caf\xe9\r\n  HostName cafe.example\r\n  User jos\xe9"
    config = tmp_path / "config"
    config.write_bytes(original)
    user = UserSshConfig(config, tmp_path / "nexus" / "config", lock=tmp_path / "u.lock")
    preview = user.diff()  # printable, whatever the encoding
    assert "+Include" in preview and "Jos\\xe9" in preview
    assert user.install().status is InstallStatus.INSTALLED
    data = config.read_bytes()
    assert data.startswith(BEGIN_MARKER.encode() + b"\r\n")  # the file's own line ends
    assert data.endswith(original)
    diff = user.diff()
    assert diff == ""
    assert user.uninstall() is True
    assert config.read_bytes() == original


def test_the_lock_older_versions_left_in_ssh_dir_is_removed(tmp_path: Path) -> None:
    """Older versions locked with ~/.ssh/.nexus-config.lock: install (every refresh calls it, even
    when the block is already there) and uninstall remove it; nothing else in ~/.ssh is touched."""
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    config = ssh_dir / "config"
    config.write_bytes(b"Host work\n  HostName work.example\n")
    (ssh_dir / "known_hosts").write_text("")
    legacy = ssh_dir / ".nexus-config.lock"
    user = UserSshConfig(config, tmp_path / "nexus" / "config", lock=tmp_path / "u.lock")

    legacy.write_text("")
    assert user.install().status is InstallStatus.INSTALLED
    assert not legacy.exists()
    legacy.write_text("")
    assert user.install().status is InstallStatus.UNCHANGED
    assert not legacy.exists()
    legacy.write_text("")
    assert user.uninstall() is True
    assert sorted(p.name for p in ssh_dir.iterdir()) == ["config", "known_hosts"]
