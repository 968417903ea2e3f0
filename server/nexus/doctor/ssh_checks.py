"""SSH: the OpenSSH tools, the Include block in ``~/.ssh/config``, what ``ssh nexus-<name>``
resolves to, and Nexus's own ssh config and known_hosts against the records."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..access import user_ssh_scan
from ..access.known_hosts import render_known_hosts
from ..access.user_ssh_config import manual_hint, read_bytes
from ..domain.kinds import WorkspaceStatus
from ..fsutil import atomic_write
from ..locking import file_lock
from ..paths import ensure_dir
from . import ssh_block, ssh_resolve
from .model import Finding, error, ok, warning

if TYPE_CHECKING:
    from ..domain.models import Workspace
    from ..service.context import NexusContext

CHECK = "ssh"
FIX_COMMAND = "`nexus doctor --fix`"
OPENSSH_HINT = "Install the OpenSSH client (Debian/Ubuntu: `sudo apt-get install openssh-client`)."


def check_tools() -> list[Finding]:
    found = []
    for tool, code in (("ssh", "DOCTOR_SSH_MISSING"), ("ssh-keygen", "DOCTOR_SSH_KEYGEN_MISSING")):
        where = shutil.which(tool)
        if where:
            found.append(
                ok("DOCTOR_SSH_TOOLS_OK", f"`{tool}` is {where}", check=CHECK, subject=tool)
            )
        else:
            found.append(
                error(code, f"`{tool}` is not on PATH", OPENSSH_HINT, check=CHECK, subject=tool)
            )
    return found


def _writable(path: Path) -> bool:
    import os

    target = path.resolve()
    if target.exists():
        return os.access(target, os.W_OK) and bool(target.stat().st_mode & 0o200)
    return os.access(target.parent, os.W_OK) if target.parent.exists() else True


@dataclass(frozen=True)
class BlockCheck:
    findings: list[Finding]
    report: ssh_block.BlockReport
    writable: bool


def check_block(user_config: Path, nexus_config: Path, have_workspaces: bool) -> BlockCheck:
    data = read_bytes(user_config)
    report = ssh_block.inspect(data, nexus_config)
    writable = _writable(user_config)
    subject = str(user_config)
    fix = FIX_COMMAND if writable else manual_hint(nexus_config, user_config)

    def problem(code: str, message: str, *, as_error: bool) -> Finding:
        make = error if as_error else warning
        return make(code, message, fix, fixable=writable, check=CHECK, subject=subject)

    if report.state is ssh_block.BlockState.ABSENT and not have_workspaces:
        finding = ok(
            "DOCTOR_SSH_BLOCK_OK",
            f"{user_config} has no Nexus block yet: the first workspace adds it",
            check=CHECK,
            subject=subject,
        )
    elif report.state is ssh_block.BlockState.ABSENT:
        finding = problem(
            "DOCTOR_SSH_INCLUDE_MISSING",
            f"{user_config} has no Nexus block: plain `ssh nexus-<name>` and editors do not find "
            "the workspaces",
            as_error=True,
        )
    elif report.state is ssh_block.BlockState.BROKEN:
        finding = problem(
            "DOCTOR_SSH_BLOCK_BROKEN",
            f"the Nexus block in {user_config} is damaged: {report.detail}",
            as_error=True,
        )
    elif report.state is ssh_block.BlockState.EDITED:
        finding = problem(
            "DOCTOR_SSH_BLOCK_EDITED",
            f"the Nexus block in {user_config} (line {report.begin_line}) was edited: "
            f"{report.detail}",
            as_error=True,
        )
    elif report.before is not None:
        line, text = report.before
        finding = problem(
            "DOCTOR_SSH_BLOCK_NOT_FIRST",
            f"the Nexus block in {user_config} (line {report.begin_line}) comes after line "
            f"{line} (`{text}`): OpenSSH takes the first value it reads, so lines above the "
            "block can override a workspace's settings",
            as_error=False,
        )
    else:
        finding = ok(
            "DOCTOR_SSH_BLOCK_OK",
            f"the Nexus block in {user_config} is intact and first (line {report.begin_line})",
            check=CHECK,
            subject=subject,
        )
    return BlockCheck([finding], report, writable)


def expected_settings(ctx: NexusContext, ws: Workspace, token: bool) -> dict[str, list[str]]:
    expected = {
        "hostname": [ws.ssh_host or "127.0.0.1"],
        "port": [str(ws.ssh_port)],
        "identityfile": [str(ctx.paths.client_key)],
        "hostkeyalias": [ws.ssh_alias],
        "userknownhostsfile": [str(ctx.paths.known_hosts)],
        "stricthostkeychecking": ["true"],
    }
    if not token:
        expected["user"] = [ws.ssh_user or "nexus"]
    return expected


def reachable_by_alias(ws: Workspace) -> bool:
    """Whether Nexus's ssh config has a stanza for it (as ``render_config`` decides)."""
    return ws.ssh_port is not None and ws.status is not WorkspaceStatus.DELETING


