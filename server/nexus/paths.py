"""Where Nexus keeps its files: ``~/.nexus`` unless ``NEXUS_HOME`` says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def nexus_home() -> Path:
    override = os.environ.get("NEXUS_HOME")
    return Path(override).expanduser() if override else Path.home() / ".nexus"


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


class NexusPaths:
    """All paths under one Nexus home."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or nexus_home()

    @property
    def config_file(self) -> Path:
        return self.home / "config.yaml"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def ssh_dir(self) -> Path:
        return self.home / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "config"

    def token_file(self, name: str) -> Path:
        """``User <token>`` for a workspace whose SSH user name is an expiring token."""
        return self.ssh_dir / "tokens" / f"{name}.conf"

    @property
    def host_keys_dir(self) -> Path:
        return self.ssh_dir / "host_keys"

    @property
    def locks_dir(self) -> Path:
        return self.home / "locks"

    def lock(self, name: str) -> Path:
        return ensure_dir(self.locks_dir) / f"{name}.lock"
