"""Escape hatches (PRD §2.4, §4.2): backend-specific operations, each one small typed function.

An operation is registered with the capability flag it needs and a params model; the service
checks both before it runs (``nexus.service.provider``), the CLI (``nexus workspace provider``)
and the sidecar (``nexus/provider/execute``) are built from the same registry. This module
imports nothing heavy: the operations' modules import their SDKs inside the handlers, and are
loaded through ``nexus.service.backends.operations``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import ConfigDict

from .kinds import BackendType
from .models import Model

if TYPE_CHECKING:
    from .models import SSHConnection, Workspace
    from .progress import Progress


class OpParams(Model):
    """Base of every operation's params: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class NoParams(OpParams):
    pass


@dataclass(frozen=True)
class TransferStats:
    """What a copy moved: files (regular files), bytes (their sizes), and how."""

    files: int
    bytes: int
    method: str  # "tar-ssh", "sftp", "file-api"

    def to_json_dict(self) -> dict[str, Any]:
        return {"files": self.files, "bytes": self.bytes, "method": self.method}


@dataclass
class OpResult:
    data: dict[str, Any]  # the --json payload and the sidecar result (camelCase keys)
    lines: list[str] = field(default_factory=list)  # what the CLI prints, one line each
    output: str | None = None  # a command's output: the CLI writes it as it is, after the lines
    # set by the service when the common path served the request instead of the escape hatch
    fallback: str | None = None


class EscapeHatchUnavailable(Exception):
    """Raised by a handler when the backend API it needs cannot serve the request (down, not
    answering, not available on this deployment) and the operation's fallback could."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OpContext(Protocol):
    """What an operation gets besides its params (implemented by ``nexus.service.provider``)."""

    workspace: Workspace | None  # None for an operation without a workspace argument
    backend: Any  # the backend instance (DockerBackend, DaytonaBackend)
    progress: Progress

    def records(self) -> Any:
        """The state store (get/update/update_metadata/list of workspace records)."""
        ...

    def workspaces(self) -> list[Workspace]:
        """Every recorded workspace."""
        ...

    def refresh_ssh_files(self) -> None:
        """Rewrite the generated ssh config and known_hosts from the records."""
        ...

    async def close_shared_connection(self) -> None:
        """End the workspace's shared OpenSSH connection (its endpoint or container changed)."""
        ...

    async def connection(self) -> SSHConnection:
        """The workspace's SSH endpoint, fresh credentials."""
        ...

    async def exec(
        self, argv: list[str], *, stdin: bytes | None = None
    ) -> tuple[int, bytes, bytes]:
        """Run ``argv`` in the workspace over SSH: (exit code, stdout, stderr)."""
        ...

    async def upload(self, local: Path | str, remote: str) -> TransferStats:
        """Copy a local file or folder into the workspace over SSH (tar); a string keeps a
        trailing ``/.`` (the folder's contents, ``docker cp`` style), which a Path drops."""
        ...

    async def download(self, remote: str, local: Path | str) -> TransferStats:
        """Copy a workspace file or folder to this machine over SSH (tar)."""
        ...


P = TypeVar("P", bound=OpParams)
Handler = Callable[[OpContext, Any], Awaitable[OpResult]]


@dataclass(frozen=True)
class OperationSpec:
    backend: BackendType
    group: str  # "snapshot"
    action: str  # "create"
    capability: str  # a BackendCapabilities field, e.g. "supports_snapshots"
    params: type[OpParams]
    summary: str  # one line for --help
    handler: Handler
    workspace: bool = True  # False: no workspace argument (docker image prune, network create)
    positional: tuple[str, ...] = ()  # params fields given as positional CLI arguments, in order
    fallback: Handler | None = (
        None  # the common path, run when the handler raises EscapeHatchUnavailable
    )
    fallback_label: str = ""  # what the fallback uses, e.g. "tar over SSH"

    @property
    def id(self) -> str:
        return f"{self.backend.value}.{self.group}.{self.action}"


_REGISTRY: dict[str, OperationSpec] = {}


def operation(
    backend: BackendType,
    group: str,
    action: str,
    *,
    capability: str,
    params: type[P],
    summary: str,
    workspace: bool = True,
    positional: tuple[str, ...] = (),
    fallback: Callable[[OpContext, P], Awaitable[OpResult]] | None = None,
    fallback_label: str = "",
) -> Callable[
    [Callable[[OpContext, P], Awaitable[OpResult]]], Callable[[OpContext, P], Awaitable[OpResult]]
]:
    """Register the decorated handler as ``<backend>.<group>.<action>``."""

    from .models import BackendCapabilities

    if capability not in BackendCapabilities.model_fields:  # a typo would read "unsupported"
        raise ValueError(f"{backend.value}.{group}.{action}: unknown capability {capability!r}")

    def register(
        handler: Callable[[OpContext, P], Awaitable[OpResult]],
    ) -> Callable[[OpContext, P], Awaitable[OpResult]]:
        spec = OperationSpec(
            backend=backend,
            group=group,
            action=action,
            capability=capability,
            params=params,
            summary=summary,
            handler=handler,
            workspace=workspace,
            positional=positional,
            fallback=fallback,
            fallback_label=fallback_label,
        )
        _REGISTRY[spec.id] = spec
        return handler

    return register


def registered(backend: BackendType | None = None) -> dict[str, OperationSpec]:
    """The operations registered so far (of ``backend``), by id, in registration order; the
    backends' operation modules are loaded by ``nexus.service.backends.operations``."""
    return {
        op_id: spec
        for op_id, spec in _REGISTRY.items()
        if backend is None or spec.backend is backend
    }
