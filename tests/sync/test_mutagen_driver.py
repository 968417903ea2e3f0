"""The Mutagen driver against the real Mutagen, on this machine alone (a local-to-local session):
the daemon under a Nexus home too long for a Unix socket, and ignore patterns Mutagen would split."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from nexus.paths import NexusPaths
from nexus.service.sync import _csv_quoted
from nexus.sync.binary import check
from nexus.sync.daemon import MAX_SOCKET_PATH, MutagenDaemon
from nexus.sync.mutagen import WORKSPACE_LABEL, Mutagen, MutagenError
from tests.conftest import MUTAGEN_BIN


def test_a_long_home_a_brace_pattern_and_a_clean_end(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="nexus-driver-"))
    home = base / ("h" * 120)  # the socket path would not fit sun_path
    paths = NexusPaths(home)
    daemon = MutagenDaemon(paths, check(MUTAGEN_BIN))
    assert len(os.fsencode(daemon.data_dir / "daemon" / "daemon.sock")) > MAX_SOCKET_PATH
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    alpha.mkdir()
    (alpha / "keep.txt").write_text("kept\n")
    (alpha / "skip.js").write_text("ignored\n")
    (alpha / "skip.ts").write_text("ignored\n")
    mutagen = Mutagen(daemon)

    async def scenario() -> None:
        identifier = await mutagen.create(
            [
                "--label",
                f"{WORKSPACE_LABEL}=drv",
                "--no-global-configuration",
                f"--ignore={_csv_quoted('*.{js,ts}')}",
                str(alpha),
                str(beta),
            ],
            timeout=60,
        )
        await mutagen.control("flush", [identifier], timeout=60)
        (listed,) = await mutagen.list("drv")
        assert listed["identifier"] == identifier
        assert listed["ignore"]["paths"] == ["*.{js,ts}"]  # one pattern, not two halves
        assert (beta / "keep.txt").read_text() == "kept\n"
        assert not (beta / "skip.js").exists() and not (beta / "skip.ts").exists()
        assert await mutagen.list("other") == []
        try:
            await mutagen.control("pause", ["no-such-session"], timeout=30)
        except MutagenError as error:
            assert "did not match any sessions" in error.detail
        else:
            raise AssertionError("pausing an unknown session succeeded")
        await mutagen.control("terminate", [identifier], timeout=60)

    try:
        asyncio.run(scenario())
        assert daemon.data_path != daemon.data_dir and daemon.data_path.is_symlink()
        assert daemon.running()
        daemon.stop()
        assert not daemon.running()
        link = daemon.data_path
        daemon.remove_files()
        assert not (home / "sync").exists() and not link.exists()
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
