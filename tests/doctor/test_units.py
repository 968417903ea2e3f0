"""The pure parts of `nexus doctor`: the Include block's state and repair, the config's keys,
the line that shadows a Nexus host, the report, and a check that crashes or hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from nexus.access.user_ssh_config import BEGIN_MARKER, END_MARKER, include_line
from nexus.doctor import config_checks, ssh_block, ssh_resolve
from nexus.doctor.model import DoctorReport, Finding, Severity, error, ok, warning
from nexus.service.doctor import guarded

NEXUS = Path("/home/dev/.nexus/ssh/config")
INCLUDE = include_line(NEXUS)
BLOCK = f"{BEGIN_MARKER}\n{INCLUDE}\n{END_MARKER}\n".encode()
USER = b"# my hosts\r\nHost box\r\n  HostName 10.0.0.7\r\n  User me\r\n# caf\xe9 (latin-1)\r\nMatch all"


def test_an_intact_block_first_is_intact() -> None:
    report = ssh_block.inspect(BLOCK + USER, NEXUS)
    assert report.state is ssh_block.BlockState.INTACT
    assert report.before is None
    assert report.begin_line == 1


def test_a_block_after_a_host_line_is_not_first() -> None:
    report = ssh_block.inspect(USER.replace(b"Match all", b"") + b"\n" + BLOCK, NEXUS)
    assert report.state is ssh_block.BlockState.INTACT
    assert report.before == (2, "Host box")


def test_leading_includes_may_come_before_the_block() -> None:
    data = b"Include ~/.ssh/work.conf\n\n" + BLOCK + USER
    assert ssh_block.inspect(data, NEXUS).before is None


@pytest.mark.parametrize(
    ("damage", "state"),
    [
        (lambda b: b.replace(END_MARKER.encode() + b"\n", b""), ssh_block.BlockState.BROKEN),
        (lambda b: b.replace(BEGIN_MARKER.encode() + b"\n", b""), ssh_block.BlockState.BROKEN),
        (lambda b: b.replace(b"Host box", BLOCK + b"Host box"), ssh_block.BlockState.BROKEN),
        (
            lambda b: b.replace(INCLUDE.encode(), b'Include "/elsewhere"'),
            ssh_block.BlockState.EDITED,
        ),
    ],
    ids=["end-deleted", "begin-deleted", "duplicated", "edited"],
)
def test_a_damaged_block_is_repaired_and_the_user_lines_kept(
    damage: Callable[[bytes], bytes], state: ssh_block.BlockState
) -> None:
    data = damage(BLOCK + USER)
    assert ssh_block.inspect(data, NEXUS).state is state
    fixed = ssh_block.repaired(data, NEXUS)
    assert ssh_block.inspect(fixed, NEXUS).state is ssh_block.BlockState.INTACT
    # the block went back at the top with the file's own line ends; every user byte is kept
    # (a line someone wrote between the markers too: it is theirs, now outside the block; an
    # Include stays ahead of it, as leading Includes do)
    kept = b'Include "/elsewhere"\n' if state is ssh_block.BlockState.EDITED else b""
    assert fixed == kept + BLOCK.replace(b"\n", b"\r\n") + USER


def test_hosts_written_inside_the_block_are_kept_outside_it() -> None:
    inside = b"Host mine\n  HostName 10.1.2.3\n"
    data = BLOCK.replace(END_MARKER.encode(), inside + END_MARKER.encode())
    assert ssh_block.inspect(data, NEXUS).state is ssh_block.BlockState.EDITED
    assert ssh_block.repaired(data, NEXUS) == BLOCK + inside


def test_a_block_below_user_hosts_moves_first_without_touching_them() -> None:
    user = b"Host *\n  Port 2222\n\n"
    fixed = ssh_block.repaired(user + BLOCK, NEXUS)
    assert fixed == BLOCK + user


def test_an_absent_block_is_added_first() -> None:
    assert ssh_block.inspect(USER, NEXUS).state is ssh_block.BlockState.ABSENT
    assert ssh_block.repaired(b"", NEXUS) == BLOCK


def test_unknown_and_retired_config_keys_are_named_with_their_lines() -> None:
    text = (
        'version: "2"\n'
        "workspace:\n"
        "  defualt_backend: docker\n"
        "lsp:\n"
        "  commands:\n"
        "    rust: rust-analyzer\n"  # a mapping of the user's: any key
        "backends:\n"
        "  daytona:\n"
        "    sync:\n"
        "      use_process_api_threshold: 5\n"
        "colour: blue\n"
    )
    import yaml

    raw = yaml.safe_load(text)
    assert config_checks.current_unknown_keys(raw) == ["workspace.defualt_backend", "colour"]
    assert config_checks.retired_keys(raw) == ["backends.daytona.sync.use_process_api_threshold"]
    lines = config_checks.key_lines(text)
    assert lines["workspace.defualt_backend"] == 3
    assert lines["colour"] == 11


def test_an_invalid_config_still_gives_the_other_checks_its_valid_part(tmp_path: Path) -> None:
    from nexus.config.loader import ConfigManager
    from nexus.paths import NexusPaths

    paths = NexusPaths(tmp_path)
    paths.config_file.write_text(
        'version: "2"\nworkspace:\n  defualt_backend: docker\nssh:\n  control_persist: 7\n'
    )
    result = config_checks.check_config(ConfigManager(paths, env={}))
    assert not result.valid
    codes = [f.code for f in result.findings]
    assert codes == ["DOCTOR_CONFIG_UNKNOWN_KEY"]
    assert result.config is not None
    assert result.config.ssh.control_persist == 7


def test_the_line_that_shadows_a_nexus_host_is_named(tmp_path: Path) -> None:
    nexus = tmp_path / "nexus.conf"
    nexus.write_text("Host nexus-a\n  Port 40000\n")
    extra = tmp_path / "extra.conf"
    extra.write_text("Host nexus-*\n  HostName example.invalid\n")
    user = tmp_path / "config"
    user.write_text(
        f"Host other\n  Port 1\nHost *\n  User someone\n  Port 2222\n"
        f"Include {extra}\nInclude {nexus}\nHost *\n  Compression yes\n"
    )
    port = ssh_resolve.shadowing_line(user, "nexus-a", "port", nexus)
    assert port is not None
    assert port.describe("port") == f"`Host *` at {user}:3 (its port on line 5)"
    host = ssh_resolve.shadowing_line(user, "nexus-a", "hostname", nexus)
    assert host is not None and (host.path, host.condition_line) == (extra, 1)
    assert ssh_resolve.shadowing_line(user, "nexus-a", "compression", nexus) is None


def test_the_report_fails_only_on_errors() -> None:
    report = DoctorReport([ok("A", "fine"), warning("B", "meh", "do x", fixable=True)])
    assert report.healthy
    assert report.summary()["fixable"] == 1
    report.findings.append(error("C", "broken"))
    assert not report.healthy
    fixed = report.findings[1].done("fixed: meh")
    assert fixed.severity is Severity.OK and fixed.fixed
    assert set(report.to_json_dict()) == {"findings", "summary"}


def test_a_check_that_crashes_or_hangs_becomes_a_finding() -> None:
    async def crash() -> list[Finding]:
        raise RuntimeError("boom")

    async def hang() -> list[Finding]:
        await asyncio.Event().wait()
        return []

    crashed = asyncio.run(guarded("ssh", crash))
    assert [(f.code, f.severity) for f in crashed] == [("DOCTOR_CHECK_FAILED", Severity.ERROR)]
    assert "RuntimeError: boom" in crashed[0].message
    hung = asyncio.run(guarded("docker", hang, timeout=0.1))
    assert [f.code for f in hung] == ["DOCTOR_CHECK_TIMEOUT"]


def test_every_code_doctor_reports_is_documented() -> None:
    import re

    root = Path(__file__).resolve().parents[2]
    sources = [
        *(root / "server/nexus/doctor").glob("*.py"),
        root / "server/nexus/service/doctor.py",
    ]
    codes = {
        code for path in sources for code in re.findall(r'"(DOCTOR_[A-Z_]+)"', path.read_text())
    }
    documented = set(
        re.findall(r"`(DOCTOR_[A-Z_]+)`", (root / "docs/troubleshooting.md").read_text())
    )
    assert len(codes) > 30
    assert codes == documented
