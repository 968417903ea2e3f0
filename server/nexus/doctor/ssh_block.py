"""The Nexus block in ``~/.ssh/config``: what state it is in, and its repair.

Pure functions over the file's bytes. A repair removes only Nexus's own lines (its two markers,
the ``Include`` of Nexus's config next to them, and what a balanced pair encloses) and writes the
block again at the top, where ``access.user_ssh_config`` puts it: every other byte of the file
is kept as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..access.user_ssh_config import (
    BEGIN_MARKER,
    END_MARKER,
    include_line,
    render_block,
    split_lines,
    with_block,
)

_BEGIN = BEGIN_MARKER.encode()
_END = END_MARKER.encode()


class BlockState(StrEnum):
    ABSENT = "absent"  # no marker at all
    INTACT = "intact"  # one balanced pair holding exactly Nexus's Include
    EDITED = "edited"  # one balanced pair, but what it holds is not what Nexus writes
    BROKEN = "broken"  # a marker missing, duplicated or out of order


@dataclass(frozen=True)
class BlockReport:
    state: BlockState
    detail: str = ""
    begin_line: int | None = None  # 1-based, when there is one block
    # the first line of the user's (1-based, text) before the block that is not an Include:
    # OpenSSH takes the first value it reads, so that line may override Nexus's hosts
    before: tuple[int, str] | None = None


def _keyword(line: bytes) -> str:
    stripped = line.strip()
    if not stripped or stripped.startswith(b"#"):
        return ""
    words = stripped.replace(b"=", b" ").split(None, 1)
    return words[0].decode("latin-1").lower() if words else "="


def _is_nexus_include(line: bytes, nexus_config: Path) -> bool:
    return line.strip() == os.fsencode(include_line(nexus_config))


def _markers(lines: list[bytes]) -> tuple[list[int], list[int]]:
    begins = [i for i, line in enumerate(lines) if line.strip() == _BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == _END]
    return begins, ends


def inspect(data: bytes, nexus_config: Path) -> BlockReport:
    lines = split_lines(data)
    begins, ends = _markers(lines)
    if not begins and not ends:
        return BlockReport(BlockState.ABSENT)
    if len(begins) > 1 or len(ends) > 1:
        return BlockReport(BlockState.BROKEN, "its markers are duplicated")
    if len(begins) != len(ends):
        missing = "end" if begins else "begin"
        return BlockReport(BlockState.BROKEN, f"its {missing} marker is missing")
    begin, end = begins[0], ends[0]
    if end < begin:
        return BlockReport(BlockState.BROKEN, "its end marker comes before its begin marker")
    before = None
    for i, line in enumerate(lines[:begin]):
        if _keyword(line) not in ("", "include"):
            before = (i + 1, line.decode("utf-8", errors="backslashreplace").strip())
            break
    inner = [line.strip() for line in lines[begin + 1 : end]]
    wanted = [os.fsencode(include_line(nexus_config))]
    if inner != wanted:
        return BlockReport(
            BlockState.EDITED,
            "the lines between its markers are not the Include Nexus writes",
            begin + 1,
            before,
        )
    return BlockReport(BlockState.INTACT, "", begin + 1, before)


def _nexus_lines(lines: list[bytes], nexus_config: Path) -> set[int]:
    """Indexes of Nexus's own lines: the markers, and the Nexus Include (or a blank line) between
    a balanced pair or right beside a lone marker. Anything else a user wrote between the
    markers is theirs: a repair keeps it, outside the block."""
    begins, ends = _markers(lines)
    markers = sorted([(i, "begin") for i in begins] + [(i, "end") for i in ends])
    owned: set[int] = set()
    k = 0
    while k < len(markers):
        index, kind = markers[k]
        following = markers[k + 1] if k + 1 < len(markers) else None
        if kind == "begin" and following is not None and following[1] == "end":
            owned.update((index, following[0]))
            owned.update(
                i
                for i in range(index + 1, following[0])
                if not lines[i].strip() or _is_nexus_include(lines[i], nexus_config)
            )
            k += 2
            continue
        owned.add(index)
        neighbour = index + 1 if kind == "begin" else index - 1
        if 0 <= neighbour < len(lines) and _is_nexus_include(lines[neighbour], nexus_config):
            owned.add(neighbour)
        k += 1
    return owned


def repaired(data: bytes, nexus_config: Path) -> bytes:
    """``data`` with exactly one intact Nexus block, first (after a leading run of Includes);
    the user's own lines are kept byte for byte, in their order."""
    lines = split_lines(data)
    owned = _nexus_lines(lines, nexus_config)
    kept = b"".join(line for i, line in enumerate(lines) if i not in owned)
    return with_block(kept, nexus_config, Path("~/.ssh/config"))


def user_lines(data: bytes, nexus_config: Path) -> list[bytes]:
    """The lines that are not Nexus's (what a repair must keep byte-identical)."""
    lines = split_lines(data)
    owned = _nexus_lines(lines, nexus_config)
    return [line for i, line in enumerate(lines) if i not in owned]


__all__ = ["BlockReport", "BlockState", "inspect", "render_block", "repaired", "user_lines"]
