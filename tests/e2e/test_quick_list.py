"""`nexus workspace list` answers from the store and the engine socket when nothing needs
recording, with the full listing's exact output; anything to record is left to the full listing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

FULL = "import sys\nfrom nexus.cli.listing import list_workspaces\nlist_workspaces(None, '--json' in sys.argv)\n"


def _full(nexus_env: NexusEnv, *args: str, columns: str = "200") -> str:
    """What the full listing prints (the service, models and rich)."""
    result = subprocess.run(
        [sys.executable, "-c", FULL, *args],
        cwd=nexus_env.project,
        env={**nexus_env.env, "COLUMNS": columns},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _cli(nexus_env: NexusEnv, *args: str, columns: str = "200") -> tuple[str, str, bool]:
    """stdout and stderr of `nexus workspace list ARGS`, and whether it took the quick path."""
    result = nexus_env.run(
        "workspace", "list", *args, extra_env={"NEXUS_DEBUG": "1", "COLUMNS": columns}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr, "full workspace list:" not in result.stderr


def _container(nexus_env: NexusEnv, name: str) -> str:
    return subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=nexus.installation={nexus_env.installation_id()}",
            "--filter",
            f"label=nexus.workspace={name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_quick_list_prints_what_the_full_one_prints(nexus_env: NexusEnv) -> None:
    created = nexus_env.run("workspace", "create", "quick")
    assert created.returncode == 0, created.stderr
    for args, columns in ((("--json",), "200"), ((), "200"), ((), "60")):
        out, _, quick = _cli(nexus_env, *args, columns=columns)
        assert quick, (args, columns)
        assert out == _full(nexus_env, *args, columns=columns)
    assert "…" in _cli(nexus_env, columns="60")[0]  # the path column was cut, as rich cuts it

    # stopped behind Nexus's back: the full listing runs once and records it
    subprocess.run(["docker", "stop", "-t", "0", _container(nexus_env, "quick")], check=True)
    out, _, quick = _cli(nexus_env, "--json")
    assert not quick
    assert json.loads(out)["workspaces"][0]["status"] == "stopped"
    out, _, quick = _cli(nexus_env, "--json")
    assert quick
    assert out == _full(nexus_env, "--json")

    # a container of this installation without a record: the full listing points at recover
    ghost = subprocess.run(
        [
            "docker",
            "create",
            "--label",
            f"nexus.installation={nexus_env.installation_id()}",
            "--label",
            "nexus.workspace=ghost",
            "debian:bookworm-slim",
            "true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        _, err, quick = _cli(nexus_env)
        assert not quick
        assert "ghost" in err and "workspace recover" in err
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", ghost], capture_output=True)


def test_an_empty_store_lists_nothing_quickly(nexus_env: NexusEnv) -> None:
    assert nexus_env.run("workspace", "list").returncode == 0  # makes the store
    for args in (("--json",), ()):
        out, _, quick = _cli(nexus_env, *args)
        assert quick
        assert out == _full(nexus_env, *args)
