"""`nexus lsp`: an editor's LSP traffic relayed to a language server that sees the workspace.

The link to the server is the backend's own (``Backend.open_language_server``: Daytona's LSP
API, unless config ``lsp.daytona_mode`` says ``ssh``) or, when it has none, the configured
command (``lsp.commands.<language>``) run over an exec channel of the workspace's SSH
connection. The proxy runs over any pair of byte streams: the CLI gives it stdio, the sidecar
may give it others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import WorkspaceStatus

if TYPE_CHECKING:
    from ..domain.lsp import LanguageServerLink
    from ..domain.models import SSHConnection, Workspace
    from ..lsp.proxy import ByteWriter, Outcome
    from .workspaces import WorkspaceService

log = logging.getLogger(__name__)

STATUS_CHECKS = 6  # reads of the workspace's status after the server was lost
STATUS_PAUSE = 0.5  # seconds between them (a stopping container may still read as running)


@dataclass(frozen=True)
class LspPlan:
    """What a session relays between: the two roots and the server command."""

    language: str
    command: str
    local_root: str
    remote_root: str


class LspService:
    def __init__(self, workspaces: WorkspaceService) -> None:
        self.workspaces = workspaces
        self.ctx = workspaces.ctx

    def commands(self) -> dict[str, str]:
        """Language -> server command: the defaults, with config ``lsp.commands`` over them."""
        from ..config.schema import DEFAULT_LSP_COMMANDS

        return {**DEFAULT_LSP_COMMANDS, **self.ctx.config.lsp.commands}

    def command_for(self, language: str) -> str:
        """The server command of ``language``; LSP_LANGUAGE_UNKNOWN before anything starts."""
        commands = self.commands()
        command = commands.get(language.strip().lower(), "").strip()
        if not command:
            raise NexusError(
                ErrorCode.LSP_LANGUAGE_UNKNOWN,
                f"no language server is configured for '{language}'",
                f"Choose one of: {', '.join(sorted(k for k, v in commands.items() if v.strip()))}; "
                f"or add its command under `lsp.commands` in {self.ctx.paths.config_file}.",
            )
        return command

    @staticmethod
    def roots(workspace: Workspace) -> tuple[str, str]:
        """(the editor's folder, the workspace's folder): the worktree or local folder and
        the remote path; else a sync's two ends."""
        if workspace.local_path:
            return workspace.local_path, workspace.remote_path
        sync = workspace.metadata.get("sync")
        if isinstance(sync, dict) and sync.get("local") and sync.get("remote"):
            return str(sync["local"]), str(sync["remote"])
        raise NexusError(
            ErrorCode.CAPABILITY_NOT_SUPPORTED,
            f"workspace '{workspace.name}' has no local folder for an editor on this machine",
            f"Sync one (`nexus sync start {workspace.name}`), or open the workspace over SSH "
            "(`nexus workspace open`), where the editor runs its language servers inside it.",
        )

    async def open_link(
        self, workspace: Workspace, conn: SSHConnection, plan: LspPlan
    ) -> LanguageServerLink:
        """The backend's own server (it honours its config, e.g. ``lsp.daytona_mode``), else
        the configured command over SSH."""
        backend = self.ctx.backends.get(workspace.backend)
        link = await backend.open_language_server(workspace, plan.language, plan.remote_root)
        if link is not None:
            return link
        from ..lsp.ssh_link import SshStdioLink

        return await SshStdioLink.open(
            conn,
            plan.command,
            plan.language,
            plan.remote_root,
            workspace=workspace.name,
            connect_timeout=self.ctx.config.ssh.connect_timeout,
        )

    async def _why_lost(self, name: str, error: NexusError | None) -> NexusError | None:
        """A server lost with its connection: the workspace stopped (or is gone), or None."""
        if error is not None and error.code != ErrorCode.SSH_CONNECTION_FAILED:
            return None  # the link knows why (the server exited, the sandbox stopped)
        for attempt in range(STATUS_CHECKS):
            try:
                workspace = await self.workspaces.refresh(name)
            except NexusError as failure:
                return failure
            if workspace.status is not WorkspaceStatus.RUNNING:
                return NexusError(
                    ErrorCode.WORKSPACE_NOT_RUNNING,
                    f"workspace '{name}' stopped while its language server was in use "
                    f"(status: {workspace.status.value})",
                    f"Run `nexus workspace start {name}`, then restart the language server "
                    "in your editor.",
                )
            if attempt + 1 < STATUS_CHECKS:
                await asyncio.sleep(STATUS_PAUSE)
        return None

    async def serve(
        self,
        name: str,
        language: str,
        reader: asyncio.StreamReader,
        writer: ByteWriter,
    ) -> Outcome:
        """Relay one editor session; returns how it ended (exit status, error if it failed).

        Errors before the relay starts (unknown language, workspace not running, no local
        folder, no connection) are raised, and nothing is written to ``writer``.
        """
        from ..lsp.proxy import LspProxy
        from ..lsp.uris import UriMapper

        command = self.command_for(language)
        language = language.strip().lower()
        workspace, conn = await self.workspaces.running_connection(name)
        local_root, remote_root = self.roots(workspace)
        plan = LspPlan(language, command, local_root, remote_root)
        link = await self.open_link(workspace, conn, plan)
        log.debug("lsp %s: %s <-> %s (%s)", language, local_root, remote_root, command)

        async def diagnose(error: NexusError | None) -> NexusError | None:
            return await self._why_lost(name, error)

        proxy = LspProxy(link, UriMapper(local_root, remote_root), reader, writer, diagnose)
        return await proxy.run()
