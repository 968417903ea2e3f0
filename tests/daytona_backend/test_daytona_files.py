"""`nexus workspace provider daytona file upload|download`: the File API against the emulator.

A folder tree (nested folders, an empty one, an executable, a private file, a binary file, a
symlink) goes up and comes back byte for byte with its modes; bad paths get stable codes; with the
File API answering 502 the copy still lands over SSH (tar), and with --no-fallback it fails."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.daytona_emulator.sdk import sync_client
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

WS = "files"


@pytest.fixture(autouse=True)
def _clean_faults(emulator: EmulatorThread) -> Iterator[None]:
    emulator.faults.clear()
    yield
    emulator.faults.clear()


@pytest.fixture
def workspace(daytona_env: NexusEnv) -> dict[str, Any]:
    created = ok(daytona_env.run("workspace", "create", WS, "--backend", "daytona", "--json"))
    return dict(json.loads(created.stdout))


def _tree(root: Path) -> Path:
    """A folder with what a copy must keep: nesting, an empty folder, modes, binary data, a link."""
    tree = root / "tree"
    (tree / "nested" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "hello.txt").write_text("hello\n")
    run = tree / "run.sh"
    run.write_text("#!/bin/sh\necho ran\n")
    run.chmod(0o755)
    secret = tree / "nested" / "secret.txt"
    secret.write_text("private\n")
    secret.chmod(0o600)
    # every byte value, then incompressible data (a multipart body must not mangle either)
    blob = bytes(range(256)) * 64 + hashlib.sha256(b"seed").digest() * 40_000
    (tree / "nested" / "deeper" / "data.bin").write_bytes(blob)
    (tree / "link").symlink_to("hello.txt")
    (tree / "empty").chmod(0o750)
    return tree


def _snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """relative path -> (kind, mode, sha256 or link target) for everything under ``root``."""
    found: dict[str, tuple[str, int, str]] = {}
    for path in sorted([root, *root.rglob("*")]):
        rel = path.relative_to(root).as_posix()
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            found[rel] = ("link", 0, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            found[rel] = ("dir", mode, "")
        else:
            found[rel] = ("file", mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _json(result: Any) -> dict[str, Any]:
    return dict(json.loads(result.stdout))


def _error(result: Any) -> dict[str, Any]:
    assert result.returncode != 0, result.stdout
    return dict(json.loads(result.stdout)["error"])


def _remote_mode(emulator: EmulatorThread, sandbox_id: str, path: str) -> str:
    sandbox = sync_client(emulator.api_url, emulator.api_key).get(sandbox_id)
    return str(sandbox.fs.get_file_info(path).permissions)


def test_folder_round_trip_is_byte_exact_and_keeps_modes(
    daytona_env: NexusEnv, emulator: EmulatorThread, workspace: dict[str, Any], tmp_path: Path
) -> None:
    tree = _tree(tmp_path)
    up = _json(
        ok(
            daytona_env.run(
                "workspace", "provider", "daytona", "file", "upload", WS, str(tree), "up", "--json"
            )
        )
    )
    remote = f"{workspace['remotePath']}/up"
    assert up["destination"] == remote  # a new path: the folder is created there
    assert up["method"] == "file-api" and up["verified"] is True
    assert up["files"] == 4
    assert up["bytes"] == sum(
        p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
    )
    # the modes really are set in the sandbox, not only in the report
    assert _remote_mode(emulator, workspace["backendId"], f"{remote}/run.sh") == "0755"
    assert _remote_mode(emulator, workspace["backendId"], f"{remote}/nested/secret.txt") == "0600"
    assert _remote_mode(emulator, workspace["backendId"], f"{remote}/empty") == "0750"

    back = tmp_path / "back"
    back.mkdir()
    down = _json(
        ok(
            daytona_env.run(
                "workspace",
                "provider",
                "daytona",
                "file",
                "download",
                WS,
                "up",
                str(back),
                "--json",
            )
        )
    )
    # an existing folder: the copy goes inside it, under the source's name
    assert down["destination"] == str(back / "up")
    assert down["method"] == "file-api" and down["verified"] is True
    assert _snapshot(back / "up") == _snapshot(tree)

    # the same tree uploaded again into the existing folder lands inside it
    again = _json(
        ok(
            daytona_env.run(
                "workspace", "provider", "daytona", "file", "upload", WS, str(tree), "up", "--json"
            )
        )
    )
    assert again["destination"] == f"{remote}/tree"
    # `tree/.`: the folder's contents merge into the existing folder
    merged = _json(
        ok(
            daytona_env.run(
                "workspace",
                "provider",
                "daytona",
                "file",
                "upload",
                WS,
                f"{tree}/.",
                "up",
                "--json",
            )
        )
    )
    assert merged["destination"] == remote and merged["verified"] is True


def test_single_file_both_ways(
    daytona_env: NexusEnv, workspace: dict[str, Any], tmp_path: Path
) -> None:
    script = tmp_path / "tool.sh"
    script.write_bytes(b"#!/bin/sh\nprintf 'x\\0y'\n")
    script.chmod(0o750)
    up = _json(
        ok(
            daytona_env.run(
                "workspace",
                "provider",
                "daytona",
                "file",
                "upload",
                WS,
                str(script),
                "~/tool",
                "--json",
            )
        )
    )
    assert up["destination"] == f"{workspace['remotePath'].rsplit('/', 1)[0]}/tool"
    ran = ok(daytona_env.run("workspace", "exec", WS, "--", "sh", "-c", "~/tool | od -c | head -1"))
    assert "x  \\0   y" in ran.stdout
    local = tmp_path / "copy"
    ok(
        daytona_env.run(
            "workspace", "provider", "daytona", "file", "download", WS, "~/tool", str(local)
        )
    )
    assert local.read_bytes() == script.read_bytes()
    assert stat.S_IMODE(local.stat().st_mode) == 0o750


def test_large_file_streams(
    daytona_env: NexusEnv, workspace: dict[str, Any], tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))  # above the size that goes alone, streamed
    sent = daytona_env.run(
        "workspace", "provider", "daytona", "file", "upload", WS, str(big), "big.bin"
    )
    ok(sent)
    assert "Uploading 1 file (20.0 MB) through the Daytona File API" in sent.stderr
    assert "sha256 and modes checked" in sent.stdout
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    seen = ok(daytona_env.run("workspace", "exec", WS, "--", "sha256sum big.bin"))
    assert seen.stdout.split()[0] == digest


def test_bad_paths_get_stable_codes(
    daytona_env: NexusEnv, workspace: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    for remote in ("/etc/a.txt", "../../../tmp/a.txt", "/home"):
        failed = daytona_env.run(
            "workspace",
            "provider",
            "daytona",
            "file",
            "upload",
            WS,
            str(tmp_path / "a.txt"),
            remote,
            "--json",
        )
        error = _error(failed)
        assert error["code"] == "INVALID_ARGUMENT" and "outside the workspace" in error["message"]
        assert failed.returncode == 2
    missing = daytona_env.run(
        "workspace",
        "provider",
        "daytona",
        "file",
        "upload",
        WS,
        str(tmp_path / "nope"),
        "x",
        "--json",
    )
    assert _error(missing)["code"] == "SOURCE_NOT_FOUND"
    gone = daytona_env.run(
        "workspace",
        "provider",
        "daytona",
        "file",
        "download",
        WS,
        "nope.txt",
        str(tmp_path / "n"),
        "--json",
    )
    assert _error(gone)["code"] == "SOURCE_NOT_FOUND"
    assert not (tmp_path / "n").exists()
    # nothing was written outside the workspace
    ok(
        daytona_env.run(
            "workspace", "exec", WS, "--", "test ! -e /etc/a.txt && test ! -e /tmp/a.txt"
        )
    )


def test_file_api_down_falls_back_to_tar_over_ssh(
    daytona_env: NexusEnv, emulator: EmulatorThread, workspace: dict[str, Any], tmp_path: Path
) -> None:
    tree = _tree(tmp_path)
    emulator.faults.http_error(502, count=1000, path=r"/files")
    refused = daytona_env.run(
        "workspace",
        "provider",
        "daytona",
        "file",
        "upload",
        WS,
        str(tree),
        "up",
        "--json",
        "--no-fallback",
    )
    error = _error(refused)
    assert error["code"] == "DAYTONA_UNAVAILABLE" and refused.returncode == 5
    assert "tar over SSH" in error["resolution"]

    up = _json(
        ok(
            daytona_env.run(
                "workspace", "provider", "daytona", "file", "upload", WS, str(tree), "up", "--json"
            )
        )
    )
    assert up["method"] == "tar-ssh" and up["verified"] is True
    assert up["destination"] == f"{workspace['remotePath']}/up"
    assert "tar over SSH" in up["fallback"] and "502" in up["fallback"]
    back = tmp_path / "back"
    down = _json(
        ok(
            daytona_env.run(
                "workspace",
                "provider",
                "daytona",
                "file",
                "download",
                WS,
                "up",
                str(back),
                "--json",
            )
        )
    )
    assert down["method"] == "tar-ssh" and "fallback" in down
    assert _snapshot(back) == _snapshot(tree)
    assert emulator.faults.to_json()  # the fault was still there: the File API really was down


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        ("src", "/home/daytona/workspace/src"),
        ("src/", "/home/daytona/workspace/src/"),
        ("src/.", "/home/daytona/workspace/src/."),
        (".", "/home/daytona/workspace/."),
        ("a/../b", "/home/daytona/workspace/b"),
        ("..", "/home/daytona"),
        ("~/.config/x", "/home/daytona/.config/x"),
        ("/home/daytona/workspace/../notes", "/home/daytona/notes"),
    ],
)
def test_remote_paths_resolve_inside_the_workspace(given: str, resolved: str) -> None:
    from nexus.backends.daytona.ops.toolbox import resolve_remote

    assert resolve_remote(given, "/home/daytona/workspace", lambda: "/home/daytona") == resolved


@pytest.mark.parametrize("given", ["/etc/passwd", "../../etc", "~/../other", "//etc", "/home"])
def test_remote_paths_outside_are_refused(given: str) -> None:
    from nexus.backends.daytona.ops.toolbox import resolve_remote
    from nexus.domain.errors import NexusError

    with pytest.raises(NexusError) as raised:
        resolve_remote(given, "/home/daytona/workspace", lambda: "/home/daytona")
    assert raised.value.code == "INVALID_ARGUMENT"
    assert "outside the workspace" in raised.value.message
