"""`nexus workspace cp`: copy files between this machine and a workspace, on every backend.

The common path is tar over the workspace's SSH endpoint. On Daytona, a copy of more files than
``backends.daytona.sync.use_file_api_threshold`` (env ``NEXUS_SYNC_THRESHOLD``) goes through the
File API escape hatch instead, which falls back to tar over SSH when the API cannot serve it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..access.transfer_paths import inside
from ..asyncutil import run_blocking
from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import REMOTE_PATH
from ..domain.provider import TransferStats
from .backends import facts

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..domain.models import SSHConnection, Workspace
    from ..domain.progress import Progress
    from .workspaces import WorkspaceService

METHOD_LABELS = {
    "tar-ssh": "tar over SSH",
    "sftp": "SFTP",
    "file-api": "the Daytona File API",
}


# `<workspace>:<path>`: a workspace name (a DNS label) before the first ':'
_REMOTE = re.compile(r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Endpoint:
    """One side of a copy: ``workspace`` None is this machine."""

    path: str
    workspace: str | None = None

    @property
    def remote(self) -> bool:
        return self.workspace is not None

    def display(self) -> str:
        return f"{self.workspace}:{self.path}" if self.workspace else self.path


def parse_endpoint(text: str) -> Endpoint:
    """``ws:path`` is a workspace path (``ws:`` alone is its project folder); anything else,
    including a path with a ``/`` before its first ``:``, is local (``./a:b`` for a local
    ``a:b``)."""
    match = _REMOTE.match(text)
    if match:
        return Endpoint(path=match.group(2), workspace=match.group(1))
    return Endpoint(path=text)


def parse_copy(source: str, dest: str) -> tuple[Endpoint, Endpoint]:
    """Exactly one side must be in a workspace (as ``docker cp`` and ``scp``)."""
    if not source or not dest:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            "the source and the destination must not be empty",
            "Copy with `nexus workspace cp SRC WS:DEST` or `nexus workspace cp WS:SRC DEST`.",
        )
    src, dst = parse_endpoint(source), parse_endpoint(dest)
    if src.remote and dst.remote:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"both {source!r} and {dest!r} are workspace paths; one side must be this machine",
            "Copy through a local folder, or use `nexus workspace exec` to copy inside one "
            "workspace.",
        )
    if not src.remote and not dst.remote:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"neither {source!r} nor {dest!r} is a workspace path",
            "Name the workspace side as WS:PATH (a local path with ':' in it: ./name:x).",
        )
    return src, dst


def remote_path(workspace: Workspace, path: str) -> str:
    """Absolute in the workspace: a relative path starts at its project folder. A trailing
    ``/`` or ``/.`` is kept (they choose ``docker cp``'s folder rules)."""
    base = workspace.remote_path or REMOTE_PATH
    if not path:
        return base
    return path if path.startswith("/") else posixpath.join(base, path)


@dataclass
class CopyResult:
    workspace: str
    upload: bool  # this machine -> workspace
    source: str  # as shown: a local path, or ws:/abs/path
    destination: str
    stats: TransferStats
    fallback: str | None = None  # why the escape hatch did not serve it, when it did not

    @property
    def via(self) -> str:
        return METHOD_LABELS.get(self.stats.method, self.stats.method)

    def summary(self) -> str:
        size = self.stats.bytes / 1e6
        files = f"{self.stats.files} file{'' if self.stats.files == 1 else 's'}"
        return f"Copied {files} ({size:.1f} MB) to {self.destination} via {self.via}"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "direction": "upload" if self.upload else "download",
            "source": self.source,
            "destination": self.destination,
            **self.stats.to_json_dict(),
            "fallback": self.fallback,
        }


