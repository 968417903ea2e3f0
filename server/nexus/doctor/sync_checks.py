"""Mutagen: the binary found and usable, and Nexus's own daemon up when it has sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..domain.errors import NexusError
from .model import Finding, error, ok, warning

if TYPE_CHECKING:
    from ..paths import NexusPaths
    from ..sync.binary import MutagenBinary

CHECK = "sync"
SOURCE = "sync.mutagen_path (env NEXUS_MUTAGEN)"


@dataclass(frozen=True)
class SyncCheck:
    findings: list[Finding]
    binary: MutagenBinary | None


def check_sync(paths: NexusPaths, mutagen_path: str | None, syncing: list[str]) -> SyncCheck:
    """Blocking. ``syncing``: the workspaces whose records say they sync."""
    from ..sync.binary import check, locate
    from ..sync.daemon import MutagenDaemon, sync_home

    has_sessions = sync_home(paths).exists()  # Nexus removes its daemon's files when idle
    try:
        binary = check(locate(mutagen_path, SOURCE))
    except NexusError as exc:
        needed = bool(syncing) or has_sessions
        make = error if needed else warning
        what = f" ({', '.join(syncing)} sync)" if syncing else ""
        return SyncCheck(
            [
                make(
                    "DOCTOR_MUTAGEN_MISSING",
                    f"{exc.message}: `nexus sync` and Daytona's `create --from` cannot work{what}",
                    exc.resolution,
                    check=CHECK,
                    subject=mutagen_path or "mutagen",
                )
            ],
            None,
        )
    found = [
        ok(
            "DOCTOR_MUTAGEN_OK",
            f"Mutagen {binary.version} at {binary.path}",
            check=CHECK,
            subject=str(binary.path),
        )
    ]
    if has_sessions:
        daemon = MutagenDaemon(paths, binary)
        if daemon.running():
            found.append(
                ok(
                    "DOCTOR_SYNC_DAEMON_OK",
                    f"Nexus's Mutagen daemon answers ({daemon.socket_path})",
                    check=CHECK,
                    subject="daemon",
                )
            )
        else:
            found.append(
                error(
                    "DOCTOR_SYNC_DAEMON_DOWN",
                    f"Nexus's Mutagen daemon has sessions ({daemon.data_dir}) but does not run: "
                    "nothing syncs",
                    "`nexus doctor --fix` starts it (its sessions resume)",
                    fixable=True,
                    check=CHECK,
                    subject="daemon",
                )
            )
    return SyncCheck(found, binary)


def restart_daemon(paths: NexusPaths, binary: MutagenBinary) -> None:
    from ..sync.daemon import MutagenDaemon

    MutagenDaemon(paths, binary).ensure_running()
