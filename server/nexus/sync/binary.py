"""Finding the Mutagen a user installed, and checking that it can do Nexus's work.

Looked up in this order: the config key ``sync.mutagen_path`` (env ``NEXUS_MUTAGEN``), then
``mutagen`` on ``PATH``. Mutagen copies its agent into the workspace from
``mutagen-agents.tar.gz``, which it looks for beside its binary or in ``../libexec``: a binary
without the bundle could never connect, so that is checked here too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..domain.errors import ErrorCode, NexusError

# the oldest release whose CLI contract Nexus speaks (labels, selectors, JSON templates)
MINIMUM_VERSION = (0, 18, 0)
AGENTS_BUNDLE = "mutagen-agents.tar.gz"
INSTALL_HINT = (
    "Install Mutagen 0.18 or newer (https://mutagen.io/documentation/introduction/installation: "
    "its release archive or a package manager), then put it on PATH or name it with "
    "`nexus config set sync.mutagen_path /path/to/mutagen` (env NEXUS_MUTAGEN)."
)

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class MutagenBinary:
    path: Path
    version: str
    agents: Path


def _failed(message: str, resolution: str = INSTALL_HINT) -> NexusError:
    return NexusError(ErrorCode.SYNC_FAILED, message, resolution)


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def agents_bundle(binary: Path) -> Path | None:
    """Where Mutagen will find its agents: beside the binary or in ``../libexec``, from where
    the binary really is (Mutagen asks the kernel for its own path: a symlink is followed)."""
    folder = binary.resolve().parent
    for candidate in (folder / AGENTS_BUNDLE, folder.parent / "libexec" / AGENTS_BUNDLE):
        if candidate.is_file():
            return candidate
    return None


def locate(configured: str | None, source: str) -> Path:
    """The binary: ``configured`` (from ``source``, a config key or env var) or ``mutagen`` on PATH."""
    if configured:
        path = Path(configured).expanduser()
        if path.is_dir():
            path = path / "mutagen"
        if not path.is_file() or not os.access(path, os.X_OK):
            raise _failed(
                f"{source} names {configured}, which is not an executable Mutagen binary",
                f"Point {source} at the `mutagen` binary, or unset it to use the one on PATH. "
                + INSTALL_HINT,
            )
        return path
    found = shutil.which("mutagen")
    if found is None:
        raise _failed("Mutagen is not installed: no `mutagen` on PATH")
    return Path(found)


_checked: dict[tuple[str, int, int], MutagenBinary] = {}


def check(path: Path) -> MutagenBinary:
    """The binary's version and agents bundle, or SYNC_FAILED saying what is missing (a binary
    found good is not asked again while it stays the same file)."""
    try:
        info = path.stat()
    except OSError:
        info = None
    key = (str(path), info.st_mtime_ns, info.st_size) if info else None
    if key is not None and key in _checked and agents_bundle(path) is not None:
        return _checked[key]
    found = _check(path)
    if key is not None:
        _checked[key] = found
    return found


def _check(path: Path) -> MutagenBinary:
    try:
        done = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _failed(f"cannot run {path}: {exc}") from None
    version = done.stdout.strip()
    parsed = parse_version(version)
    if done.returncode != 0 or parsed is None:
        detail = (done.stderr or done.stdout).strip()[-300:]
        raise _failed(f"{path} does not answer like Mutagen (`mutagen version`: {detail!r})")
    if parsed < MINIMUM_VERSION:
        wanted = ".".join(map(str, MINIMUM_VERSION))
        raise _failed(f"Mutagen {version} at {path} is too old: Nexus needs {wanted} or newer")
    agents = agents_bundle(path)
    if agents is None:
        raise _failed(
            f"Mutagen's agents bundle ({AGENTS_BUNDLE}) is not beside {path}: Mutagen could not "
            "install its agent in a workspace",
            f"Install Mutagen whole: its release archive holds {AGENTS_BUNDLE}, which must stay "
            "in the same folder as the `mutagen` binary.",
        )
    return MutagenBinary(path=path, version=version, agents=agents)
