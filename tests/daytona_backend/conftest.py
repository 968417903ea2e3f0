"""Daytona backend tests: the Nexus CLI and service against the Daytona emulator (real containers)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorConfig, EmulatorThread, Quota

REPOS_MOUNT = "/mnt/repos"


def _git(*args: str, cwd: Path | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="session")
def bare_repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with `app.git` (branches main and feature/x), mounted read-only into sandboxes."""
    base = tmp_path_factory.mktemp("daytona-repos")
    work = tmp_path_factory.mktemp("daytona-work")
    _git("init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("main branch\n")
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "initial", cwd=work)
    _git("checkout", "-qb", "feature/x", cwd=work)
    (work / "feature.txt").write_text("on feature/x\n")
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "feature", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(base / "app.git"))
    for path in [base, *base.rglob("*")]:
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    for parent in base.parents:  # uid 1000 in the sandbox must reach it
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    return base


@pytest.fixture(scope="session")
def emulator(bare_repos: Path, docker_engine: None) -> Iterator[EmulatorThread]:
    emu = EmulatorThread(
        bind_mounts={str(bare_repos): REPOS_MOUNT},
        # an organization on a plan above the default per-sandbox limits (4 vCPU / 8 GB / 10 GB)
        config=EmulatorConfig(regions=("us", "eu"), quota=Quota(max_disk_per_sandbox=50)),
    )
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def daytona_env(nexus_env: NexusEnv, emulator: EmulatorThread) -> Iterator[NexusEnv]:
    """A Nexus installation pointed at the emulator (API key and URL in the environment)."""
    nexus_env.env.update(emulator.client_env())
    yield nexus_env
    # delete whatever the test left, through Nexus (it also removes the sandboxes)
    listed = nexus_env.run("workspace", "list", "--json")
    if listed.returncode == 0:
        import json

        for ws in json.loads(listed.stdout)["workspaces"]:
            nexus_env.run("workspace", "delete", ws["name"], "--force")
