"""The path rules of `nexus workspace cp`: which side is the workspace, and where a copy lands
(the `docker cp` rules), as pure functions."""

from __future__ import annotations

import pytest

from nexus.access.transfer import local_path_text
from nexus.access.transfer_paths import (
    Kind,
    Placement,
    Source,
    member_target,
    place,
    source_of,
)
from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import Workspace
from nexus.service.transfer import Endpoint, parse_copy, parse_endpoint, remote_path


# ---- which side is remote -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ws:/tmp/x", Endpoint(path="/tmp/x", workspace="ws")),
        ("my-ws:src/a", Endpoint(path="src/a", workspace="my-ws")),
        ("ws:", Endpoint(path="", workspace="ws")),
        ("ws:a:b", Endpoint(path="a:b", workspace="ws")),
        ("./ws:x", Endpoint(path="./ws:x")),  # a '/' before the ':' -> local
        ("/abs/ws:x", Endpoint(path="/abs/ws:x")),
        ("Upper:x", Endpoint(path="Upper:x")),  # not a workspace name -> local
        ("-ws:x", Endpoint(path="-ws:x")),
        ("plain", Endpoint(path="plain")),
        ("C:\\dir", Endpoint(path="C:\\dir")),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    ("source", "dest"),
    [("ws:a", "other:b"), ("a", "b"), ("", "ws:x"), ("ws:x", "")],
)
def test_exactly_one_side_is_a_workspace(source: str, dest: str) -> None:
    with pytest.raises(NexusError) as caught:
        parse_copy(source, dest)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_parse_copy_directions() -> None:
    src, dst = parse_copy("./dist", "ws:/srv/app")
    assert (src.remote, dst.remote, dst.workspace) == (False, True, "ws")
    src, dst = parse_copy("ws:logs", ".")
    assert (src.remote, src.path, dst.path) == (True, "logs", ".")


def test_remote_paths_are_relative_to_the_workspace_folder() -> None:
    ws = Workspace(name="ws", backend="docker", status="running", remote_path="/workspace")
    assert remote_path(ws, "") == "/workspace"
    assert remote_path(ws, "src/a.py") == "/workspace/src/a.py"
    assert remote_path(ws, "out/") == "/workspace/out/"
    assert remote_path(ws, "out/.") == "/workspace/out/."
    assert remote_path(ws, "/etc/hosts") == "/etc/hosts"


def test_local_paths_keep_the_folder_suffixes() -> None:
    assert local_path_text("/a/b/.") == "/a/b/."
    assert local_path_text("/a/b/") == "/a/b/"
    assert local_path_text("/a/b") == "/a/b"
    assert local_path_text("/") == "/"
    assert local_path_text("/.") == "/."


# ---- the source ---------------------------------------------------------------------------------
def test_source_archives() -> None:
    assert source_of("/w/src", Kind.DIR) == Source(folder="/w", top="src", is_dir=True)
    assert source_of("/w/src/", Kind.DIR) == Source(folder="/w", top="src", is_dir=True)
    assert source_of("/w/src/.", Kind.DIR) == Source(folder="/w/src", top=".", is_dir=True)
    assert source_of("/w/f.txt", Kind.OTHER) == Source(folder="/w", top="f.txt", is_dir=False)
    assert source_of("/", Kind.DIR).contents_only


def test_missing_source() -> None:
    with pytest.raises(NexusError) as caught:
        source_of("/w/nope", Kind.MISSING)
    assert caught.value.code == ErrorCode.SOURCE_NOT_FOUND


@pytest.mark.parametrize("path", ["/w/f.txt/", "/w/f.txt/."])
def test_a_file_is_not_a_folder(path: str) -> None:
    with pytest.raises(NexusError) as caught:
        source_of(path, Kind.OTHER)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


# ---- where it lands (docker cp) ----------------------------------------------------------------
FOLDER = Source(folder="/w", top="src", is_dir=True)
CONTENTS = Source(folder="/w/src", top=".", is_dir=True)
FILE = Source(folder="/w", top="f.txt", is_dir=False)


