"""`nexus workspace cp` through the CLI against a real Docker workspace: bytes, modes and
symlinks survive the round trip, the `docker cp` folder rules hold, a hostile workspace cannot
write outside the destination, and bad input gets a stable code."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import NexusEnv

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def failed(result: subprocess.CompletedProcess[str], code: str, exit_code: int) -> dict:
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code, error
    return dict(error)


def make_tree(root: Path) -> None:
    """Nested folders, an executable, binary data, symlinks, odd names, private modes."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "private").mkdir(mode=0o700)
    (root / "a" / "b" / "c" / "deep.txt").write_text("deep\n")
    tool = root / "run.sh"
    tool.write_text("#!/bin/sh\necho ran\n")
    tool.chmod(0o755)
    (root / "blob.bin").write_bytes(bytes(range(256)) * 1000 + os.urandom(4096))
    secret = root / "private" / "key"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    (root / "empty").write_bytes(b"")
    (root / "name with spaces é.txt").write_text("odd\n")
    (root / "link").symlink_to("a/b/c/deep.txt")
    (root / "dangling").symlink_to("/nowhere/at/all")


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below ``root``: (kind, permission bits, sha256 or link target)."""
    entries: dict[str, tuple[str, int, str]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        rel = str(path.relative_to(root))
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            entries[rel] = ("link", 0, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            entries[rel] = ("dir", mode, "")
        else:
            entries[rel] = ("file", mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return entries


def remote_snapshot(nexus_env: NexusEnv, ws: str, root: str) -> dict[str, tuple[str, int, str]]:
    """The same, read inside the workspace with find and sha256sum."""
    script = (
        f"cd {root} && find . -mindepth 1 -printf '%y\\t%m\\t%l\\t%p\\n' && "
        "find . -type f -exec sha256sum {} +"
    )
    out = ok(nexus_env.run("workspace", "exec", ws, "--", script)).stdout
    entries: dict[str, tuple[str, int, str]] = {}
    hashes: dict[str, str] = {}
    for line in out.splitlines():
        if "\t" in line:
            kind, mode, target, path = line.split("\t", 3)
            entries[path[2:]] = (
                {"l": "link", "d": "dir", "f": "file"}[kind],
                0 if kind == "l" else int(mode, 8),
                target,
            )
        else:
            digest, path = line.split("  ", 1)
            hashes[path[2:]] = digest
    return {
        path: (kind, mode, hashes[path] if kind == "file" else target)
        for path, (kind, mode, target) in entries.items()
    }


def cp(nexus_env: NexusEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return nexus_env.run("workspace", "cp", *args, "--json")


@pytest.fixture
def ws(nexus_env: NexusEnv) -> str:
    ok(nexus_env.run("workspace", "create", "cp-ws"))
    return "cp-ws"


@pytest.fixture
def local(nexus_env: NexusEnv) -> Path:
    """A scratch folder on this machine, outside the project (which the workspace mounts)."""
    path = nexus_env.home / "scratch"
    path.mkdir()
    return path


def test_a_tree_round_trips_byte_exact_with_modes_and_symlinks(
    nexus_env: NexusEnv, ws: str, local: Path
) -> None:
    source = local / "tree"
    make_tree(source)
    expected = snapshot(source)

    sent = json.loads(ok(cp(nexus_env, str(source), f"{ws}:/tmp/tree")).stdout)
    assert sent["direction"] == "upload"
    assert sent["method"] == "tar-ssh"
    assert sent["destination"] == f"{ws}:/tmp/tree"
    assert sent["files"] == 6
    assert sent["bytes"] == sum(
        (source / p).stat().st_size for p, e in expected.items() if e[0] == "file"
    )
    # what the workspace holds (read there, not through Nexus's own copy)
    assert remote_snapshot(nexus_env, ws, "/tmp/tree") == expected

    back = local / "back"
    got = json.loads(ok(cp(nexus_env, f"{ws}:/tmp/tree", str(back))).stdout)
    assert (got["direction"], got["files"], got["bytes"]) == ("download", 6, sent["bytes"])
    assert snapshot(back) == expected
    assert (back / "run.sh").stat().st_mode & stat.S_IXUSR

    human = ok(nexus_env.run("workspace", "cp", str(source / "blob.bin"), f"{ws}:/tmp/"))
    assert human.stdout.startswith(f"Copied 1 file (0.3 MB) to {ws}:/tmp/ via tar over SSH")


def test_docker_cp_rules(nexus_env: NexusEnv, ws: str, local: Path) -> None:
    src = local / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("f\n")
    (src / "top.txt").write_text("top\n")
    ok(nexus_env.run("workspace", "exec", ws, "--", "mkdir -p /tmp/dst && echo x > /tmp/file"))

    def listing(path: str) -> list[str]:
        script = f"cd {path} && find . -mindepth 1 | sort"
        return ok(nexus_env.run("workspace", "exec", ws, "--", script)).stdout.split()

    # a folder to an existing folder goes inside it
    ok(cp(nexus_env, str(src), f"{ws}:/tmp/dst"))
    assert listing("/tmp/dst") == ["./src", "./src/sub", "./src/sub/f.txt", "./src/top.txt"]
    # src/. copies what is in it
    ok(cp(nexus_env, f"{src}/.", f"{ws}:/tmp/dst"))
    assert "./top.txt" in listing("/tmp/dst") and "./sub/f.txt" in listing("/tmp/dst")
    # a folder to a new path is created there with the folder's contents
    ok(cp(nexus_env, str(src), f"{ws}:/tmp/fresh"))
    assert listing("/tmp/fresh") == ["./sub", "./sub/f.txt", "./top.txt"]
    # a file to an existing folder goes inside it; to a new path it takes that name
    ok(cp(nexus_env, str(src / "top.txt"), f"{ws}:/tmp/dst/sub"))
    ok(cp(nexus_env, str(src / "top.txt"), f"{ws}:/tmp/renamed.txt"))
    shown = ok(
        nexus_env.run("workspace", "exec", ws, "--", "cat /tmp/dst/sub/top.txt /tmp/renamed.txt")
    )
    assert shown.stdout == "top\ntop\n"
    # a relative workspace path starts at its folder (the project, mounted from this machine)
    ok(cp(nexus_env, str(src / "top.txt"), f"{ws}:copied.txt"))
    assert (nexus_env.project / "copied.txt").read_text() == "top\n"
    # a folder onto a file is refused
    failed(cp(nexus_env, str(src), f"{ws}:/tmp/file"), "INVALID_ARGUMENT", 2)

    # the same rules on the way back
    into = local / "into"
    into.mkdir()
    ok(cp(nexus_env, f"{ws}:/tmp/fresh", str(into)))
    assert (into / "fresh" / "sub" / "f.txt").read_text() == "f\n"
    ok(cp(nexus_env, f"{ws}:/tmp/fresh/.", str(into)))
    assert (into / "top.txt").read_text() == "top\n"
    ok(cp(nexus_env, f"{ws}:/tmp/renamed.txt", str(into / "named.txt")))
    assert (into / "named.txt").read_text() == "top\n"
    failed(cp(nexus_env, f"{ws}:/tmp/fresh", str(into / "named.txt")), "INVALID_ARGUMENT", 2)


def evil_archive(*members: tuple[str, str, str]) -> bytes:
    """A tar stream of (type, name, link target or content)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data.encode()))
                continue
            info.type = tarfile.DIRTYPE if kind == "dir" else tarfile.SYMTYPE
            info.mode = 0o755
            info.linkname = data
            tar.addfile(info)
    return out.getvalue()


