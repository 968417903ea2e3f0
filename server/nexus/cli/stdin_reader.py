"""Forwarding local stdin to a remote command, when stdin is a pipe or a file (not a terminal)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


def stdin_is_data() -> bool:
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def stdin_stream() -> asyncio.StreamReader:
    """An asyncio reader fed by a daemon thread (works for pipes and regular files alike)."""
    import asyncio

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    fd = sys.stdin.fileno()

    def pump() -> None:
        try:
            while chunk := os.read(fd, 65536):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
        except (OSError, RuntimeError):  # RuntimeError: the command already ended (loop closed)
            pass
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(reader.feed_eof)

    threading.Thread(target=pump, name="nexus-stdin", daemon=True).start()
    return reader
