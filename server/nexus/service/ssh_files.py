"""Keeps the Nexus ssh config and known_hosts in step with the state store."""

from __future__ import annotations

from ..access.known_hosts import write_known_hosts
from ..access.ssh_config import render_config, write_config
from ..locking import file_lock
from .context import NexusContext


class SshFiles:
    def __init__(self, context: NexusContext) -> None:
        self.ctx = context

    def render(self) -> str:
        ssh = self.ctx.config.ssh
        return render_config(
            self.ctx.store.list(),
            self.ctx.paths,
            forward_agent=ssh.forward_agent,
            server_alive_interval=ssh.server_alive_interval,
            server_alive_count_max=ssh.server_alive_count_max,
        )

    def refresh(self) -> None:
        """Regenerate both files whole from the store, under a lock (many processes call this)."""
        with file_lock(self.ctx.paths.lock("ssh-files")):
            write_known_hosts(self.ctx.paths, self.ctx.store.list())
            write_config(self.ctx.paths, self.render())
