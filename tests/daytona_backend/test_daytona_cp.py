"""`nexus workspace cp` on Daytona (the emulator): tar over the SSH gateway by default, the File
API above `use_file_api_threshold` (env NEXUS_SYNC_THRESHOLD)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from tests.conftest import NexusEnv


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """(permission bits, sha256 or link target) of every file and link below ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(root))] = (0, os.readlink(path))
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = (path.stat().st_mode & 0o777, digest)
    return out


def make(root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "sub" / "data.bin").write_bytes(os.urandom(70_000))
    script = root / "pkg" / "run.sh"
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o755)
    (root / "pkg" / "link").symlink_to("run.sh")


def test_cp_over_the_gateway_and_by_threshold(daytona_env: NexusEnv) -> None:
    ok(daytona_env.run("workspace", "create", "cpd", "--backend", "daytona"))
    local = daytona_env.home / "scratch"
    local.mkdir()
    make(local)
    expected = tree(local / "pkg")

    # below the threshold (3 files, default 100): tar over the SSH gateway
    sent = json.loads(
        ok(daytona_env.run("workspace", "cp", str(local / "pkg"), "cpd:/tmp/pkg", "--json")).stdout
    )
    assert (sent["method"], sent["files"], sent["fallback"]) == ("tar-ssh", 2, None)
    back = local / "back"
    ok(daytona_env.run("workspace", "cp", "cpd:/tmp/pkg", str(back), "--json"))
    assert tree(back) == expected

    # above it, in the workspace folder: the File API
    above = {"NEXUS_SYNC_THRESHOLD": "1"}
    result = json.loads(
        ok(
            daytona_env.run(
                "workspace", "cp", str(local / "pkg"), "cpd:api", "--json", extra_env=above
            )
        ).stdout
    )
    assert (result["method"], result["files"], result["fallback"]) == ("file-api", 2, None)
    assert result["destination"] == "cpd:/home/daytona/workspace/api"
    # outside it (where the File API does not reach): tar over SSH
    elsewhere = daytona_env.run(
        "workspace", "cp", str(local / "pkg"), "cpd:/tmp/other", "--json", extra_env=above
    )
    assert json.loads(ok(elsewhere).stdout)["method"] == "tar-ssh"
    seen = ok(
        daytona_env.run(
            "workspace",
            "exec",
            "cpd",
            "--",
            "sha256sum api/sub/data.bin; stat -c %a api/run.sh",
        )
    ).stdout.split()
    assert seen[0] == expected["sub/data.bin"][1]
    assert seen[-1] == "755"
    again = local / "again"
    fetched = daytona_env.run("workspace", "cp", "cpd:api", str(again), "--json", extra_env=above)
    assert json.loads(ok(fetched).stdout)["method"] == "file-api"
    assert tree(again) == expected
