"""`create --env` on Docker: the variables reach every SSH session, exactly as given."""

from __future__ import annotations

import json

import pytest

from tests.conftest import NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

AWKWARD = 'a "quoted" \\ back\\slash, $HOME and `ticks`  with  spaces'


def test_env_reaches_exec_and_survives_a_restart(nexus_env: NexusEnv) -> None:
    created = nexus_env.run(
        "workspace", "create", "envy", "--env", "GREETING=hello", "--env", f"AWKWARD={AWKWARD}"
    )
    assert created.returncode == 0, created.stderr
    shown = nexus_env.run(
        "workspace", "exec", "envy", "--json", "--", "printenv", "GREETING", "AWKWARD"
    )
    assert json.loads(shown.stdout)["stdout"] == f"hello\n{AWKWARD}\n"
    for step in ("stop", "start"):
        assert nexus_env.run("workspace", step, "envy").returncode == 0
    again = nexus_env.run("workspace", "exec", "envy", "--", "printenv", "AWKWARD")
    assert again.stdout == f"{AWKWARD}\n", again.stderr
    # an interactive login shell (what `workspace ssh` and editors open) sees them too
    login = nexus_env.run("workspace", "ssh", "envy", "--", "bash -lc 'echo $GREETING'")
    assert login.stdout.strip() == "hello", login.stderr
