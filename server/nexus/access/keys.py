"""Nexus-owned SSH keys: one client key per Nexus home, one host key per workspace."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import struct
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
    """A new key in OpenSSH formats; ``comment`` ends the public line (as ssh-keygen's -C)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    seed, public = key.private_bytes_raw(), key.public_key().public_bytes_raw()
    public_blob = _ssh_string(_ED25519) + _ssh_string(public)
    public_line = f"{_ED25519.decode()} {base64.b64encode(public_blob).decode()} {comment}"
    return KeyPair(_openssh_private_key(seed, public, comment), public_line.strip())


_ED25519 = b"ssh-ed25519"


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _openssh_private_key(seed: bytes, public: bytes, comment: str) -> str:
    """An unencrypted ``openssh-key-v1`` file (OpenSSH's PROTOCOL.key), as ssh-keygen writes it.

    Written here rather than through ``cryptography``'s serializer, whose import brings in
    every cipher it could encrypt keys with: a cost each `workspace create` would pay."""
    check = secrets.token_bytes(4)
    private = (
        check
        + check
        + _ssh_string(_ED25519)
        + _ssh_string(public)
        + _ssh_string(seed + public)
        + _ssh_string(comment.encode())
    )
    private += bytes(range(1, 1 + (-len(private) % 8)))  # padding to the "none" cipher's block
    body = (
        b"openssh-key-v1\0"
        + _ssh_string(b"none")
        + _ssh_string(b"none")
        + _ssh_string(b"")
        + struct.pack(">I", 1)
        + _ssh_string(_ssh_string(_ED25519) + _ssh_string(public))
        + _ssh_string(private)
    )
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""]
    )


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
    from cryptography.hazmat.primitives import serialization as ser

    key = ser.load_ssh_private_key(private_openssh.encode(), password=None)
    return key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()


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
    except Exception as exc:  # OSError, or ValueError/TypeError for a damaged file
        log.debug("cannot read the host key %s: %s", key_file, exc)
        return None
