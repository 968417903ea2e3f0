"""What a workspace sends is extracted on this machine without trusting it: crafted archives
never write outside the destination, never through a symlink, never make devices or setuid."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from nexus.access.tar_extract import UnsafeArchive, extract_stream


def archive(*members: tuple[str, str, bytes | str | int]) -> io.BytesIO:
    """A tar stream of (type, name, data): "file" with bytes, "dir", "sym"/"hard" with a
    link name, "chr"/"fifo" with 0; a file's mode is 0o644 unless given as ("file:0o4755")."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            kind, _, mode = kind.partition(":")
            info.mode = int(mode, 8) if mode else 0o755 if kind == "dir" else 0o644
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if isinstance(data, str):
                info.linkname = data
            tar.addfile(info)
    out.seek(0)
    return out


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, Path]:
    """(base the copy lands in, a sibling folder that must stay untouched)."""
    base = tmp_path / "dest"
    outside = tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    return base, outside


def test_a_tree_arrives_exactly(place: tuple[Path, Path]) -> None:
    base, _ = place
    stream = archive(
        ("dir", "src", 0),
        ("dir:0o700", "src/private", 0),
        ("file:0o755", "src/run.sh", b"#!/bin/sh\necho hi\n"),
        ("file", "src/private/data.bin", bytes(range(256)) * 40),
        ("sym", "src/link", "run.sh"),
        ("sym", "src/abs", "/etc/passwd"),  # kept as a link, never followed
        ("hard", "src/again", "src/run.sh"),
    )
    files, size = extract_stream(stream, base, "copy", "src")
    root = base / "copy"
    assert tree(root) == {"private", "private/data.bin", "run.sh", "link", "abs", "again"}
    assert (root / "private" / "data.bin").read_bytes() == bytes(range(256)) * 40
    assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "private").stat().st_mode) == 0o700
    assert os.readlink(root / "link") == "run.sh"
    assert os.readlink(root / "abs") == "/etc/passwd"
    assert (root / "again").stat().st_ino == (root / "run.sh").stat().st_ino
    assert (files, size) == (3, len(b"#!/bin/sh\necho hi\n") + 256 * 40)


@pytest.mark.parametrize(
    "members",
    [
        [("file", "../escape", b"x")],
        [("dir", "src", 0), ("file", "src/../../outside/escape", b"x")],
        [("dir", "src", 0), ("file", "/tmp/nexus-abs-escape", b"x")],
        [("file", "other/escape", b"x")],  # not under the top the copy asked for
        # a link planted, then a write through it
        [("dir", "src", 0), ("sym", "src/link", "{outside}"), ("file", "src/link/escape", b"x")],
        [("dir", "src", 0), ("sym", "src/link", "../../outside"), ("dir", "src/link/d", 0)],
        # a hard link to a file outside
        [("dir", "src", 0), ("hard", "src/escape", "../outside/secret")],
    ],
)
def test_nothing_lands_outside(place: tuple[Path, Path], members: list) -> None:
    base, outside = place
    (outside / "secret").write_text("keep")
    members = [
        (k, n, d.format(outside=outside) if isinstance(d, str) else d) for k, n, d in members
    ]
    with pytest.raises(UnsafeArchive):
        extract_stream(archive(*members), base, "copy", "src")
    assert tree(outside) == {"secret"}
    assert (outside / "secret").read_text() == "keep"
    assert not Path("/tmp/nexus-abs-escape").exists()
    assert not (base.parent / "escape").exists()


def test_an_existing_symlink_in_the_destination_is_not_written_through(
    place: tuple[Path, Path],
) -> None:
    base, outside = place
    (base / "copy").mkdir()
    (base / "copy" / "sub").symlink_to(outside)
    stream = archive(("dir", "src", 0), ("file", "src/sub/escape", b"x"))
    with pytest.raises(UnsafeArchive):
        extract_stream(stream, base, "copy", "src")
    assert tree(outside) == set()


def test_a_file_member_replaces_a_symlink_instead_of_following_it(
    place: tuple[Path, Path],
) -> None:
    base, outside = place
    target = outside / "victim"
    target.write_text("keep")
    stream = archive(("dir", "src", 0), ("sym", "src/f", str(target)), ("file", "src/f", b"new"))
    extract_stream(stream, base, "copy", "src")
    assert target.read_text() == "keep"
    assert (base / "copy" / "f").read_bytes() == b"new"
    assert not (base / "copy" / "f").is_symlink()


