"""`nexus ssh-config show|install|uninstall`: the generated file and the user's Include block."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .output import escape, print_json, stderr_console, stdout_console

if TYPE_CHECKING:
    from ..service.ssh_files import SshFiles

ssh_config_app = typer.Typer(
    help="The Nexus ssh config and its Include in ~/.ssh/config.", no_args_is_help=True
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")


def _files() -> SshFiles:
    from ..service.context import NexusContext
    from ..service.ssh_files import SshFiles

    return SshFiles(NexusContext())


@ssh_config_app.command("show")
def show(as_json: bool = JSON_OPTION) -> None:
    """Print the generated ssh config (one Host nexus-<name> per workspace)."""
    files = _files()
    text = files.render()
    if as_json:
        print_json({"path": str(files.nexus_config), "content": text})
    else:
        typer.echo(text, nl=False)


@ssh_config_app.command("install")
def install(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff instead of writing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add the one Nexus block (an Include of the generated file) to ~/.ssh/config."""
    files = _files()
    user = files.user_config()
    if dry_run:
        diff = user.diff()
        if as_json:
            print_json({"path": str(user.path), "diff": diff, "changed": bool(diff)})
        elif diff:
            typer.echo(diff, nl=False)
        else:
            stderr_console.print(
                f"{user.path} already includes the Nexus config; nothing to do.", markup=False
            )
        return
    files.ctx.config_manager.set("ssh.manage_user_config", "true")
    # one install, its status reported as it happened; a broken ~/.ssh/config is an error here
    result = files.refresh(strict=True, check=True)
    if result is None:  # an environment override keeps it unmanaged: still do what was asked
        result = user.install()
    overrides = files.last_overrides
    if as_json:
        print_json(
            {
                "path": str(user.path),
                "status": result.status.value,
                "hint": result.hint,
                "overrides": [
                    {
                        "alias": o.alias,
                        "setting": o.setting,
                        "expected": o.expected,
                        "effective": o.effective,
                        "source": o.source,
                    }
                    for o in overrides
                ],
            }
        )
        return
    stdout_console.print(f"{user.path}: {result.status.value}", markup=False)
    if result.hint:
        stderr_console.print(
            f"[yellow]note:[/] {escape(result.hint)}", markup=True, highlight=False
        )
    for override in overrides:
        stderr_console.print(f"[yellow]warning:[/] {escape(override.message())}", highlight=False)


@ssh_config_app.command("uninstall")
def uninstall(as_json: bool = JSON_OPTION) -> None:
    """Remove the Nexus block from ~/.ssh/config (nothing else) and stop managing it."""
    files = _files()
    # first stop managing it, so a concurrent create cannot put the block back
    files.ctx.config_manager.set("ssh.manage_user_config", "false")
    removed = files.user_config().uninstall()
    if as_json:
        print_json({"path": str(files.user_config().path), "removed": removed})
    else:
        stdout_console.print(
            f"Removed the Nexus block from {files.user_config().path}."
            if removed
            else "There was no Nexus block to remove.",
            markup=False,
        )
        stdout_console.print("Nexus will not add it again until `nexus ssh-config install`.")


@ssh_config_app.command("renew", hidden=True)
def renew(name: str = typer.Argument(...)) -> None:
    """Called by ssh itself (a `Match exec` line of the generated config) before it connects:
    renews the workspace's access token when it is close to expiry, or when the API no longer
    accepts it (revoked by a newer token; checked with a short timeout, a positive answer is
    trusted for 30 s). Prints nothing, always succeeds: it must never get in the way of the
    connection."""
    import asyncio
    import contextlib
    import logging

    from ..service.context import NexusContext
    from ..service.ssh_files import token_auth
    from ..service.workspaces import WorkspaceService

    logging.disable(logging.CRITICAL)

    async def work() -> None:
        context = NexusContext()
        try:
            service = WorkspaceService(context)
            workspace = service.get(name)
            if token_auth(workspace):
                await service.connection(workspace, renew=True)
        finally:
            context.close()

    with contextlib.suppress(Exception):  # by design: ssh goes on with the token it has
        asyncio.run(work())
    raise typer.Exit(0)
