"""The File API download places files by a listing the workspace produces, so a forged listing
must never name a place outside the destination on this machine."""

from __future__ import annotations

import pytest

from nexus.backends.daytona.ops.files import _parse_listing
from nexus.domain.errors import ErrorCode, NexusError


def listing(*records: str) -> bytes:
    return b"".join(record.encode() + b"\0" for record in records)


def test_a_plain_tree_is_read() -> None:
    found = _parse_listing(
        listing(
            "E\td\t755\t4096\t\t./proj",
            "E\td\t700\t4096\t\t./proj/sub",
            "E\tf\t644\t5\t\t./proj/sub/a.txt",
            "E\tl\t777\t3\ta.txt\t./proj/sub/link",
            "0" * 64 + "  ./proj/sub/a.txt",
        ),
        "proj",
        "/home/daytona",
    )
    assert set(found) == {(), ("sub",), ("sub", "a.txt"), ("sub", "link")}
    assert found[("sub", "a.txt")].sha256 == "0" * 64


@pytest.mark.parametrize(
    "forged",
    [
        "E\tf\t644\t5\t\t./proj/../../../.bashrc",  # climbs out of the destination
        "E\tf\t644\t5\t\t/etc/passwd",  # absolute
        "E\tf\t644\t5\t\t./other/file",  # not under the copied folder
    ],
)
def test_a_path_outside_the_copy_refuses_it(forged: str) -> None:
    with pytest.raises(NexusError) as refused:
        _parse_listing(listing("E\td\t755\t4096\t\t./proj", forged), "proj", "/home/daytona")
    assert refused.value.code == ErrorCode.SYNC_FAILED


def test_a_file_under_a_symlink_or_an_unlisted_folder_refuses_the_copy() -> None:
    """A first copy may plant `a -> ~/.ssh`; a second one that lists `a/authorized_keys`
    without `a` as a folder would write through it."""
    for records in (
        (
            "E\td\t755\t4096\t\t./proj",
            "E\tl\t777\t6\t/root\t./proj/a",
            "E\tf\t600\t5\t\t./proj/a/k",
        ),
        ("E\td\t755\t4096\t\t./proj", "E\tf\t600\t5\t\t./proj/a/authorized_keys"),
    ):
        with pytest.raises(NexusError) as refused:
            _parse_listing(listing(*records), "proj", "/home/daytona")
        assert refused.value.code == ErrorCode.SYNC_FAILED
