"""`nexus sync …`: Mutagen sessions between a local folder and a workspace, that follow it.

One session per workspace, labelled with its name (``nexus-workspace=<name>``) in Nexus's own
Mutagen daemon (``nexus.sync.daemon``), and the per-workspace sync block (PRD §5.2) in the
workspace's record (``metadata["sync"]``: local folder, remote path, ignores, mode), from which a
lost session is made again. The workspace's lifecycle carries it: stop flushes and pauses it,
start resumes it, delete flushes and terminates it; when the last session goes, the daemon
stops and its files are removed.

Defaults are what burned Mutagen users (docs/sync.md): two-way-safe, conflicts left for the user
and shown, and version control never synced: ``.git`` stays on this machine (a workspace could
otherwise write git config or hooks that this machine's git runs).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import posixpath
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..asyncutil import run_blocking
from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import REMOTE_PATH, WorkspaceStatus
from ..domain.progress import NullProgress, Progress
from ..locking import async_file_lock, file_lock
from ..sync.mutagen import WORKSPACE_LABEL, Mutagen, MutagenError
from ..sync.sessions import SyncSession
from .backends import facts

if TYPE_CHECKING:
    from ..domain.models import Workspace
    from .workspaces import WorkspaceService

log = logging.getLogger(__name__)

SYNC_KEY = "sync"  # the workspace record's sync block
# always ignored, whatever the config says: version control stays on this machine. Mutagen's
# --ignore-vcs covers .git folders; a worktree's .git is a file, hence the pattern too.
VCS_IGNORES = (".git",)
MODES = ("two-way-safe", "two-way-resolved", "one-way-safe", "one-way-replica")
# a stop or delete waits this long for the last changes to arrive before it pauses/terminates
LAST_FLUSH_TIMEOUT = 60.0
CONTROL_TIMEOUT = 60.0


@dataclass(frozen=True)
class SyncBlock:
    """What a workspace syncs (PRD §5.2 ``sync``), kept in its record."""

    local: str
    remote: str
    ignore: tuple[str, ...] = ()
    mode: str = "two-way-safe"

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> SyncBlock:
        return cls(
            local=str(data["local"]),
            remote=str(data["remote"]),
            ignore=tuple(data.get("ignore") or ()),
            mode=str(data.get("mode") or "two-way-safe"),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "local": self.local,
            "remote": self.remote,
            "ignore": list(self.ignore),
            "mode": self.mode,
        }


@dataclass
class SyncReport:
    """A workspace's sync as ``nexus sync status`` shows it."""

    workspace: str
    block: SyncBlock | None
    sessions: list[SyncSession]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "configured": self.block is not None,
            "local": self.block.local if self.block else None,
            "remote": self.block.remote if self.block else None,
            "sessions": [s.to_json_dict() for s in self.sessions],
        }


def _no_sync(name: str) -> NexusError:
    return NexusError(
        ErrorCode.SYNC_NOT_FOUND,
        f"workspace '{name}' has no sync",
        f"Start one with `nexus sync start {name}` (a local folder and a path in the workspace).",
    )


def _csv_quoted(pattern: str) -> str:
    """Mutagen splits ``--ignore`` values on commas (CSV): quote a pattern that has one."""
    if "," not in pattern and '"' not in pattern:
        return pattern
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow([pattern])
    return out.getvalue()


