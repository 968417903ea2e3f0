"""`nexus workspace …`: create, start, stop, delete, list, info, exec, ssh, shell.

Only typer and plain values are imported here; each command imports the services it uses.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..access import openssh
from ..asyncutil import run_blocking
from ..domain.errors import ErrorCode, ExitCode, NexusError
from ..domain.kinds import BackendType, WorkspaceStatus
from ..store.peek import AccessRecord
from . import openssh_exec
from .app import WorkspaceGroup
from .cp_cmd import cp as copy_files
from .listing import endpoint as _endpoint
from .listing import list_workspaces
from .listing import status_text as _status_text
from .migrate_cmd import export_cmd, import_cmd, migrate_cmd
from .output import escape, print_json, stderr_console, stdout_console
from .preview_cmd import preview_app
from .runner import run as _run

if TYPE_CHECKING:
    from ..access.user_ssh_config import InstallResult
    from ..domain.models import OpenTarget, Workspace
    from ..service.workspaces import DeleteResult, WorkspaceInfo, WorkspaceService

workspace_app = typer.Typer(
    help="Create, use and remove workspaces.", no_args_is_help=True, cls=WorkspaceGroup
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output (stable schema).")


def _is_git_url(value: str) -> bool:
    return "://" in value or bool(re.match(r"^[\w.-]+@[\w.-]+:", value))


def _parse_labels(
    values: list[str], what: str = "label", example: str = "--label team=platform"
) -> dict[str, str]:
    labels = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"{what} {item!r} is not KEY=VALUE",
                f"Pass it as {example}.",
            )
        labels[key] = value
    return labels


def _print_workspace(ws: Workspace, title: str | None = None) -> None:
    if title:
        stdout_console.print(title)
    rows = [
        ("Name", ws.name),
        ("Backend", ws.backend.value),
        ("Status", _status_text(ws)),
        ("SSH", f"ssh {ws.ssh_alias}  ({escape(_endpoint(ws))})"),
        ("Path", escape(f"{ws.local_path or '-'} → {ws.remote_path}")),
    ]
    if ws.branch:
        rows.append(("Branch", escape(ws.branch)))
    res = ws.resources
    rows.append(
        (
            "Resources",
            f"cpu {res.cpu or 'unlimited'}, memory {f'{res.memory_gb:g} GB' if res.memory_gb else 'unlimited'}, "
            f"disk {f'{res.disk_gb:g} GB' if res.disk_gb else '-'}",
        )
    )
    if ws.auto_stop is not None:
        last = ws.auto_stop.last_activity_at.astimezone().strftime("%H:%M")
        rows.append(
            (
                "Auto-stop",
                f"after {ws.auto_stop.minutes} min without activity (last at {last}; "
                f"`nexus workspace keep-running {ws.name}` records activity now)",
            )
        )
    for key, value in rows:
        stdout_console.print(f"  [bold]{key:<10}[/] {value}")


def _print_agent_warning(ws: Workspace) -> None:
    if ws.forward_agent:
        stdout_console.print(
            "  [yellow]ssh-agent forwarding: on — processes in the workspace can use your keys "
            "while you are connected[/]"
        )


@workspace_app.command("create")
def create(
    name: str = typer.Argument(..., help="Workspace name (lowercase DNS label)."),
    backend: BackendType | None = typer.Option(
        None, "--backend", help="docker or daytona (default: config)."
    ),
    cpu: float | None = typer.Option(
        None, "--cpu", help="CPU cores (a real container limit on Docker)."
    ),
    memory: float | None = typer.Option(
        None, "--memory", help="Memory in GB (a real limit on Docker)."
    ),
    disk: float | None = typer.Option(None, "--disk", help="Disk in GB (recorded on Docker)."),
    source: str | None = typer.Option(
        None,
        "--from",
        help="Folder to mount at /workspace (default: current directory), or on daytona a git URL to clone.",
    ),
    image: str | None = typer.Option(
        None, "--image", help="Base image for the workspace image (Debian-based)."
    ),
    label: list[str] = typer.Option([], "--label", help="KEY=VALUE label (repeatable)."),
    base: str | None = typer.Option(
        None, "--base", help="Worktree base ref (default: current HEAD)."
    ),
    no_worktree: bool = typer.Option(
        False, "--no-worktree", help="Mount the folder itself, even inside a git repository."
    ),
    forward_agent: bool | None = typer.Option(
        None,
        "--forward-agent/--no-forward-agent",
        help="Forward your ssh-agent into this workspace (git over SSH with your keys; "
        "its processes can use them while you are connected). Default: config ssh.forward_agent.",
        show_default=False,
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="Branch to clone with --from URL (daytona)."
    ),
    region: str | None = typer.Option(None, "--region", help="Daytona region (target)."),
    auto_stop: int | None = typer.Option(
        None, "--auto-stop", help="Daytona auto-stop in minutes (0 = never; default: config)."
    ),
    ephemeral: bool = typer.Option(
        False, "--ephemeral", help="Daytona: delete the sandbox when it stops."
    ),
    snapshot: str | None = typer.Option(
        None, "--from-snapshot", help="Daytona snapshot to create from."
    ),
    env: list[str] = typer.Option(
        [],
        "--env",
        help="KEY=VALUE environment variable for the workspace's processes and sessions (repeatable).",
    ),
    allow_alias_shadowing: bool = typer.Option(
        False,
        "--allow-alias-shadowing",
        help="Create it even if your ~/.ssh/config already has a Host nexus-NAME.",
    ),
    over_budget: bool = typer.Option(
        False, "--over-budget", help="Create it even if the month's budget is used up (usage.md)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a workspace and wait until it answers over SSH.

    Inside a git repository Nexus makes a worktree .worktree/NAME on a new branch nexus/NAME
    and mounts it at /workspace (git works inside the workspace too).
    """
    from ..access.user_ssh_config import InstallStatus
    from ..domain.create_options import CreateOptions
    from .output import CliProgress

    options = CreateOptions(
        name=name,
        force_alias=allow_alias_shadowing,
        backend=backend,
        cpu=cpu,
        memory_gb=memory,
        disk_gb=disk,
        image=image,
        source_path=None if source is None or _is_git_url(source) else Path(source),
        labels=_parse_labels(label),
        worktree=False if no_worktree else None,
        base=base,
        forward_agent=forward_agent,
        region=region,
        auto_stop_minutes=auto_stop,
        ephemeral=ephemeral,
        snapshot=snapshot,
        git_url=source if source is not None and _is_git_url(source) else None,
        git_branch=branch,
        env=_parse_labels(env, what="environment variable", example="--env DEBUG=1"),
        over_budget=over_budget,
    )

    overrides: list[str] = []  # lines of the user's ssh config that override Nexus's settings

    async def work(service: WorkspaceService) -> tuple[Workspace, InstallResult | None]:
        with CliProgress(quiet=as_json) as progress:
            created = await service.create(options, progress)
        overrides.extend(o.message() for o in service.ssh_files.last_overrides)
        return created, service.ssh_files.last_install

    ws, install = _run(work)
    if as_json:
        print_json(ws.public_dict())
    else:
        _print_workspace(ws, f"[green]Workspace [bold]{ws.name}[/] is ready.[/]")
        _print_agent_warning(ws)
        stdout_console.print(
            f"\n  Run a command: [bold]nexus workspace exec {ws.name} -- <command>[/]"
        )
        stdout_console.print(f"  Open it:       [bold]nexus workspace open {ws.name}[/]")
    if install is not None and install.status is not InstallStatus.INSTALLED and install.hint:
        stderr_console.print(
            f"[yellow]note:[/] {escape(install.hint)}", markup=True, highlight=False
        )
    for message in overrides:
        stderr_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def _lifecycle(action: str, name: str, as_json: bool, *, over_budget: bool = False) -> None:
    from .output import CliProgress

    async def work(service: WorkspaceService) -> Workspace:
        with CliProgress(quiet=as_json) as progress:
            if action == "start":
                return await service.start(name, progress, over_budget=over_budget)
            return await service.stop(name, progress)

    ws = _run(work)
    if as_json:
        print_json(ws.public_dict())
    elif ws.status is WorkspaceStatus.MISSING:
        stdout_console.print(f"Ephemeral workspace [bold]{ws.name}[/] was deleted on stop.")
    else:
        stdout_console.print(f"Workspace [bold]{ws.name}[/] is {ws.status.value}.")


