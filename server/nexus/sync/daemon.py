"""Nexus's own Mutagen daemon: its data under ``NEXUS_HOME/sync``, never the user's ``~/.mutagen``.

Mutagen's daemon runs ssh itself, with the environment it was started with (not that of a later
CLI call). So Nexus starts it explicitly, with ``MUTAGEN_SSH_PATH`` naming a folder of two small
wrappers that run the system ``ssh``/``scp`` with ``-F`` and Nexus's generated ssh config: the
pinned host keys, Daytona's token (renewed by the config's ``Match exec``) and nothing from the
user's ``~/.ssh/config`` or agent. Every CLI call then runs with autostart off, so a daemon that
died is started again here, with that environment, and its sessions resume from disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..domain.errors import ErrorCode, NexusError
from ..fsutil import write_if_changed
from ..locking import file_lock
from ..paths import NexusPaths, ensure_dir
from .binary import MutagenBinary

# a Unix socket path longer than this does not fit sun_path (mutagen-io/mutagen#433)
MAX_SOCKET_PATH = 100
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def sync_home(paths: NexusPaths) -> Path:
    """Everything sync keeps: the daemon's data and the ssh wrappers (removed when idle)."""
    return paths.home / "sync"


class MutagenDaemon:
    def __init__(self, paths: NexusPaths, binary: MutagenBinary) -> None:
        self.paths = paths
        self.binary = binary
        self.home = sync_home(paths)
        self.data_dir = self.home / "mutagen"
        self.ssh_bin = self.home / "bin"

    # ---- where things are --------------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        """The MUTAGEN_DATA_DIRECTORY handed to Mutagen: the data folder itself, or a short link
        to it when its socket path would not fit a Unix socket address."""
        socket_path = self.data_dir / "daemon" / "daemon.sock"
        if len(os.fsencode(socket_path)) <= MAX_SOCKET_PATH:
            return self.data_dir
        return self._short_link()

    def _short_link(self) -> Path:
        folder = Path(tempfile.gettempdir()) / f"nexus-{os.getuid()}"
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        info = folder.lstat()
        if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise NexusError(
                ErrorCode.SYNC_FAILED,
                f"{folder} is not a private folder of this user: Nexus will not keep the link "
                "to its Mutagen data there",
                f"Remove {folder}, or give Nexus a shorter NEXUS_HOME.",
            )
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:16]
        link = folder / f"mutagen-{digest}"
        if not (link.is_symlink() and Path(os.readlink(link)) == self.data_dir):
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.data_dir)
        return link

    @property
    def socket_path(self) -> Path:
        return self.data_path / "daemon" / "daemon.sock"

    # ---- environment -------------------------------------------------------------------------
    def _write_ssh_wrappers(self) -> None:
        ensure_dir(self.ssh_bin)
        for tool in ("ssh", "scp"):
            found = shutil.which(tool)
            if found is None:
                raise NexusError(
                    ErrorCode.SYNC_FAILED,
                    f"the OpenSSH client has no `{tool}` on PATH: Mutagen reaches workspaces with it",
                    "Install the OpenSSH client (Debian: apt-get install openssh-client).",
                )
            text = (
                "#!/bin/sh\n"
                "# Mutagen's ssh to Nexus workspaces: Nexus's own ssh config only.\n"
                f'exec {shlex.quote(found)} -F {shlex.quote(str(self.paths.ssh_config))} "$@"\n'
            )
            write_if_changed(self.ssh_bin / tool, text, mode=0o700)

    def environment(self, *, for_daemon: bool = False) -> dict[str, str]:
        env = dict(os.environ)
        # the daemon's ssh uses Nexus's key only, never the user's agent
        env.pop("SSH_AUTH_SOCK", None)
        env.pop("MUTAGEN_DISABLE_AUTOSTART", None)
        env.update(
            MUTAGEN_DATA_DIRECTORY=str(self.data_path),
            MUTAGEN_SSH_PATH=str(self.ssh_bin),
            NEXUS_HOME=str(self.paths.home),  # the ssh config's token renewal runs nexus
        )
        if not for_daemon:
            env["MUTAGEN_DISABLE_AUTOSTART"] = "1"
        return env

    # ---- running -----------------------------------------------------------------------------
    def running(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                probe.connect(os.fsencode(self.socket_path))
            except OSError:
                return False
        return True

    def ensure_running(self) -> None:
        """Start the daemon unless it answers (blocking; a few ms when it is up)."""
        if self.running():
            return
        with file_lock(self.paths.lock("mutagen-daemon")):
            if self.running():
                return
            ensure_dir(self.home)
            ensure_dir(self.data_dir)
            self._write_ssh_wrappers()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()  # left by a daemon that was killed
            try:
                done = subprocess.run(
                    [str(self.binary.path), "daemon", "start"],
                    env=self.environment(for_daemon=True),
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=START_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise self._not_started(str(exc)) from None
            if done.returncode != 0:
                raise self._not_started((done.stderr or done.stdout).strip())
            deadline = time.monotonic() + START_TIMEOUT
            while not self.running():
                if time.monotonic() > deadline:
                    raise self._not_started("its socket did not come up")
                time.sleep(0.05)

    def _not_started(self, detail: str) -> NexusError:
        return NexusError(
            ErrorCode.SYNC_FAILED,
            f"Nexus's Mutagen daemon did not start: {detail[-500:]}",
            f"Check that `{self.binary.path} version` runs, and look at {self.data_dir}; "
            "then run the command again.",
        )

    def stop(self) -> None:
        """Stop the daemon (if it runs) and wait until it has let go of its socket."""
        if not self.running():
            return
        subprocess.run(
            [str(self.binary.path), "daemon", "stop"],
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STOP_TIMEOUT,
            check=False,
        )
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        # the lock goes last: wait for it too, so nothing writes into a folder being removed
        lock = self.data_dir / "daemon" / "daemon.lock"
        while _locked(lock) and time.monotonic() < deadline:
            time.sleep(0.05)

    def remove_files(self) -> None:
        """Remove everything sync kept (the daemon must be stopped)."""
        shutil.rmtree(self.home, ignore_errors=True)
        if self.data_path != self.data_dir:
            with contextlib.suppress(FileNotFoundError):
                self.data_path.unlink()


def _locked(lock: Path) -> bool:
    """Whether a process holds the daemon's lock file (Mutagen uses fcntl locks)."""
    import fcntl

    try:
        handle = open(lock, "a")  # noqa: SIM115 - closed below, whatever happens
    except OSError:
        return False
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        handle.close()
    return False