class SyncService:
    def __init__(self, workspaces: WorkspaceService) -> None:
        self.workspaces = workspaces
        self.ctx = workspaces.ctx

    # ---- Mutagen -----------------------------------------------------------------------------
    @cached_property
    def mutagen(self) -> Mutagen:
        from ..sync.binary import check, locate
        from ..sync.daemon import MutagenDaemon

        configured = self.ctx.config.sync.mutagen_path
        binary = check(locate(configured, "sync.mutagen_path (env NEXUS_MUTAGEN)"))
        return Mutagen(MutagenDaemon(self.ctx.paths, binary))

    async def check_available(self) -> None:
        """SYNC_FAILED now if Mutagen is missing or unusable (before anything is made)."""
        await self._mutagen()

    async def _mutagen(self) -> Mutagen:
        """``mutagen``, found and checked in a thread (it runs `mutagen version` once)."""
        if "mutagen" not in self.__dict__:
            await run_blocking(lambda: self.mutagen)
        return self.mutagen

    async def _list(self, name: str | None = None) -> list[dict[str, Any]]:
        return await (await self._mutagen()).list(name)

    async def _control(self, action: str, identifiers: list[str], timeout: float) -> None:
        await (await self._mutagen()).control(action, identifiers, timeout)

    async def _create(self, args: list[str], timeout: float) -> str:
        return await (await self._mutagen()).create(args, timeout)

    def _daemon_files_exist(self) -> bool:
        from ..sync.daemon import sync_home

        return sync_home(self.ctx.paths).exists()

    async def sessions(self, name: str | None = None) -> list[SyncSession]:
        if not self._daemon_files_exist():  # no daemon ever started here: nothing syncs
            return []
        raw = await self._list(name)
        return [SyncSession.from_mutagen(data, WORKSPACE_LABEL) for data in raw]

    # ---- the block ---------------------------------------------------------------------------
    @staticmethod
    def block_of(workspace: Workspace) -> SyncBlock | None:
        data = workspace.metadata.get(SYNC_KEY)
        return SyncBlock.from_record(data) if data else None

    def _save_block(self, name: str, block: SyncBlock | None) -> None:
        def mutate(metadata: dict[str, Any]) -> None:
            if block is None:
                metadata.pop(SYNC_KEY, None)
            else:
                metadata[SYNC_KEY] = block.to_record()

        with contextlib.suppress(NexusError):  # the record went meanwhile (delete)
            self.workspaces._store.update_metadata(name, mutate)

    def _resolve_block(
        self,
        workspace: Workspace,
        local: Path | None,
        remote: str | None,
        ignore: tuple[str, ...],
        mode: str | None,
    ) -> SyncBlock:
        saved = self.block_of(workspace)
        name = workspace.name
        local_text = str(local) if local else (saved.local if saved else workspace.local_path)
        if not local_text:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"workspace '{name}' has no local folder to sync",
                "Name the local folder to sync.",
                options=("local",),
            )
        folder = Path(local_text).expanduser()
        if not folder.is_dir():
            raise NexusError(
                ErrorCode.SOURCE_NOT_FOUND,
                f"the local folder {folder} does not exist or is not a folder",
                "Name an existing folder to sync (or restore this one).",
                options=("local",),
            )
        folder = folder.resolve()
        mounts = facts(workspace.backend).mounts_local_folder
        remote_text = remote or (saved.remote if saved else None)
        if not remote_text:
            if mounts:
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"a {workspace.backend.value} workspace mounts its folder at {REMOTE_PATH}: "
                    "there is nothing to sync there",
                    "Name a path of the workspace outside the mounted folder to sync into, "
                    "e.g. /home/nexus/src (for an engine on another machine).",
                    options=("remote",),
                )
            remote_text = workspace.remote_path
        remote_text = remote_text.rstrip("/") or "/"
        if mounts and remote_text.startswith("/"):
            inside = posixpath.normpath(remote_text)
            if inside == REMOTE_PATH or inside.startswith(REMOTE_PATH + "/") or inside == "/":
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{remote_text} is inside the folder this workspace mounts from "
                    f"{workspace.local_path}: Mutagen would sync that folder into itself",
                    "Name a path of the workspace outside the mounted folder, e.g. /home/nexus/src.",
                    options=("remote",),
                )
        if any(c in remote_text for c in "\n\0"):
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "the remote path has a newline or NUL in it",
                "Name a plain path.",
                options=("remote",),
            )
        chosen_mode = mode or (saved.mode if saved else self.ctx.config.sync.mode)
        if chosen_mode not in MODES:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"unknown sync mode {chosen_mode!r}",
                f"Use one of: {', '.join(MODES)}.",
                options=("mode",),
            )
        extra = ignore or (saved.ignore if saved else ())
        return SyncBlock(
            local=str(folder), remote=remote_text, ignore=tuple(extra), mode=chosen_mode
        )

    def _create_args(self, workspace: Workspace, block: SyncBlock) -> list[str]:
        config = self.ctx.config.sync
        patterns = list(dict.fromkeys([*VCS_IGNORES, *config.ignore_patterns, *block.ignore]))
        args = [
            "--name",
            f"nexus-{workspace.name}",
            "--label",
            f"{WORKSPACE_LABEL}={workspace.name}",
            "--no-global-configuration",  # the user's ~/.mutagen.yml is theirs, not Nexus's
            "--mode",
            block.mode,
            "--ignore-vcs",
            "--symlink-mode",
            "portable",  # no absolute or escaping links onto this machine
            "--watch-polling-interval",
            str(config.watch_polling_interval),
        ]
        for pattern in patterns:
            args.append(f"--ignore={_csv_quoted(pattern)}")
        args += [block.local, f"{workspace.ssh_alias}:{block.remote}"]
        return args

    # ---- use cases ---------------------------------------------------------------------------
    async def start(
        self,
        name: str,
        *,
        local: Path | None = None,
        remote: str | None = None,
        ignore: tuple[str, ...] = (),
        mode: str | None = None,
        progress: Progress | None = None,
    ) -> SyncReport:
        """Sync ``local`` with ``remote`` in the workspace (by default what it synced before, or
        its own folder); returns once the first cycle has completed."""
        progress = progress or NullProgress()
        workspace, _ = await self.workspaces.running_connection(name)
        block = self._resolve_block(workspace, local, remote, ignore, mode)
        await self.check_available()
        await self.start_on(workspace, block, progress)
        return await self.report(name)

    async def start_on(
        self, workspace: Workspace, block: SyncBlock, progress: Progress, *, wait: bool = True
    ) -> None:
        """Make (or resume) the session of ``workspace``, a running one, and (``wait``) wait for
        its first cycle."""
        name = workspace.name
        async with async_file_lock(self.ctx.paths.lock("sync")):
            existing = await self.sessions(name)
            for session in existing:
                same = (session.local.path, session.remote.path) == (block.local, block.remote)
                if not same:
                    raise NexusError(
                        ErrorCode.INVALID_ARGUMENT,
                        f"workspace '{name}' already syncs {session.local.path} with "
                        f"{session.remote.path}",
                        f"Stop that sync first (`nexus sync stop {name}`), then start this one.",
                    )
            if existing:
                progress.step("sync", f"Resuming the sync of {block.local}")
                await self._resume(existing)
            else:
                progress.step("sync", f"Starting sync of {block.local} with {name}:{block.remote}")
                timeout = self.ctx.config.sync.timeout
                await self._create(self._create_args(workspace, block), timeout)
        self._save_block(name, block)
        if wait:
            progress.step("sync", "Waiting for the first sync cycle")
            await self._flush(name, self.ctx.config.sync.timeout)

    async def report(self, name: str) -> SyncReport:
        workspace = self.workspaces.get(name)
        block = self.block_of(workspace)
        if block is None and not self._daemon_files_exist():
            return SyncReport(name, None, [])
        return SyncReport(name, block, await self.sessions(name))

    async def status(self, name: str | None = None) -> list[SyncReport]:
        """Every workspace's sync (``name`` None: all workspaces that sync)."""
        if name is not None:
            return [await self.report(name)]
        by_workspace: dict[str, list[SyncSession]] = {}
        for session in await self.sessions():
            by_workspace.setdefault(session.workspace, []).append(session)
        reports = []
        for ws_name in sorted(set(by_workspace) | self._synced_names()):
            found = self.workspaces._store.find(ws_name)
            block = self.block_of(found) if found else None
            reports.append(SyncReport(ws_name, block, by_workspace.get(ws_name, [])))
        return reports

    def _synced_names(self) -> set[str]:
        return {ws.name for ws in self.workspaces._store.list() if ws.metadata.get(SYNC_KEY)}

    async def _existing(self, name: str) -> list[SyncSession]:
        self.workspaces.get(name)  # WORKSPACE_NOT_FOUND first
        found = await self.sessions(name)
        if not found:
            raise _no_sync(name)
        return found

    async def pause(self, name: str) -> SyncReport:
        sessions = await self._existing(name)
        await self._control("pause", [s.identifier for s in sessions], CONTROL_TIMEOUT)
        return await self.report(name)

    async def resume(self, name: str) -> SyncReport:
        sessions = await self._existing(name)
        await self.workspaces.running_connection(name)
        await self._resume(sessions)
        return await self.report(name)

    async def _resume(self, sessions: list[SyncSession]) -> None:
        for session in sessions:
            if not Path(session.local.path).is_dir():
                raise NexusError(
                    ErrorCode.SOURCE_NOT_FOUND,
                    f"the local folder {session.local.path} of this sync is gone",
                    "Restore the folder, or stop the sync (`nexus sync stop WS`) and start one "
                    "with another folder.",
                )
        paused = [s.identifier for s in sessions if s.paused or s.state != "watching"]
        await self._control("resume", paused, CONTROL_TIMEOUT)

    async def flush(self, name: str) -> SyncReport:
        sessions = await self._existing(name)
        await self.workspaces.running_connection(name)
        if any(s.paused for s in sessions):
            raise NexusError(
                ErrorCode.SYNC_FAILED,
                f"the sync of '{name}' is paused",
                f"Resume it first (`nexus sync resume {name}`).",
            )
        await self._flush(name, self.ctx.config.sync.timeout)
        return await self.report(name)

    async def _flush(self, name: str, timeout: float) -> None:
        sessions = await self.sessions(name)
        try:
            await self._control("flush", [s.identifier for s in sessions], timeout)
        except MutagenError as exc:
            raise self._explain(name, exc) from None

    def _explain(self, name: str, error: MutagenError) -> NexusError:
        if "not currently able to synchronize" in error.detail:
            return NexusError(
                ErrorCode.SYNC_FAILED,
                f"the sync of '{name}' cannot run a cycle now ({error.detail})",
                f"Look at `nexus sync status {name}`: a halted sync needs the deleted or emptied "
                "folder back, a disconnected one a running workspace.",
            )
        return error

    async def stop(self, name: str) -> SyncReport:
        """Terminate the workspace's sync and forget its block (files stay on both sides)."""
        workspace = self.workspaces.get(name)
        if self.block_of(workspace) is None and not await self.sessions(name):
            raise _no_sync(name)
        # the block goes first: a sidecar restarting a dead daemon for the workspaces that keep
        # one must not bring back the daemon this stops (a failed terminate is retried by the
        # next `sync stop`, which finds the session by its label)
        self._save_block(name, None)
        await self._terminate(name)
        return SyncReport(name, None, [])

    async def _terminate(self, name: str) -> None:
        async with async_file_lock(self.ctx.paths.lock("sync")):
            sessions = await self.sessions(name)
            ids = [s.identifier for s in sessions]
            await self._control("terminate", ids, CONTROL_TIMEOUT)
            await run_blocking(self._remove_session_files, ids)
            if not await self._list():
                await run_blocking(self._stop_daemon)

    def _remove_session_files(self, identifiers: list[str]) -> None:
        """Mutagen leaves a terminated session's caches and staging behind: remove them."""
        data = self.mutagen.daemon.data_dir
        for identifier in identifiers:
            for folder in ("caches", "staging"):
                for leftover in (data / folder).glob(f"{identifier}*"):
                    if leftover.is_dir() and not leftover.is_symlink():
                        shutil.rmtree(leftover, ignore_errors=True)
                    else:
                        leftover.unlink(missing_ok=True)

    def _stop_daemon(self) -> None:
        """Stop the idle daemon and remove its files, under the lock a start takes (another
        process never starts a daemon in a folder being removed)."""
        daemon = self.mutagen.daemon
        with file_lock(self.ctx.paths.lock("mutagen-daemon")):
            daemon.stop()
            daemon.remove_files()

    # ---- the workspace's lifecycle -------------------------------------------------------------
    def _follows(self, workspace: Workspace) -> bool:
        return bool(workspace.metadata.get(SYNC_KEY))

    async def before_stop(self, workspace: Workspace, progress: Progress) -> None:
        """Bring the last changes over, then pause (a stopped workspace cannot sync)."""
        if not self._follows(workspace):
            return
        try:
            sessions = await self.sessions(workspace.name)
            if any(not s.paused for s in sessions):
                progress.step("sync", "Syncing the last changes, then pausing the sync")
                with contextlib.suppress(NexusError):
                    await self._flush(workspace.name, LAST_FLUSH_TIMEOUT)
            ids = [s.identifier for s in sessions]
            await self._control("pause", ids, CONTROL_TIMEOUT)
        except NexusError as exc:
            progress.warn(f"could not pause the sync of '{workspace.name}': {exc.message}")

    async def after_start(self, workspace: Workspace, progress: Progress) -> None:
        """Resume the workspace's sync (or make it again from its block, if it was lost); its
        cycles go on in the background (`workspace start` does not wait for them)."""
        block = self.block_of(workspace)
        if block is None:
            return
        try:
            if not Path(block.local).is_dir():
                progress.warn(
                    f"the sync of '{workspace.name}' stays paused: its local folder {block.local} "
                    f"is gone (restore it, or `nexus sync stop {workspace.name}`)"
                )
                return
            await self.start_on(workspace, block, progress, wait=False)
        except NexusError as exc:
            progress.warn(f"could not resume the sync of '{workspace.name}': {exc.message}")

    async def last_flush(self, workspace: Workspace, progress: Progress) -> None:
        """Bring the workspace's last changes over before it goes (a running, unpaused sync
        only; best effort: a delete goes on without it)."""
        if not self._follows(workspace) or workspace.status is not WorkspaceStatus.RUNNING:
            return
        try:
            sessions = await self.sessions(workspace.name)
            if any(not s.paused for s in sessions):
                progress.step("sync", "Syncing the last changes before the workspace goes")
                await self._flush(workspace.name, LAST_FLUSH_TIMEOUT)
        except NexusError as exc:
            progress.warn(f"could not sync the last changes of '{workspace.name}': {exc.message}")

    async def before_delete(self, workspace: Workspace, progress: Progress) -> None:
        """Terminate the workspace's sync (files stay on both sides); never blocks a delete."""
        if not self._follows(workspace) and not self._daemon_files_exist():
            return
        self._save_block(workspace.name, None)  # first: see stop()
        try:
            sessions = await self.sessions(workspace.name)
            if not sessions:
                if self._follows(workspace) and not await self._list():
                    await run_blocking(self._stop_daemon)
                return
            progress.step("sync", "Terminating the sync")
            await self._terminate(workspace.name)
        except NexusError as exc:
            progress.warn(f"could not terminate the sync of '{workspace.name}': {exc.message}")
