"""The export format: what the writer writes, the reader reads back, and every kind of damaged
or hostile file the reader refuses (before anything is created)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from nexus.domain.errors import NexusError
from nexus.migration.manifest import FORMAT_VERSION, Manifest, parse, valid_branch
from nexus.migration.reader import check_worktree, read_export
from nexus.migration.writer import write_export

HEAD = "a" * 40


def _tar(entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for entry in entries:
            body = (data or {}).get(entry.name)
            if body is not None:
                entry.size = len(body)
            tar.addfile(entry, io.BytesIO(body) if body is not None else None)
    return buffer.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.linkname = link
    return entry


def _manifest(**change: object) -> Manifest:
    fields: dict[str, object] = {
        "source_name": "src",
        "source_backend": "docker",
        "tree": "b" * 40,
        "repo": True,
        "branch": "nexus/src",
        "head": HEAD,
        "resources": {"cpu": 1.5, "memory_gb": None, "disk_gb": None},
        "labels": {"team": "platform"},
        "env": {"MODE": "dev"},
    }
    fields.update(change)
    return Manifest(**fields)  # type: ignore[arg-type]


def _export(tmp_path: Path, manifest: Manifest | None = None) -> Path:
    manifest = manifest or _manifest()
    (tmp_path / "repo.bundle").write_bytes(b"# v2 git bundle\n" + b"x" * 5000)
    (tmp_path / "worktree.tar").write_bytes(
        _tar(
            [_entry("src/a.py"), _entry("link", tarfile.SYMTYPE, "src/a.py")], {"src/a.py": b"1\n"}
        )
    )
    files = [tmp_path / "repo.bundle", tmp_path / "worktree.tar"][
        2 - len(manifest.expected_members()) :
    ]
    path = tmp_path / "out.nexus"
    with path.open("wb") as out:
        write_export(out, manifest, files)
    return path


def _code(path: Path) -> str:
    with pytest.raises(NexusError) as caught:
        read_export(path)
    return caught.value.code


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def _rewrite(path: Path, members: dict[str, bytes]) -> Path:
    out = path.with_name("rewritten.nexus")
    out.write_bytes(_tar([_entry(name) for name in members], members))
    return out


def test_what_is_written_reads_back(tmp_path: Path) -> None:
    export = read_export(_export(tmp_path))
    manifest = export.manifest
    assert (manifest.branch, manifest.head, manifest.repo) == ("nexus/src", HEAD, True)
    assert manifest.labels == {"team": "platform"} and manifest.env == {"MODE": "dev"}
    assert [m.name for m in manifest.members] == ["repo.bundle", "worktree.tar"]
    assert b"".join(export.chunks("repo.bundle")) == (tmp_path / "repo.bundle").read_bytes()
    with tarfile.open(tmp_path / "out.nexus") as tar:
        assert tar.getnames()[0] == "manifest.json"


def test_a_folder_without_repository_has_no_bundle(tmp_path: Path) -> None:
    export = read_export(_export(tmp_path, _manifest(repo=False, branch=None, head=None)))
    assert [m.name for m in export.manifest.members] == ["worktree.tar"]


def test_a_newer_version_is_refused_with_its_own_code(tmp_path: Path) -> None:
    path = _export(tmp_path)
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    manifest.update({"version": FORMAT_VERSION + 1, "new_field": {"anything": 1}})
    members["manifest.json"] = json.dumps(manifest).encode()
    assert _code(_rewrite(path, members)) == "EXPORT_VERSION_UNSUPPORTED"


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "flipped", "extra", "missing", "order", "no-manifest", "huge"],
)
def test_damaged_files_are_refused(tmp_path: Path, damage: str) -> None:
    path = _export(tmp_path)
    members = _members(path)
    if damage == "garbage":
        path.write_bytes(b"\x00\x01garbage" * 1000)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:3000])
    elif damage == "flipped":
        data = bytearray(path.read_bytes())
        with tarfile.open(path) as tar:
            offset = tar.getmember("repo.bundle").offset_data
        data[offset + 100] ^= 0x40
        path.write_bytes(bytes(data))
    elif damage == "extra":
        path = _rewrite(path, {**members, "extra": b"x"})
    elif damage == "missing":
        path = _rewrite(path, {k: v for k, v in members.items() if k != "repo.bundle"})
    elif damage == "order":
        path = _rewrite(path, dict(reversed(list(members.items()))))
    elif damage == "no-manifest":
        path = _rewrite(path, {k: v for k, v in members.items() if k != "manifest.json"})
    elif damage == "huge":
        path = _rewrite(path, {**members, "manifest.json": b" " * (2 << 20)})
    assert _code(path) == "EXPORT_INVALID"


@pytest.mark.parametrize(
    "change",
    [
        {"format": "something-else"},
        {"version": "1"},
        {"tree": "not-a-tree"},
        {
            "source": {
                "name": "s",
                "backend": "docker",
                "repo": True,
                "branch": "a..b",
                "head": HEAD,
            }
        },
        {"source": {"name": "s", "backend": "docker", "repo": True, "branch": "-x", "head": HEAD}},
        {"source": {"name": "s", "backend": "podman", "repo": False, "branch": None, "head": None}},
        {
            "source": {
                "name": "s",
                "backend": "docker",
                "repo": False,
                "branch": "main",
                "head": None,
            }
        },
        {"env": {"1BAD": "x"}},
        {"labels": {"a=b": "x"}},
        {"resources": {"cpu": -1}},
        {"resources": {"gpu": 1}},
        {"members": [{"name": "worktree.tar", "size": 1, "sha256": "0" * 64}]},
    ],
)
def test_a_manifest_out_of_shape_is_refused(change: dict[str, object]) -> None:
    raw = _manifest().to_dict()
    raw["members"] = [
        {"name": "repo.bundle", "size": 1, "sha256": "0" * 64},
        {"name": "worktree.tar", "size": 1, "sha256": "0" * 64},
    ]
    raw.update(change)
    with pytest.raises(NexusError) as caught:
        parse(json.dumps(raw).encode())
    assert caught.value.code == "EXPORT_INVALID"


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("/etc/passwd")],
        [_entry("../outside")],
        [_entry("a/../../outside")],
        [_entry(".git/config")],
        [_entry("sub/.GIT/hooks/post-checkout")],
        [_entry("dev", tarfile.CHRTYPE)],
        [_entry("fifo", tarfile.FIFOTYPE)],
        [_entry("up", tarfile.SYMTYPE, "/etc"), _entry("up/passwd")],
        [_entry("hard", tarfile.LNKTYPE, "/etc/passwd")],
        [_entry("hard", tarfile.LNKTYPE, "not-in-the-archive")],
    ],
)
def test_unsafe_working_copy_entries_are_refused(entries: list[tarfile.TarInfo]) -> None:
    with pytest.raises(NexusError) as caught:
        check_worktree(io.BytesIO(_tar(entries)))
    assert caught.value.code == "EXPORT_INVALID"


def test_ordinary_working_copy_entries_pass() -> None:
    entries = [
        _entry("src/"),
        _entry("src/a.py"),
        _entry("src/link", tarfile.SYMTYPE, "../README.md"),
        _entry("src/same", tarfile.LNKTYPE, "src/a.py"),
        _entry(".gitignore"),
    ]
    entries[0].type = tarfile.DIRTYPE
    assert check_worktree(io.BytesIO(_tar(entries))) == 5


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("main", True),
        ("nexus/project-a", True),
        ("feature/x.y_z+1", True),
        ("a..b", False),
        ("-x", False),
        ("a/", False),
        ("/a", False),
        ("a.lock", False),
        ("a//b", False),
        ("a b", False),
        ("a@{b", False),
        ("a/.b", False),
    ],
)
def test_branch_names(name: str, valid: bool) -> None:
    assert valid_branch(name) is valid
