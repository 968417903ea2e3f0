"""A Docker workspace serving the test app and `python3 -m http.server` (one per module: the
workspace image has no python3, so the module installs it once, from the Debian mirror)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NexusEnv, remove_containers
from tests.daytona_backend.conftest import bare_repos, daytona_env, emulator  # noqa: F401
from tests.e2e.test_docker_cli import ok
from tests.preview import helpers

APP_PORT = 8300  # the test app (keep-alive, uploads, WebSocket echo)
SITE_PORT = 8123  # python3 -m http.server: index.html and a 20 MB file
PAGE = "hello from the workspace\n"


@dataclass
class Served:
    env: NexusEnv
    name: str
    big_sha256: str


def start_servers(env: NexusEnv, name: str) -> str:
    """Upload and start the test app and the static site; the 20 MB file's SHA-256."""
    ok(
        env.run(
            "workspace",
            "exec",
            name,
            "--",
            "sh",
            "-c",
            "cat > /tmp/app.py",
            input=helpers.APP.read_text(),
        )
    )
    script = (
        "set -e; mkdir -p /tmp/site && cd /tmp/site && "
        f"printf '{PAGE}' > index.html && head -c {helpers.BIG} /dev/urandom > big.bin && "
        f"(nohup python3 -m http.server {SITE_PORT} --bind 127.0.0.1 >/dev/null 2>&1 &) && "
        f"(nohup python3 /tmp/app.py {APP_PORT} >/tmp/app.log 2>&1 &) && "
        "sha256sum big.bin | cut -d' ' -f1"
    )
    digest = ok(env.run("workspace", "exec", name, "--", "sh", "-c", script)).stdout.strip()
    probe = (
        "import urllib.request as u\n"
        f"u.urlopen('http://127.0.0.1:{SITE_PORT}/'); u.urlopen('http://127.0.0.1:{APP_PORT}/conn')"
    )
    for _ in range(300):
        if env.run("workspace", "exec", name, "--", "python3", "-c", probe).returncode == 0:
            return digest
        time.sleep(0.1)
    raise AssertionError("the servers did not come up in the workspace")


def isolated_env() -> NexusEnv:
    """What tests/conftest.py's `nexus_env` makes, for a whole module (the env is passed to
    each command; the test process's own HOME stays the session's)."""
    base = Path(tempfile.mkdtemp(prefix="nexus-test-"))
    base.chmod(0o755)
    home, project = base / "home", base / "project"
    for path in (home, project):
        path.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(project, 1000, 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "DAYTONA_"))}
    env.pop("SSH_AUTH_SOCK", None)
    env.update(
        {"HOME": str(home), "NEXUS_HOME": str(home / ".nexus"), "NO_COLOR": "1", "COLUMNS": "200"}
    )
    return NexusEnv(home=home, nexus_home=home / ".nexus", project=project, env=env)


@pytest.fixture(scope="module")
def docker_web(docker_engine: None) -> Iterator[Served]:
    env = isolated_env()
    try:
        ok(env.run("workspace", "create", "web", "--json", timeout=900))
        install = (
            "sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive "
            "apt-get install -y -qq --no-install-recommends python3 >/dev/null"
        )
        ok(env.run("workspace", "exec", "web", "--", "sh", "-c", install, timeout=900))
        yield Served(env, "web", start_servers(env, "web"))
    finally:
        helpers.stop_background(env)
        remove_containers(env.installation_id())
        shutil.rmtree(env.home.parent, ignore_errors=True)