def test_a_hostile_workspace_cannot_write_outside_the_destination(
    nexus_env: NexusEnv, ws: str, local: Path
) -> None:
    """The workspace's `tar` is replaced by one that sends crafted archives; the copy fails and
    nothing appears outside the destination on this machine."""
    outside = local / "outside"
    outside.mkdir()
    absolute = Path("/tmp") / f"nexus-cp-escape-{uuid.uuid4().hex}"
    archives = [
        [("dir", "x", ""), ("file", "x/../../outside/escape", "pwned")],
        [("dir", "x", ""), ("file", "../escape", "pwned")],
        [("dir", "x", ""), ("file", str(absolute), "pwned")],
        [("dir", "x", ""), ("sym", "x/link", str(outside)), ("file", "x/link/escape", "pwned")],
        [("dir", "x", ""), ("sym", "x/up", "../.."), ("file", "x/up/outside/escape", "pwned")],
    ]
    install = (
        "mkdir -p /tmp/x && "
        "sudo sh -c 'printf \"#!/bin/sh\\nexec cat /tmp/evil.tar\\n\" > /usr/local/bin/tar' && "
        "sudo chmod 755 /usr/local/bin/tar"
    )
    ok(nexus_env.run("workspace", "exec", ws, "--", install))
    for members in archives:
        payload = base64.b64encode(evil_archive(*members)).decode()
        ok(nexus_env.run("workspace", "exec", ws, "--", "base64 -d > /tmp/evil.tar", input=payload))
        dest = local / "dest"
        result = cp(nexus_env, f"{ws}:/tmp/x", str(dest))
        error = failed(result, "SYNC_FAILED", 6)
        assert "unsafe archive" in error["message"]
        assert list(outside.iterdir()) == []
        assert sorted(p.name for p in local.iterdir()) == ["dest", "outside"]
        assert not absolute.exists()
        assert not (local.parent / "escape").exists()


def test_bad_input_gets_stable_codes(nexus_env: NexusEnv, ws: str, local: Path) -> None:
    (local / "f.txt").write_text("f")
    failed(cp(nexus_env, f"{ws}:/tmp", f"{ws}:/tmp/y"), "INVALID_ARGUMENT", 2)
    failed(cp(nexus_env, str(local / "f.txt"), str(local / "g.txt")), "INVALID_ARGUMENT", 2)
    failed(cp(nexus_env, str(local / "nope"), f"{ws}:/tmp"), "SOURCE_NOT_FOUND", 2)
    missing = failed(cp(nexus_env, f"{ws}:/tmp/nope", str(local)), "SOURCE_NOT_FOUND", 2)
    assert f"{ws}:/tmp/nope" in missing["message"]
    failed(cp(nexus_env, str(local / "f.txt"), f"{ws}:/no/such/dir/f"), "INVALID_ARGUMENT", 2)
    failed(cp(nexus_env, str(local / "f.txt"), "ghost:/tmp"), "WORKSPACE_NOT_FOUND", 3)
    human = nexus_env.run("workspace", "cp", str(local / "nope"), f"{ws}:/tmp")
    assert human.returncode == 2 and "SOURCE_NOT_FOUND" in human.stderr
    assert "Traceback" not in human.stderr

    ok(nexus_env.run("workspace", "stop", ws))
    failed(cp(nexus_env, str(local / "f.txt"), f"{ws}:/tmp"), "WORKSPACE_NOT_RUNNING", 7)
