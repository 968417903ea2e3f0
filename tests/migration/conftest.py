"""Migration tests: the real Docker engine and the Daytona emulator in one installation."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NexusEnv
from tests.daytona_backend.conftest import bare_repos, daytona_env, emulator

__all__ = ["bare_repos", "daytona_env", "emulator"]

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode != 0, result.stdout
    data: dict[str, str] = json.loads(result.stdout)["error"]
    return data


def git(repo: Path, *args: str) -> str:
    """Host-side git on the test's own repository (safe.directory: the tests run as root)."""
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=repo,
        env={**os.environ, **GIT_IDENTITY},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def sh(env: NexusEnv, name: str, script: str) -> str:
    """Run ``script`` inside workspace ``name`` (git identity set); its stdout."""
    exports = " ".join(f"{k}='{v}'" for k, v in GIT_IDENTITY.items())
    return ok(env.run("workspace", "exec", name, "--", f"export {exports}; {script}")).stdout


# the tree hash of the working copy, computed inside a workspace as docs/migration.md says
_TEMP_GIT = (
    'GIT_INDEX_FILE="$d/i" GIT_OBJECT_DIRECTORY="$d/o" GIT_ALTERNATE_OBJECT_DIRECTORIES="$o"'
)
TREE = (
    'd=$(mktemp -d); mkdir "$d/o"; o=$(cd "$(git rev-parse --git-path objects)" && pwd -P); '
    f'{_TEMP_GIT} git add -A . && {_TEMP_GIT} git write-tree; rm -rf "$d"'
)


@dataclass
class Project:
    env: NexusEnv
    repo: Path


@pytest.fixture
def project(daytona_env: NexusEnv) -> Iterator[Project]:
    """The test's project folder as a git repository with one commit and a `.gitignore`."""
    repo = daytona_env.project
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "initial")
    if os.geteuid() == 0:  # the workspace user adopts the folder's owner (see tests/conftest.py)
        subprocess.run(["chown", "-R", "1000:1000", str(repo)], check=True)
    yield Project(daytona_env, repo)


def sandboxes_named(emulator: object, name: str) -> list[object]:
    store = emulator.emulator.store  # type: ignore[attr-defined]
    return [s for s in store.all() if s.labels.get("nexus.workspace") == name]


def containers_named(env: NexusEnv, name: str) -> list[str]:
    """The containers of this installation that belong to workspace ``name``."""
    return subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=nexus.installation={env.installation_id()}",
            "--filter",
            f"label=nexus.workspace={name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
