"""Nexus-owned SSH keys: one client key per Nexus home, one host key per workspace."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..fsutil import atomic_write
from ..locking import file_lock
from ..paths import NexusPaths, ensure_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyPair:
    private_openssh: str
    public_openssh: str


def generate_ed25519(comment: str) -> KeyPair:
    import asyncssh  # lazy: heavy import

    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private = key.export_private_key("openssh").decode()
    public = key.export_public_key("openssh").decode().strip()
    return KeyPair(private, public)


def ensure_client_key(paths: NexusPaths) -> tuple[Path, str]:
    """The key Nexus logs into workspaces with (0600), created once; returns (path, public key)."""
    key_path = paths.client_key
    pub_path = key_path.with_suffix(".pub")
    if not (key_path.exists() and pub_path.exists()):
        ensure_dir(paths.ssh_dir)
        with file_lock(paths.lock("client-key")):
            if not (key_path.exists() and pub_path.exists()):
                pair = generate_ed25519("nexus")
                atomic_write(key_path, pair.private_openssh, mode=0o600)
                atomic_write(pub_path, pair.public_openssh + "\n", mode=0o644)
    if key_path.stat().st_mode & 0o077:
        os.chmod(key_path, 0o600)
    return key_path, pub_path.read_text().strip()


def public_key_of(private_openssh: str) -> str:
    """The ``ssh-ed25519 AAAA...`` public half of an OpenSSH private key."""
    import asyncssh  # lazy: heavy import

    key = asyncssh.import_private_key(private_openssh)
    return str(key.export_public_key("openssh").decode().strip())


def public_key_body(public_openssh: str) -> str:
    """``ssh-ed25519 AAAA...`` without the comment, as known_hosts wants it."""
    parts = public_openssh.split()
    return " ".join(parts[:2])


def kept_host_public_key(paths: NexusPaths, name: str) -> str | None:
    """The public half of the host key Nexus generated for workspace ``name`` (kept as
    ``ssh/host_keys/<name>_ed25519``); None when that file is missing, unreadable or no key."""
    key_file = paths.host_keys_dir / f"{name}_ed25519"
    try:
        return public_key_of(key_file.read_text())
    except Exception as exc:  # OSError, or asyncssh.KeyImportError for a damaged file
        log.debug("cannot read the host key %s: %s", key_file, exc)
        return None