def check_alias(
    ctx: NexusContext,
    user_config: Path,
    ws: Workspace,
    *,
    token: bool,
    block: BlockCheck,
    own_stale: bool = False,
) -> Finding:
    """``ssh -G nexus-<name>`` with the user's real config: Nexus's stanza, or who shadows it."""
    alias = ws.ssh_alias
    nexus_config = ctx.paths.ssh_config
    resolved = ssh_resolve.ssh_g(user_config, alias)
    if resolved.problem:
        return error(
            "DOCTOR_SSH_ALIAS_UNRESOLVED",
            f"`ssh -G {alias}` fails with {user_config}: {resolved.problem}",
            f"Fix the line ssh names in {user_config} (check with `ssh -G {alias}`).",
            check=CHECK,
            subject=ws.name,
        )
    wrong = user_ssh_scan.differences(expected_settings(ctx, ws, token), resolved.settings)
    if not wrong:
        return ok(
            "DOCTOR_SSH_ALIAS_OK",
            f"`ssh {alias}` resolves to Nexus's stanza ({ws.ssh_host or '127.0.0.1'}:"
            f"{ws.ssh_port})",
            check=CHECK,
            subject=ws.name,
        )
    if own_stale and not any(
        ssh_resolve.shadowing_line(user_config, alias, setting, nexus_config)
        for setting, _, _ in wrong
    ):
        return error(
            "DOCTOR_SSH_ALIAS_UNRESOLVED",
            f"`ssh {alias}` does not reach the workspace: Nexus's own ssh config "
            f"({nexus_config}) has no current stanza for it",
            f"{FIX_COMMAND} (writes it again from the records)",
            fixable=True,
            check=CHECK,
            subject=ws.name,
        )
    details = []
    fixable = block.writable
    shadows = []
    for setting, nexus_value, effective in wrong:
        shadow = ssh_resolve.shadowing_line(user_config, alias, setting, nexus_config)
        where = shadow.describe(setting) if shadow else "a line read before the Nexus stanza"
        details.append(f"{setting} is {effective!r}, not Nexus's {nexus_value!r}, set by {where}")
        if shadow is not None:
            shadows.append(shadow)
    block_first = block.report.state is ssh_block.BlockState.INTACT and block.report.before is None
    if block_first or any(s.path.resolve() != user_config.resolve() for s in shadows):
        # the lines responsible are not below-the-block lines of this file that a move fixes
        fixable = False
    if fixable:
        fix = f"{FIX_COMMAND} (moves the Nexus block above the user's lines; none of them changes)"
    else:
        fix = (
            "Make the Nexus block come before that line (an Include above it that sets it must "
            "move below the block), or exclude Nexus's hosts from it: `Host * !nexus-*`."
        )
    return error(
        "DOCTOR_SSH_HOST_SHADOWED",
        f"plain `ssh {alias}` does not use Nexus's stanza: " + "; ".join(details),
        fix,
        fixable=fixable,
        check=CHECK,
        subject=ws.name,
    )


def check_own_files(ctx: NexusContext, workspaces: list[Workspace], rendered: str) -> list[Finding]:
    """Nexus's own ssh config and known_hosts, against what the records make of them."""
    found = []
    config = ctx.paths.ssh_config
    # no file yet and nothing to write in it (no workspace): the first create writes them
    nothing_yet = not any(reachable_by_alias(ws) for ws in workspaces)
    if (config.exists() or not nothing_yet) and read_bytes(config) != rendered.encode():
        found.append(
            warning(
                "DOCTOR_SSH_FILES_STALE",
                f"{config} does not match the records (edited, removed or left from an older "
                "state)",
                FIX_COMMAND,
                fixable=True,
                check=CHECK,
                subject=str(config),
            )
        )
    else:
        found.append(
            ok(
                "DOCTOR_SSH_FILES_OK",
                f"{config} matches the records",
                check=CHECK,
                subject=str(config),
            )
        )
    pins = ctx.paths.known_hosts
    no_keys = not any(ws.host_key for ws in workspaces)
    wanted = render_known_hosts(workspaces).encode()
    if (pins.exists() or not no_keys) and read_bytes(pins) != wanted:
        found.append(
            error(
                "DOCTOR_KNOWN_HOSTS_STALE",
                f"{pins} does not pin the host keys the records hold: ssh would refuse (or not "
                "check) a workspace's key",
                FIX_COMMAND,
                fixable=True,
                check=CHECK,
                subject=str(pins),
            )
        )
    else:
        found.append(
            ok(
                "DOCTOR_KNOWN_HOSTS_OK",
                f"{pins} pins the recorded host key of every workspace",
                check=CHECK,
                subject=str(pins),
            )
        )
    if workspaces and not ctx.paths.client_key.exists():
        found.append(
            error(
                "DOCTOR_SSH_KEY_MISSING",
                f"Nexus's client key {ctx.paths.client_key} is gone: no workspace accepts a login",
                "Recreate the workspaces (`nexus workspace delete NAME`, then create), or put the "
                "key back from a backup.",
                check=CHECK,
                subject=str(ctx.paths.client_key),
            )
        )
    return found


def fix_block(ctx: NexusContext, user_config: Path) -> str:
    """Rewrite the Nexus block intact and first; the user's lines stay byte-identical and the
    file as it was is kept under NEXUS_HOME/doctor. Returns where that copy is ("" if none)."""
    with file_lock(ctx.paths.lock("user-ssh-config")):
        data = read_bytes(user_config)
        new = ssh_block.repaired(data, ctx.paths.ssh_config)
        if new == data:
            return ""
        backup = ""
        if data:
            folder = ensure_dir(ctx.paths.home / "doctor")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            copy = folder / f"ssh-config.{stamp}.bak"
            atomic_write(copy, data, mode=0o600)
            backup = str(copy)
        ensure_dir(user_config.parent)
        atomic_write(user_config.resolve(), new, mode=0o600)
    return backup
