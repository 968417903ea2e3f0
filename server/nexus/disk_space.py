"""What a workspace sends is written to this machine's disk, but never until the disk is full:
a workspace runs untrusted code, and an endless export or copy must not take the host down."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from .domain.errors import ErrorCode, NexusError

MIN_FREE_BYTES = 1 << 30  # at least 1 GiB stays free …
MIN_FREE_SHARE = 20  # … and at least 1/20 (5 %) of the disk
CHECK_EVERY = 16 << 20  # bytes written between two looks at the free space


def free_floor(total: int) -> int:
    return max(MIN_FREE_BYTES, total // MIN_FREE_SHARE)


class DiskRoom:
    """Counts what is written under ``folder`` for ``what``; refuses with SYNC_FAILED (at once,
    and then every ``CHECK_EVERY`` bytes) once the disk would keep less than ``free_floor``
    free. ``floor`` overrides that floor (in bytes)."""

    def __init__(self, folder: Path, what: str, floor: int | None = None) -> None:
        self.folder = folder
        self.what = what
        self.floor = floor
        self.written = 0
        self._unchecked = 0
        self.check()

    def check(self) -> None:
        usage = shutil.disk_usage(self.folder)
        floor = self.floor if self.floor is not None else free_floor(usage.total)
        if usage.free < floor:
            raise NexusError(
                ErrorCode.SYNC_FAILED,
                f"{self.what} stopped after {self.written} bytes: the disk of {self.folder} "
                f"would keep less than {floor >> 20} MiB free",
                "Free some disk space, or look at what the workspace is sending.",
            )

    def spend(self, size: int) -> None:
        """Before writing ``size`` more bytes."""
        self._unchecked += size
        if self._unchecked >= CHECK_EVERY:
            self._unchecked = 0
            self.check()
        self.written += size


class DiskGuard:
    """A file writer (``handle`` in ``folder``) that stops as ``DiskRoom`` says."""

    def __init__(self, handle: BinaryIO, folder: Path, what: str, floor: int | None = None) -> None:
        self._handle = handle
        self.room = DiskRoom(folder, what, floor)

    def write(self, chunk: bytes) -> None:
        self.room.spend(len(chunk))
        self._handle.write(chunk)
