"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NexusEnv


@pytest.fixture
def repo(nexus_env: NexusEnv) -> Path:
    """The project as a git repository with one commit, owned by a normal user (uid 1000), as on
    a developer's machine."""
    path = nexus_env.project
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", "Dev Person"),
        ("config", "user.email", "dev@example.com"),
        ("add", "README.md"),
        ("commit", "-qm", "initial"),
    ):
        subprocess.run(
            ["git", "-c", "safe.directory=*", *args], cwd=path, check=True, capture_output=True
        )
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(path)], check=True)
    return path