@workspace_app.command("start")
def start(
    name: str = typer.Argument(...),
    over_budget: bool = typer.Option(
        False, "--over-budget", help="Start it even if the month's budget is used up (usage.md)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Start a stopped workspace (same SSH port and host key as before)."""
    _lifecycle("start", name, as_json, over_budget=over_budget)


@workspace_app.command("stop")
def stop(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Stop a workspace; its files and settings are kept."""
    _lifecycle("stop", name, as_json)


@workspace_app.command("delete")
def delete(
    name: str = typer.Argument(...),
    force: bool = typer.Option(
        False,
        "--force",
        "-f",
        help="Discard uncommitted worktree changes and unmerged branch commits; cancel an operation another nexus process is running on it.",
    ),
    keep_branch: bool = typer.Option(False, "--keep-branch", help="Keep the nexus/NAME branch."),
    forget: bool = typer.Option(
        False,
        "--forget",
        help="Drop Nexus's record even if the backend cannot remove the container/sandbox; prints what is left behind.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a workspace, its container and its worktree.

    A worktree with uncommitted changes is refused (use --force), and a branch with commits
    that are on no other branch is kept; your source folder itself is never touched. When the
    backend cannot remove the container/sandbox, the workspace is kept (fix the backend and
    retry, or use --forget).
    """
    from .output import CliProgress

    async def work(service: WorkspaceService) -> DeleteResult:
        with CliProgress(quiet=as_json) as progress:
            return await service.delete(
                name, progress, force=force, keep_branch=keep_branch, forget=forget
            )

    result = _run(work)
    ws = result.workspace
    for item in result.left_behind:
        stderr_console.print(
            f"[yellow]warning:[/] left behind: {item['backend']} {item['kind']} "
            f"{escape(item['name'])} ({escape(item['id'])}), which Nexus could not remove "
            f"({escape(item['reason'])}).\n  Remove it yourself: {escape(item['command'])}",
            highlight=False,
        )
    if as_json:
        print_json(result.to_json_dict())
    elif result.cancelled:
        stdout_console.print(
            f"The create of workspace [bold]{ws.name}[/] was cancelled and cleaned up."
        )
    elif result.left_behind:
        stdout_console.print(f"Workspace [bold]{ws.name}[/] forgotten by Nexus.")
    else:
        stdout_console.print(f"Workspace [bold]{ws.name}[/] deleted.")


@workspace_app.command("recover")
def recover(as_json: bool = JSON_OPTION) -> None:
    """Rebuild lost workspace records from the labels on your containers and sandboxes.

    For a damaged or deleted state store: a damaged state.db is moved aside (kept as
    state.db.broken-<time>), never deleted.
    """
    from ..service.recovery import recover as run_recovery

    report = _run(run_recovery)
    if as_json:
        print_json(report.to_json_dict())
        return
    if report.moved_aside:
        stdout_console.print(
            f"Moved the damaged state store aside: {escape(str(report.moved_aside))}"
        )
    for ws in report.recovered:
        stdout_console.print(
            f"Recovered [bold]{ws.name}[/] ({ws.backend.value}, {ws.status.value}, "
            f"{escape(_endpoint(ws))}, {escape(ws.local_path or ws.remote_path)})"
        )
    for name in report.already_recorded:
        stdout_console.print(f"Already recorded: {name}")
    for item in report.failed:
        stderr_console.print(
            f"[yellow]warning:[/] could not recover {escape(item['name'] or item['resource'])} "
            f"({item['backend']} {escape(item['id'])}): {escape(item['reason'])}",
            highlight=False,
        )
    for item in report.unreachable:
        stderr_console.print(
            f"[yellow]warning:[/] {item['backend']} not searched: "
            f"{item['code']}: {escape(item['message'])}",
            highlight=False,
        )
    if not (report.recovered or report.already_recorded or report.failed):
        stdout_console.print("Nothing to recover: no container or sandbox of this installation.")


@workspace_app.command("list")
def list_(
    backend_filter: BackendType | None = typer.Option(
        None, "--backend-filter", help="Only this backend."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """List workspaces with their live status."""
    list_workspaces(backend_filter, as_json)


@workspace_app.command("info")
def info(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Backend, status, SSH endpoint, resources and capabilities of one workspace."""
    result: WorkspaceInfo = _run(lambda service: service.info(name))
    if as_json:
        print_json(result.to_json_dict())
        return
    _print_workspace(result.workspace)
    if result.stats:
        stats = result.stats
        used = (
            f"{stats.memory_used_bytes / 2**20:.0f} MiB"
            if stats.memory_used_bytes is not None
            else "-"
        )
        limit = f"{stats.memory_limit_bytes / 2**20:.0f} MiB" if stats.memory_limit_bytes else "-"
        stdout_console.print(
            f"  [bold]{'Usage':<10}[/] cpu {stats.cpu_percent}%, memory {used} / {limit}"
        )
    caps = result.capabilities.to_json_dict()
    enabled = [k.removeprefix("supports") for k, v in caps.items() if v]
    stdout_console.print(f"  [bold]{'Supports':<10}[/] {', '.join(enabled)}")
    synced = result.to_json_dict()["sync"]
    if synced:
        stdout_console.print(
            f"  [bold]{'Sync':<10}[/] {escape(synced['local'])} ⇄ {escape(synced['remote'])} "
            f"({synced['mode']}; `nexus sync status {name}`)"
        )
    _print_agent_warning(result.workspace)


@workspace_app.command("keep-running")
def keep_running(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Record activity now, so a workspace that stops itself when idle counts from now again."""
    from ..service.auto_stop import keep_running as keep

    workspace = _run(lambda service: keep(service, name))
    if as_json:
        print_json(workspace.public_dict())
        return
    stdout_console.print(f"{escape(name)}: {_status_text(workspace)}")


@workspace_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def exec_(
    name: str = typer.Argument(...),
    command: list[str] = typer.Argument(..., help="The command, after `--`."),
    workdir: str | None = typer.Option(
        None, "--workdir", "-w", help="Remote working directory (default /workspace)."
    ),
    start_first: bool = typer.Option(
        False, "--start", help="Start the workspace first when it is stopped (e.g. auto-stopped)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a command in the workspace over SSH; output streams live and the exit code passes through.

    One argument is run as a shell snippet (`exec ws -- 'ls | wc -l'`); several are passed exactly.
    Nexus's own failures exit 255, like ssh.
    """
    from .stdin_reader import stdin_is_data, stdin_stream

    out_buffer = bytearray()
    err_buffer = bytearray()

    def sink(stream: Any, buffer: bytearray) -> Callable[[bytes], None]:
        def write(chunk: bytes) -> None:
            if as_json:
                buffer.extend(chunk)
            else:
                stream.buffer.write(chunk)
                stream.buffer.flush()

        return write

    ssh = None if as_json else openssh.system_ssh()

    async def work(service: WorkspaceService) -> int | list[str]:
        """The exit code, or the ssh command line to become (a key-login workspace, with a
        system ssh; a token gateway needs the built-in client's renew-and-retry)."""
        from ..service.ssh_files import token_auth

        if start_first:
            await _start_first(service, name, quiet=as_json)
        if ssh is not None and not token_auth(service.get(name)):
            ws, _ = await service.running_connection(name)  # precise errors; current ssh files
            paths, record = service.ctx.paths, AccessRecord.of(ws)
            if record.reachable_directly and await run_blocking(
                openssh_exec.answers, paths, record
            ):
                return openssh_exec.ssh_argv(ssh, paths, record, command, workdir=workdir)
        stdin = stdin_stream() if stdin_is_data() else None
        return await service.exec(
            name,
            command,
            stdout=sink(sys.stdout, out_buffer),
            stderr=sink(sys.stderr, err_buffer),
            stdin=stdin,
            workdir=workdir,
        )

    try:
        code = _run(work)
    except NexusError as error:
        if error.code != ErrorCode.CANCELLED:
            error.exit_override = int(ExitCode.REMOTE_FAILURE)  # type: ignore[attr-defined]
        raise
    if isinstance(code, list):
        code = openssh_exec.run_command(code)
    if as_json:
        print_json(
            {
                "exitCode": code,
                "stdout": out_buffer.decode(errors="replace"),
                "stderr": err_buffer.decode(errors="replace"),
            }
        )
    raise typer.Exit(code)


async def _start_first(service: WorkspaceService, name: str, *, quiet: bool) -> None:
    from ..service.auto_stop import start_if_stopped
    from .output import CliProgress

    with CliProgress(quiet=quiet) as progress:
        if await start_if_stopped(service, name, progress) and not quiet:
            stderr_console.print(f"Started workspace [bold]{escape(name)}[/].", highlight=False)


def _interactive(name: str, command: list[str] | None, start_first: bool = False) -> None:
    ssh = openssh.system_ssh() or shutil.which("ssh")

    async def work(service: WorkspaceService) -> list[str]:
        if start_first:
            await _start_first(service, name, quiet=False)
        ws, _ = await service.running_connection(name)  # precise errors; current ssh files
        if ssh is None:
            raise NexusError(
                ErrorCode.SSH_CONNECTION_FAILED,
                "the OpenSSH client `ssh` is not on PATH",
                "Install it (Debian/Ubuntu: `apt install openssh-client`).",
            )
        record = AccessRecord.of(ws)
        return openssh_exec.ssh_argv(ssh, service.ctx.paths, record, command, interactive=True)

    try:
        argv = _run(work)
    except NexusError as error:
        if error.code != ErrorCode.CANCELLED:
            error.exit_override = int(ExitCode.REMOTE_FAILURE)  # type: ignore[attr-defined]
        raise
    if command:
        raise typer.Exit(openssh_exec.run_command(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    openssh.exec_ssh(argv)


@workspace_app.command(
    "ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def ssh_(
    name: str = typer.Argument(...),
    command: list[str] | None = typer.Argument(None, help="Optional command, after `--`."),
    start_first: bool = typer.Option(
        False, "--start", help="Start the workspace first when it is stopped (e.g. auto-stopped)."
    ),
) -> None:
    """Open an interactive shell in /workspace (a real TTY, through the system ssh client)."""
    _interactive(name, command, start_first)


@workspace_app.command("shell")
def shell(
    name: str = typer.Argument(...),
    start_first: bool = typer.Option(
        False, "--start", help="Start the workspace first when it is stopped (e.g. auto-stopped)."
    ),
) -> None:
    """Same as `nexus workspace ssh NAME`."""
    _interactive(name, None, start_first)


@workspace_app.command("open")
def open_(
    name: str = typer.Argument(...),
    ide: str | None = typer.Option(
        None,
        "--ide",
        help="code, cursor, code-insiders or codium (default: config workspace.ide, else the first on PATH).",
    ),
    path: str | None = typer.Option(
        None,
        "--path",
        help="Folder to open (default /workspace, or the local worktree in local mode).",
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="remote-ssh or local (default: config workspace.ide_mode for the backend).",
    ),
    new_window: bool = typer.Option(False, "--new-window", help="Always open a new window."),
    print_only: bool = typer.Option(
        False, "--print", help="Print the URI and the command instead of launching."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Open the workspace in VS Code / Cursor: over Remote-SSH, or its local folder."""
    from ..ide import build_launch, launch, resolve_ide

    async def work(
        service: WorkspaceService,
    ) -> tuple[OpenTarget, InstallResult | None, str | None]:
        target = await service.open_target(name, path, mode)
        return target, service.ssh_files.last_install, service.ctx.config.workspace.ide

    target, install, configured_ide = _run(work)
    chosen = ide or configured_ide
    try:
        resolved = resolve_ide(chosen)
    except NexusError:
        if not print_only:
            raise
        resolved = chosen or "code"
    spec = build_launch(resolved, target.mode, target.uri, target.local_path, new_window)
    if not print_only:
        launch(spec)
    if as_json:
        print_json({**target.to_json_dict(), "command": spec.argv, "launched": not print_only})
    elif print_only:
        stdout_console.print(target.uri, markup=False, highlight=False)
        stdout_console.print(shlex.join(spec.argv), markup=False, highlight=False)
    else:
        stdout_console.print(f"Opening [bold]{escape(target.uri)}[/] in {resolved}.")
    if target.mode == "remote-ssh" and install is not None and install.hint:
        stderr_console.print(
            f"[yellow]note:[/] {escape(install.hint)}", markup=True, highlight=False
        )


workspace_app.command("cp")(copy_files)
workspace_app.add_typer(preview_app, name="preview")
workspace_app.command("export")(export_cmd)
workspace_app.command("import")(import_cmd)
workspace_app.command("migrate")(migrate_cmd)
