"""What a workspace sends is written to this machine's disk, but never until the disk is full:
a workspace runs untrusted code, and an endless export must not take the host down with it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from ..domain.errors import ErrorCode, NexusError

MIN_FREE_BYTES = 1 << 30  # at least 1 GiB stays free …
MIN_FREE_SHARE = 20  # … and at least 1/20 (5 %) of the disk
CHECK_EVERY = 16 << 20  # bytes written between two looks at the free space


def free_floor(total: int) -> int:
    return max(MIN_FREE_BYTES, total // MIN_FREE_SHARE)


class DiskGuard:
    """Writes to ``handle`` (a file in ``folder``); refuses with SYNC_FAILED once the disk
    would keep less than ``free_floor`` free. ``floor`` overrides the floor (in bytes)."""

    def __init__(self, handle: BinaryIO, folder: Path, what: str, floor: int | None = None) -> None:
        self._handle = handle
        self._folder = folder
        self._what = what
        self.floor = floor
        self._unchecked = 0
        self.written = 0
        self.check()

    def check(self) -> None:
        usage = shutil.disk_usage(self._folder)
        floor = self.floor if self.floor is not None else free_floor(usage.total)
        if usage.free < floor:
            raise NexusError(
                ErrorCode.SYNC_FAILED,
                f"{self._what} stopped after {self.written} bytes: the disk of {self._folder} "
                f"would keep less than {floor >> 20} MiB free",
                "Free some disk space, or look at what the workspace is sending (an export "
                "holds its branch and its working copy, ignored files left out).",
            )

    def write(self, chunk: bytes) -> None:
        self._unchecked += len(chunk)
        if self._unchecked >= CHECK_EVERY:
            self._unchecked = 0
            self.check()
        self._handle.write(chunk)
        self.written += len(chunk)
