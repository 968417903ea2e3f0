"""`workspace exec` and `workspace ssh` through the system OpenSSH client.

When the state store says a workspace is running and its SSH endpoint answers (its shared
connection is up, or its sshd sends a banner), ``ssh`` runs the command at once: no engine
call, no typer, no asyncssh (an interactive shell becomes ``ssh``). Anything else (a stopped or
missing workspace, a Daytona token gateway, ``--json``, no system ssh) goes the full way, which
asks the engine and reports precisely what is wrong.
"""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

from ..access import openssh
from ..access.remote_command import build_remote_command
from ..store.peek import AccessRecord

if TYPE_CHECKING:
    from ..paths import NexusPaths


def answers(paths: NexusPaths, workspace: AccessRecord) -> bool:
    """The generated config reaches ``workspace`` where the store says, and something is there:
    its shared connection, or an SSH server on its port."""
    try:
        config = paths.ssh_config.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    if openssh.stanza_port(config, workspace.ssh_alias) != workspace.ssh_port:
        return False
    if openssh.master_alive(openssh.control_path(paths.ssh_dir, workspace.ssh_alias)):
        return True
    return openssh.banner_answers(workspace.ssh_host, int(workspace.ssh_port or 0))


def ssh_argv(
    ssh: str,
    paths: NexusPaths,
    workspace: AccessRecord,
    command: list[str] | None,
    *,
    workdir: str | None = None,
    interactive: bool = False,
) -> list[str]:
    """The ssh command line for an exec (``command``) or an interactive shell/command."""
    remote_path = workspace.remote_path
    if interactive:
        # a command is passed the way ssh passes one (words joined by spaces); none: a login shell
        remote = command or [
            f"cd {shlex.quote(remote_path)} 2>/dev/null; exec ${{SHELL:-/bin/bash}} -l"
        ]
        return openssh.command_argv(
            ssh,
            paths.ssh_config,
            workspace.ssh_alias,
            remote,
            forward_agent=workspace.forward_agent,
            stdin=True,
            tty=not command,
        )
    from .stdin_reader import stdin_is_data

    return openssh.command_argv(
        ssh,
        paths.ssh_config,
        workspace.ssh_alias,
        [build_remote_command(command or [], workdir or remote_path)],
        forward_agent=workspace.forward_agent,
        stdin=stdin_is_data(),
    )


def _plain_exec(args: list[str]) -> tuple[str, str | None, list[str]] | None:
    """``NAME [-w DIR | --workdir DIR | --workdir=DIR] -- COMMAND...``; None for other forms."""
    if "--" not in args:
        return None
    split = args.index("--")
    head, command = args[:split], args[split + 1 :]
    if not command or not head or head[0].startswith("-"):
        return None
    name, options = head[0], head[1:]
    workdir: str | None = None
    if len(options) == 2 and options[0] in ("-w", "--workdir"):
        workdir = options[1]
    elif len(options) == 1 and options[0].startswith("--workdir="):
        workdir = options[0].partition("=")[2]
    elif options:
        return None
    if workdir == "":
        return None
    return name, workdir, command


def _plain_ssh(args: list[str]) -> tuple[str, list[str] | None] | None:
    """``NAME`` or ``NAME -- COMMAND...`` (what `workspace ssh` takes); None for other forms."""
    if not args or args[0].startswith("-"):
        return None
    if len(args) == 1:
        return args[0], None
    if args[1] == "--" and len(args) > 2:
        return args[0], args[2:]
    return None


def try_openssh(args: list[str]) -> None:
    """Run `workspace exec|ssh|shell ARGS` as ``ssh`` when its plain form allows and the store
    and the endpoint say it can work; return (the full command then runs) otherwise."""
    verb, rest = args[0], args[1:]
    if verb == "exec":
        parsed = _plain_exec(rest)
        if parsed is not None:
            name, workdir, command = parsed
            _through_ssh(name, command, workdir, interactive=False)
    elif verb in ("ssh", "shell"):
        plain = _plain_ssh(rest)
        if plain is not None and (verb == "ssh" or plain[1] is None):
            _through_ssh(plain[0], plain[1], None, interactive=True)


def _through_ssh(
    name: str, command: list[str] | None, workdir: str | None, *, interactive: bool
) -> None:
    from ..paths import NexusPaths
    from ..store.peek import access_record

    ssh = openssh.system_ssh()
    paths = NexusPaths()
    if ssh is None:
        return
    workspace = access_record(paths.state_db, name)
    if workspace is None or not workspace.reachable_directly or not answers(paths, workspace):
        return
    argv = ssh_argv(ssh, paths, workspace, command, workdir=workdir, interactive=interactive)
    if interactive and not command:
        openssh.exec_ssh(argv)  # a login shell on a terminal: this process becomes ssh
    sys.exit(run_command(argv))


def run_command(argv: list[str]) -> int:
    """The exit code of the command ssh runs; CANCELLED when a signal stops it."""
    from ..domain.errors import ErrorCode, NexusError

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return openssh.run_command(argv)
    except openssh.Cancelled:
        raise NexusError(
            ErrorCode.CANCELLED,
            "interrupted; the SSH session was closed",
            "Run the command again when ready.",
        ) from None
