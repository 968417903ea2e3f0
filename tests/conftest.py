"""Shared fixtures: every test gets its own HOME and NEXUS_HOME; Docker tests clean up their containers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NEXUS_BIN = str(Path(sys.executable).parent / "nexus")


@dataclass
class NexusEnv:
    """An isolated Nexus installation: temp HOME, NEXUS_HOME and a project folder."""

    home: Path
    nexus_home: Path
    project: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run the `nexus` CLI the way a user does, in this installation."""
        return subprocess.run(
            [NEXUS_BIN, *args],
            cwd=cwd or self.project,
            env={**self.env, **(extra_env or {})},
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def installation_id(self) -> str | None:
        from nexus.store import StateStore

        kept = self.nexus_home / "installation-id"  # readable even when state.db is not
        if kept.exists():
            return kept.read_text().strip()
        db = self.nexus_home / "state.db"
        if not db.exists():
            return None
        store = StateStore(db)
        try:
            return store.installation_id
        finally:
            store.close()


# the real Mutagen scripts/setup.sh puts beside the venv's python (the sync tests use it)
MUTAGEN_BIN = Path(sys.executable).parent / "mutagen"


def stop_mutagen_daemon(nexus_home: Path) -> None:
    """Stop the Mutagen daemon a test's Nexus left running (sync tests check it stops itself)."""
    if not (nexus_home / "sync").exists() or not MUTAGEN_BIN.exists():
        return
    from nexus.paths import NexusPaths
    from nexus.sync.binary import MutagenBinary
    from nexus.sync.daemon import MutagenDaemon

    binary = MutagenBinary(MUTAGEN_BIN, "", MUTAGEN_BIN.parent / "mutagen-agents.tar.gz")
    MutagenDaemon(NexusPaths(nexus_home), binary).stop()


def remove_containers(installation_id: str | None) -> None:
    if not installation_id or shutil.which("docker") is None:
        return
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=nexus.installation={installation_id}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True)


@pytest.fixture
def nexus_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[NexusEnv]:
    # Not pytest's tmp_path: its parents are private to root, and the project must be reachable
    # by the normal user that owns it (as a real home directory is).
    base = Path(tempfile.mkdtemp(prefix="nexus-test-"))
    base.chmod(0o755)
    home = base / "home"
    nexus_home = home / ".nexus"
    project = base / "project"
    for path in (home, project):
        path.mkdir(parents=True)
    (project / "README.md").write_text("hello from the host\n")
    # The workspace user adopts the owner of the mounted folder; a normal user's uid, not root's.
    if os.geteuid() == 0:
        os.chown(project, 1000, 1000)
        os.chown(project / "README.md", 1000, 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "DAYTONA_"))}
    env.pop("SSH_AUTH_SOCK", None)
    env.update(
        {"HOME": str(home), "NEXUS_HOME": str(nexus_home), "NO_COLOR": "1", "COLUMNS": "200"}
    )
    for key in ("NEXUS_HOME", "HOME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.chdir(project)
    nexus = NexusEnv(home=home, nexus_home=nexus_home, project=project, env=env)
    try:
        yield nexus
    finally:
        stop_mutagen_daemon(nexus_home)
        remove_containers(nexus.installation_id())
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _never_the_real_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Safety net: nothing in the suite may touch this machine's ~/.ssh or ~/.nexus."""
    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("NEXUS_HOME", str(home / ".nexus"))
        patch.delenv("SSH_AUTH_SOCK", raising=False)
        yield


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Docker tests need a real engine; without one they fail (CI starts it), never silently pass."""
    result = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("no Docker engine: start dockerd (see .ci/docker-engine.sh)", pytrace=False)


UserAgent = tuple[dict[str, str], Path]  # SSH_AUTH_SOCK env, the key's .pub file


@pytest.fixture
def user_agent(tmp_path: Path) -> Iterator[UserAgent]:
    """A real ssh-agent holding one key of the user (user@laptop): its env and the public key.

    Not exported to the test process: pass the env to the commands that should see the agent."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        key = tmp_path / "id_user"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "user@laptop", "-f", str(key)],
            check=True,
        )
        agent_env = {"SSH_AUTH_SOCK": str(sock)}
        subprocess.run(
            ["ssh-add", str(key)], env={**os.environ, **agent_env}, check=True, capture_output=True
        )
        yield agent_env, key.with_suffix(".pub")
    finally:
        agent.terminate()
        agent.wait(10)
