"""Nexus writes its ed25519 keys itself (OpenSSH's own format): OpenSSH and asyncssh read them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import asyncssh
import pytest

from nexus.access.keys import generate_ed25519, public_key_of


def test_openssh_and_asyncssh_read_the_key(tmp_path: Path) -> None:
    pair = generate_ed25519("nexus-one")
    assert pair.public_openssh.startswith("ssh-ed25519 ") and pair.public_openssh.endswith(
        " nexus-one"
    )
    key_file = tmp_path / "id"
    key_file.write_text(pair.private_openssh)
    key_file.chmod(0o600)
    if shutil.which("ssh-keygen"):
        derived = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True
        )
        assert derived.stdout.strip() == pair.public_openssh
    loaded = asyncssh.import_private_key(pair.private_openssh)
    signature = loaded.sign(b"data", b"ssh-ed25519")
    public = asyncssh.import_public_key(pair.public_openssh)
    assert public.verify(b"data", signature)
    assert public_key_of(pair.private_openssh) == " ".join(pair.public_openssh.split()[:2])


def test_every_key_is_new() -> None:
    assert generate_ed25519("a").private_openssh != generate_ed25519("a").private_openssh


@pytest.mark.parametrize("comment", ["", "a much longer comment to move the padding"])
def test_any_comment_length_pads_correctly(comment: str) -> None:
    pair = generate_ed25519(comment)
    assert asyncssh.import_private_key(pair.private_openssh).get_comment() == (comment or None)