def test_no_devices_no_setuid(place: tuple[Path, Path]) -> None:
    base, _ = place
    warnings: list[str] = []
    stream = archive(
        ("dir", "src", 0),
        ("file:0o4755", "src/suid", b"x"),
        ("file:0o2755", "src/sgid", b"x"),
        ("dir:0o1777", "src/sticky", 0),
        ("chr", "src/null", 0),
        ("fifo", "src/pipe", 0),
    )
    extract_stream(stream, base, "copy", "src", warn=warnings.append)
    root = base / "copy"
    assert stat.S_IMODE((root / "suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "sgid").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "sticky").stat().st_mode) == 0o777
    assert not (root / "null").exists() and not (root / "pipe").exists()
    assert len(warnings) == 2


def test_contents_merge_into_an_existing_folder(place: tuple[Path, Path]) -> None:
    base, _ = place
    base.chmod(0o750)
    (base / "kept.txt").write_text("mine")
    stream = archive(("dir:0o777", ".", 0), ("file", "./new.txt", b"n"), ("dir", "./d", 0))
    files, _ = extract_stream(stream, base, None, ".")
    assert tree(base) == {"kept.txt", "new.txt", "d"}
    assert stat.S_IMODE(base.stat().st_mode) == 0o750  # the user's folder keeps its mode
    assert files == 1


def test_a_read_only_folder_still_gets_its_files(place: tuple[Path, Path]) -> None:
    base, _ = place
    stream = archive(("dir:0o555", "src", 0), ("file", "src/f", b"data"))
    extract_stream(stream, base, "copy", "src")
    assert (base / "copy" / "f").read_bytes() == b"data"
    assert stat.S_IMODE((base / "copy").stat().st_mode) == 0o555
    (base / "copy").chmod(0o755)  # let the temp folder be removed


def test_a_stream_cut_mid_file_leaves_no_half_file(place: tuple[Path, Path]) -> None:
    base, _ = place
    whole = archive(("dir", "src", 0), ("file", "src/big", os.urandom(300_000))).getvalue()
    with pytest.raises(tarfile.TarError):
        extract_stream(io.BytesIO(whole[:200_000]), base, "copy", "src")
    assert tree(base) == {"copy"}


def test_a_deeply_nested_archive_is_extracted(place: tuple[Path, Path]) -> None:
    """Folders are checked in a loop: an archive nesting far deeper than Python's recursion
    limit is no crash (and each folder on the way is still checked)."""
    base, _ = place
    deep = "/".join(["d"] * 1200)
    leaf = base.joinpath(*deep.split("/"), "leaf")  # the archive's top folder is `base`
    try:
        files, _ = extract_stream(archive(("file", f"top/{deep}/leaf", b"x")), base, None, "top")
        assert files == 1
        assert leaf.read_bytes() == b"x"
    finally:  # removed here, bottom up: a recursive rmtree (pytest's cleanup) cannot
        leaf.unlink(missing_ok=True)
        folder = leaf.parent
        while folder != base:
            folder.rmdir()
            folder = folder.parent


def test_a_compressed_stream_is_refused(place: tuple[Path, Path]) -> None:
    """The workspace's tar never compresses; a compressed stream could expand without bound."""
    import gzip

    base, _ = place
    packed = io.BytesIO(gzip.compress(archive(("file", "top/a", b"a")).getvalue()))
    with pytest.raises((tarfile.TarError, UnsafeArchive)):
        extract_stream(packed, base, None, "top")
    assert not (base / "a").exists()


def test_a_copy_stops_before_the_disk_fills(
    place: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The free space is looked at as the files arrive: once the disk would keep too little,
    the copy stops with SYNC_FAILED and the file being written is not left half there."""
    from nexus import disk_space
    from nexus.domain.errors import ErrorCode, NexusError

    base, _ = place
    monkeypatch.setattr(disk_space, "CHECK_EVERY", 1)  # look before every chunk
    room = disk_space.DiskRoom(base, "copying src", floor=0)
    stream = archive(
        ("dir", "src", 0),
        ("file", "src/first.txt", b"fits\n"),
        ("file", "src/big.bin", b"x" * 4096),
    )

    def fill_up(files: int, size: int) -> None:  # after the first file, the disk is "full"
        room.floor = 1 << 62

    with pytest.raises(NexusError) as refused:
        extract_stream(stream, base, "copy", "src", room=room, on_file=fill_up)
    assert refused.value.code == ErrorCode.SYNC_FAILED
    assert "copying src stopped after 5 bytes" in refused.value.message
    assert tree(base / "copy") == {"first.txt"}