class TransferService:
    def __init__(self, service: WorkspaceService) -> None:
        self.service = service

    async def copy(
        self,
        source: str,
        dest: str,
        *,
        progress: Progress | None = None,
        allow_fallback: bool = True,
    ) -> CopyResult:
        from ..access import transfer
        from ..access.transfer_paths import Kind

        src, dst = parse_copy(source, dest)
        upload = dst.remote
        remote_side, local_side = (dst, src) if upload else (src, dst)
        name = remote_side.workspace
        assert name is not None
        local = transfer.local_path_text(local_side.path)
        if upload and transfer.local_kind(local.rstrip("/") or "/", follow=False) is Kind.MISSING:
            raise NexusError(
                ErrorCode.SOURCE_NOT_FOUND,
                f"{source} does not exist",
                "Check the path on this machine.",
            )
        workspace, conn = await self.service.running_connection(name)
        remote = remote_path(workspace, remote_side.path)
        shown_remote = f"{name}:{remote}"
        result = CopyResult(
            workspace=name,
            upload=upload,
            source=local if upload else shown_remote,
            destination=shown_remote if upload else local,
            stats=TransferStats(0, 0, transfer.TAR_METHOD),
        )
        if progress is not None:
            progress.step("copy", f"Copying {result.source} to {result.destination}")
        try:
            operation = await self._bulk_copy(workspace, conn, upload, local, remote)
            if operation is not None:
                result.stats, result.fallback = await self._file_api(
                    workspace, operation, local, remote, progress, allow_fallback
                )
                return result

            async def tar(conn: SSHConnection) -> TransferStats:
                if upload:
                    return await transfer.upload(conn, local, remote, progress=progress)
                return await transfer.download(conn, remote, local, progress=progress)

            result.stats = await self._renewing(workspace, conn, tar)
        except NexusError as error:
            if error.code == ErrorCode.SOURCE_NOT_FOUND and not upload:
                raise NexusError(
                    ErrorCode.SOURCE_NOT_FOUND,
                    f"{shown_remote} does not exist in the workspace",
                    "Check the path; a relative path starts at the workspace's folder "
                    f"({workspace.remote_path}).",
                ) from None
            raise
        return result

    async def _renewing(
        self,
        workspace: Workspace,
        conn: SSHConnection,
        work: Callable[[SSHConnection], Awaitable[TransferStats]],
    ) -> TransferStats:
        """Run ``work``; a token the gateway refused (revoked early) is renewed once. It is
        refused at login, before any byte moved, so running it again is safe."""
        try:
            return await work(conn)
        except NexusError as error:
            if error.code != ErrorCode.SSH_AUTH_REJECTED or conn.key_auth:
                raise
        return await work(await self.service.connection(workspace, renew=True))

    # ---- a backend's bulk copy (the Daytona File API) --------------------------------------------
    async def _bulk_copy(
        self, workspace: Workspace, conn: SSHConnection, upload: bool, local: str, remote: str
    ) -> str | None:
        """The escape hatch that copies faster than tar, when the backend has one
        (``BackendFacts.bulk_copy``) and there are more files than its threshold, for paths in
        the workspace folder (where that API works; tar over SSH reaches every path)."""
        from ..access import transfer

        backend_facts = facts(workspace.backend)
        if backend_facts.bulk_copy is None:
            return None
        if not inside(remote, workspace.remote_path or REMOTE_PATH):
            return None
        threshold = _setting(self.service.ctx.config, backend_facts.bulk_copy_threshold)
        if upload:
            count = await run_blocking(transfer.count_local_files, local)
        else:
            count = await transfer.count_remote_files(conn, remote.rstrip("/") or "/")
        if count <= threshold:
            return None
        return backend_facts.bulk_copy[0 if upload else 1]

    async def _file_api(
        self,
        workspace: Workspace,
        operation: str,
        local: str,
        remote: str,
        progress: Progress | None,
        allow_fallback: bool,
    ) -> tuple[TransferStats, str | None]:
        """The one call into the bulk copy operation, through the provider framework
        (capability check, fallback to tar over SSH)."""
        from .provider import ProviderService

        params = {"local_path": local, "remote_path": remote}
        outcome = await ProviderService(self.service).execute(
            operation, workspace.name, params, progress=progress, allow_fallback=allow_fallback
        )
        data = outcome.data
        stats = TransferStats(
            files=int(data.get("files", 0)),
            bytes=int(data.get("bytes", 0)),
            method=str(data.get("method", "file-api")),
        )
        return stats, outcome.fallback


def _setting(config: Any, key: str) -> int:
    """A numeric config setting by its dotted key (a backend fact names it)."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return int(value)
