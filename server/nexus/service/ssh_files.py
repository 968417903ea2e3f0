"""Keeps the Nexus ssh config, its known_hosts and the user's Include block in step with the store."""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..access.known_hosts import write_known_hosts
from ..access.ssh_config import render_config, write_config, write_token_files
from ..access.user_ssh_config import (
    InstallResult,
    InstallStatus,
    UserSshConfig,
    read_bytes,
    user_config_path,
)
from ..access.user_ssh_scan import Override, alias_definitions, check_effective
from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import WorkspaceStatus
from ..locking import file_lock
from .context import NexusContext

if TYPE_CHECKING:
    from ..domain.models import Workspace

log = logging.getLogger(__name__)


def nexus_command() -> str | None:
    """The `nexus` executable of this installation, for ssh to call back (None if not found)."""
    beside = Path(sys.executable).parent / "nexus"
    found = str(beside) if beside.exists() else shutil.which("nexus")
    if found is None or '"' in found:
        return None
    return shlex.quote(found)


def token_auth(workspace: Workspace) -> bool:
    """The workspace's SSH user name is an expiring token (its backend's fact)."""
    from .backends import facts

    return facts(workspace.backend).token_auth


class SshFiles:
    def __init__(self, context: NexusContext) -> None:
        self.ctx = context
        self.last_install: InstallResult | None = None
        self.last_overrides: list[Override] = []

    @property
    def nexus_config(self) -> Path:
        return self.ctx.paths.ssh_config

    def user_config(self) -> UserSshConfig:
        return UserSshConfig(
            user_config_path(), self.nexus_config, lock=self.ctx.paths.lock("user-ssh-config")
        )

    def render(self) -> str:
        ssh = self.ctx.config.ssh
        return render_config(
            self.ctx.store.list(),
            self.ctx.paths,
            server_alive_interval=ssh.server_alive_interval,
            server_alive_count_max=ssh.server_alive_count_max,
            nexus_command=nexus_command(),
            connect_timeout=ssh.connect_timeout,
            control_persist=ssh.control_persist,
            token_auth=token_auth,
        )

    def refresh(self, *, strict: bool = False, check: bool = False) -> InstallResult | None:
        """Regenerate the Nexus files whole from the store (under a lock: many processes call this),
        then make sure ``~/.ssh/config`` includes them (unless the user opted out).

        A broken ``~/.ssh/config`` is a note (``last_install``), or with ``strict`` the error.
        When the generated config changed, the block was written now, or ``check`` asks for it,
        the user's config is checked for lines that override Nexus's (``last_overrides``).
        """
        with file_lock(self.ctx.paths.lock("ssh-files")):
            workspaces = self.ctx.store.list()
            write_known_hosts(self.ctx.paths, workspaces)
            write_token_files(self.ctx.paths, workspaces, token_auth)
            rendered = self.render()
            changed = read_bytes(self.nexus_config) != rendered.encode()
            write_config(self.ctx.paths, rendered)
        self.last_overrides = []
        if self.ctx.config.ssh.manage_user_config:
            try:
                self.last_install = self.user_config().install()
            except NexusError as exc:
                if strict:
                    raise
                # Nexus's own paths (asyncssh, `ssh -F`) never read ~/.ssh/config: report, go on
                log.warning("%s", exc.message)
                self.last_install = InstallResult(
                    InstallStatus.CONFLICT,
                    self.user_config().path,
                    f"{exc.message}. {exc.resolution}",
                )
            installed_now = self.last_install.status is InstallStatus.INSTALLED
            if check or changed or installed_now:
                self.last_overrides = self.check_overrides(workspaces)
        return self.last_install

    def check_overrides(self, workspaces: list[Workspace] | None = None) -> list[Override]:
        """Settings of a Nexus host that plain ``ssh`` (through ``~/.ssh/config``) takes from the
        user's own lines instead of Nexus's stanza: one ``ssh -G`` for one workspace alias.

        Empty when nothing overrides, when ``~/.ssh/config`` has no Nexus block, when ssh is not
        installed, or when no workspace is reached with Nexus's own key (a Daytona stanza runs a
        token renewal from ``ssh -G``, which is not worth it for a check).
        """
        user = self.user_config()
        if not user.is_installed():
            return []
        for ws in workspaces if workspaces is not None else self.ctx.store.list():
            if ws.ssh_port is None or token_auth(ws) or ws.status is WorkspaceStatus.DELETING:
                continue
            expected = {
                "hostname": [ws.ssh_host or "127.0.0.1"],
                "port": [str(ws.ssh_port)],
                "identityfile": [str(self.ctx.paths.client_key)],
                "hostkeyalias": [ws.ssh_alias],
                "userknownhostsfile": [str(self.ctx.paths.known_hosts)],
                "stricthostkeychecking": ["true"],
            }
            found = check_effective(user.path, ws.ssh_alias, expected, self.nexus_config)
            for override in found:
                log.info("%s", override.message())
            return found
        return []

    def alias_taken(self, alias: str) -> list[str]:
        """``file:line`` of each ``Host <alias>`` in the user's own ssh config (Includes followed,
        Nexus's files not)."""
        nexus_files = [self.nexus_config, *self.ctx.paths.ssh_dir.glob("tokens/*.conf")]
        return alias_definitions(user_config_path(), alias, nexus_files)

    def check_alias_free(self, name: str) -> None:
        """Refuse a workspace whose ``nexus-<name>`` alias the user's ssh config already defines:
        one of the two would silently shadow the other for plain ``ssh`` and editors."""
        alias = f"nexus-{name}"
        taken = self.alias_taken(alias)
        if taken:
            raise NexusError(
                ErrorCode.SSH_ALIAS_TAKEN,
                f"your ssh config already defines Host {alias} ({', '.join(taken)}); a workspace "
                f"named '{name}' would shadow it, or be shadowed by it",
                "Choose another workspace name, rename that Host entry, or create it anyway "
                "allowing the alias to be shadowed.",
            )

    def ssh_command(self, alias: str) -> str:
        """How a person reaches ``alias`` with plain OpenSSH on this machine."""
        if self.user_config().is_installed():
            return f"ssh {alias}"
        return f"ssh -F {self.nexus_config} {alias}"
