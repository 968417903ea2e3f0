"""Running `nexus doctor` as a user does, and reading its answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import NexusEnv


def doctor(
    env: NexusEnv, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`nexus doctor ARGS` as a user runs it."""
    return env.run("doctor", *args, extra_env=extra_env)


def findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert "Traceback" not in result.stderr, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"findings", "summary"}, data
    found: list[dict[str, Any]] = data["findings"]
    return found


def by_code(found: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [f for f in found if f["code"] == code]


def one(found: list[dict[str, Any]], code: str, subject: str | None = None) -> dict[str, Any]:
    matching = [f for f in by_code(found, code) if subject is None or f["subject"] == subject]
    assert len(matching) == 1, (code, subject, json.dumps(found, indent=1))
    return matching[0]


def user_config(env: NexusEnv) -> Path:
    return env.home / ".ssh" / "config"


def ssh_g(env: NexusEnv, alias: str) -> dict[str, str]:
    """What plain `ssh` uses for ``alias`` with the user's config (first value of each)."""
    out = subprocess.run(
        ["ssh", "-G", "-F", str(user_config(env)), alias],
        capture_output=True,
        text=True,
        check=True,
        env=env.env,
    ).stdout
    settings: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings
