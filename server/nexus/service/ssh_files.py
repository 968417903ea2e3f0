"""Keeps the Nexus ssh config, its known_hosts and the user's Include block in step with the store."""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
from pathlib import Path

from ..access.known_hosts import write_known_hosts
from ..access.ssh_config import render_config, write_config, write_token_files
from ..access.user_ssh_config import (
    InstallResult,
    InstallStatus,
    UserSshConfig,
    user_config_path,
)
from ..domain.errors import NexusError
from ..locking import file_lock
from .context import NexusContext

log = logging.getLogger(__name__)


def nexus_command() -> str | None:
    """The `nexus` executable of this installation, for ssh to call back (None if not found)."""
    beside = Path(sys.executable).parent / "nexus"
    found = str(beside) if beside.exists() else shutil.which("nexus")
    if found is None or '"' in found:
        return None
    return shlex.quote(found)


class SshFiles:
    def __init__(self, context: NexusContext) -> None:
        self.ctx = context
        self.last_install: InstallResult | None = None

    @property
    def nexus_config(self) -> Path:
        return self.ctx.paths.ssh_config

    def user_config(self) -> UserSshConfig:
        return UserSshConfig(user_config_path(), self.nexus_config)

    def render(self) -> str:
        ssh = self.ctx.config.ssh
        return render_config(
            self.ctx.store.list(),
            self.ctx.paths,
            forward_agent=ssh.forward_agent,
            server_alive_interval=ssh.server_alive_interval,
            server_alive_count_max=ssh.server_alive_count_max,
            nexus_command=nexus_command(),
        )

    def refresh(self) -> InstallResult | None:
        """Regenerate the Nexus files whole from the store (under a lock: many processes call this),
        then make sure ``~/.ssh/config`` includes them (unless the user opted out)."""
        with file_lock(self.ctx.paths.lock("ssh-files")):
            workspaces = self.ctx.store.list()
            write_known_hosts(self.ctx.paths, workspaces)
            write_token_files(self.ctx.paths, workspaces)
            write_config(self.ctx.paths, self.render())
        if self.ctx.config.ssh.manage_user_config:
            try:
                self.last_install = self.user_config().install()
            except NexusError as exc:
                # Nexus's own paths (asyncssh, `ssh -F`) never read ~/.ssh/config: report, go on
                log.warning("%s", exc.message)
                self.last_install = InstallResult(
                    InstallStatus.CONFLICT,
                    self.user_config().path,
                    f"{exc.message}. {exc.resolution}",
                )
        return self.last_install

    def ssh_command(self, alias: str) -> str:
        """How a person reaches ``alias`` with plain OpenSSH on this machine."""
        if self.user_config().is_installed():
            return f"ssh {alias}"
        return f"ssh -F {self.nexus_config} {alias}"
