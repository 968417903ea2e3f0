"""Fixtures of the `nexus lsp` tests: one Docker workspace per module with a real pylsp in it.

The project is a git repository, so the workspace's local folder is its worktree. The Nexus
workspace image ships no language server: Debian's python3-pylsp is installed in the workspace,
with a module of its own in the workspace's Python path that this machine does not have.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import remove_containers

NEXUS_BIN = str(Path(sys.executable).parent / "nexus")
WORKSPACE = "lsp"
PROBE_MODULE = "nexus_lsp_probe"  # only in the workspace's Python path
PROBE_FUNCTION = "zebra_quokka_frobnicate"
MISSING_LANGUAGE = "rustish"  # configured to a command the workspace does not have
MISSING_COMMAND = "nexus-no-such-language-server --stdio"
MAIN_PY = f"import {PROBE_MODULE}\n\n\ndef local_helper():\n    return 1\n\n\nclass Thing:\n    pass\n\n\n{PROBE_MODULE}.zebra_\n"
PROBE_PY = f'def {PROBE_FUNCTION}():\n    """Only the workspace knows me."""\n    return 42\n'


@dataclass
class LspWorld:
    home: Path
    nexus_home: Path
    project: Path
    env: dict[str, str]
    workspace: str
    worktree: Path

    def nexus(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NEXUS_BIN, *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input="",
        )

    def command(self, language: str = "python") -> list[str]:
        return [NEXUS_BIN, "lsp", self.workspace, "--language", language]

    def status(self) -> str:
        import json

        listed = json.loads(self.nexus("workspace", "list", "--json").stdout)
        rows = listed["workspaces"] if isinstance(listed, dict) else listed
        return next(str(row["status"]) for row in rows if row["name"] == self.workspace)


def _git(path: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=path, check=True, capture_output=True
    )


def _installation_id(nexus_home: Path) -> str | None:
    kept = nexus_home / "installation-id"
    return kept.read_text().strip() if kept.exists() else None


@pytest.fixture(scope="module")
def lsp_world(docker_engine: None) -> Iterator[LspWorld]:
    base = Path(tempfile.mkdtemp(prefix="nexus-lsp-"))
    base.chmod(0o755)
    home, project = base / "home", base / "project"
    nexus_home = home / ".nexus"
    nexus_home.mkdir(parents=True)
    project.mkdir()
    low = random.randrange(40000, 60000, 100)
    (nexus_home / "config.yaml").write_text(
        'version: "2"\n'
        f"backends:\n  docker:\n    port_range: [{low}, {low + 99}]\n"
        f'lsp:\n  commands:\n    {MISSING_LANGUAGE}: "{MISSING_COMMAND}"\n'
    )
    (project / "main.py").write_text(MAIN_PY)
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", "Dev Person"),
        ("config", "user.email", "dev@example.com"),
        ("add", "main.py"),
        ("commit", "-qm", "initial"),
    ):
        _git(project, *args)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(project)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "DAYTONA_"))}
    env.pop("SSH_AUTH_SOCK", None)
    env.update(HOME=str(home), NEXUS_HOME=str(nexus_home), NO_COLOR="1", COLUMNS="200")
    world = LspWorld(home, nexus_home, project, env, WORKSPACE, project)
    try:
        created = world.nexus("workspace", "create", WORKSPACE, "--json")
        assert created.returncode == 0, created.stderr + created.stdout
        import json

        world.worktree = Path(json.loads(created.stdout)["localPath"])
        assert (world.worktree / "main.py").is_file()
        _install_pylsp(world)
        yield world
    finally:
        remove_containers(_installation_id(nexus_home))
        shutil.rmtree(base, ignore_errors=True)


def _install_pylsp(world: LspWorld) -> None:
    script = (
        "set -e; sudo apt-get update -qq; "
        "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "python3-pylsp python3-setuptools >/dev/null; "
        "site=$(python3 -c 'import site; print(site.getsitepackages()[0])'); "
        f'sudo mkdir -p "$site"; printf %s "$PROBE" | sudo tee "$site/{PROBE_MODULE}.py" >/dev/null'
    )
    done = world.nexus(
        "workspace", "exec", world.workspace, "--", f"PROBE={_sh_quote(PROBE_PY)}; {script}"
    )
    assert done.returncode == 0, done.stderr + done.stdout
    import importlib.util

    assert importlib.util.find_spec(PROBE_MODULE) is None  # this machine does not have it


def _sh_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@pytest.fixture
def running(lsp_world: LspWorld) -> LspWorld:
    """The module's workspace, started again if a test stopped it."""
    if lsp_world.status() != "running":
        started = lsp_world.nexus("workspace", "start", lsp_world.workspace)
        assert started.returncode == 0, started.stderr
    return lsp_world