@pytest.mark.parametrize(
    ("source", "dest", "kind", "expected"),
    [
        # a folder to an existing folder goes inside it
        (FOLDER, "/d", Kind.DIR, Placement("/d", "src")),
        (FOLDER, "/d/", Kind.DIR, Placement("/d", "src")),
        # ... its contents with src/.
        (CONTENTS, "/d", Kind.DIR, Placement("/d", None)),
        # a folder to a new path is created there with the folder's contents
        (FOLDER, "/d/new", Kind.MISSING, Placement("/d", "new")),
        (FOLDER, "/d/new/", Kind.MISSING, Placement("/d", "new")),
        (CONTENTS, "/d/new", Kind.MISSING, Placement("/d", "new")),
        # a file to an existing folder goes inside it
        (FILE, "/d", Kind.DIR, Placement("/d", "f.txt")),
        # a file to a file or a new path is written there
        (FILE, "/d/g.txt", Kind.OTHER, Placement("/d", "g.txt")),
        (FILE, "/d/g.txt", Kind.MISSING, Placement("/d", "g.txt")),
        (FILE, "/g.txt", Kind.MISSING, Placement("/", "g.txt")),
    ],
)
def test_place(source: Source, dest: str, kind: Kind, expected: Placement) -> None:
    assert place(source, dest, kind, parent_is_dir=True) == expected


def test_target() -> None:
    assert Placement("/d", "src").target == "/d/src"
    assert Placement("/d", None).target == "/d"


@pytest.mark.parametrize(
    ("source", "dest", "kind", "parent_is_dir"),
    [
        (FOLDER, "/d/file", Kind.OTHER, True),  # a folder onto a file
        (CONTENTS, "/d/file", Kind.OTHER, True),
        (FILE, "/d/new/", Kind.MISSING, True),  # a file into a folder that does not exist
        (FILE, "/nope/g.txt", Kind.MISSING, False),  # the parent must exist
        (FOLDER, "/nope/new", Kind.MISSING, False),
    ],
)
def test_place_refuses(source: Source, dest: str, kind: Kind, parent_is_dir: bool) -> None:
    with pytest.raises(NexusError) as caught:
        place(source, dest, kind, parent_is_dir)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


# ---- archive members -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "top", "expected"),
    [
        ("src", "src", ()),
        ("src/", "src", ()),
        ("src/a/b.txt", "src", ("a", "b.txt")),
        ("./src/a", "src", ("a",)),
        ("src//a/./b", "src", ("a", "b")),
        ("./", ".", ()),
        ("./a/b", ".", ("a", "b")),
        ("a", ".", ("a",)),
        # unsafe or foreign: refused
        ("other/a", "src", None),
        ("srcx/a", "src", None),
        ("/etc/passwd", "src", None),
        ("/src/a", "src", None),
        ("src/../escape", "src", None),
        ("../escape", ".", None),
        ("./a/../../b", ".", None),
        ("src/a/..", "src", None),
        ("", "src", None),
    ],
)
def test_member_target(name: str, top: str, expected: tuple[str, ...] | None) -> None:
    assert member_target(name, top) == expected


def test_the_summary_line() -> None:
    from nexus.domain.provider import TransferStats
    from nexus.service.transfer import CopyResult

    result = CopyResult(
        workspace="ws",
        upload=True,
        source="/home/me/dist",
        destination="ws:/srv/app",
        stats=TransferStats(files=1200, bytes=52_400_000, method="tar-ssh"),
    )
    assert result.summary() == "Copied 1200 files (52.4 MB) to ws:/srv/app via tar over SSH"
    assert result.to_json_dict() == {
        "workspace": "ws",
        "direction": "upload",
        "source": "/home/me/dist",
        "destination": "ws:/srv/app",
        "files": 1200,
        "bytes": 52_400_000,
        "method": "tar-ssh",
        "fallback": None,
    }
