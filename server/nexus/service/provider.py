"""Running an escape hatch: find the operation, check its params, the workspace's backend and the
capability, run it, and fall back to the common path when the backend's API cannot serve it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import BackendType, WorkspaceStatus
from ..domain.progress import NullProgress, Progress
from ..domain.provider import (
    EscapeHatchUnavailable,
    OperationSpec,
    OpResult,
    TransferStats,
)
from .backends import operations

if TYPE_CHECKING:
    from ..domain.models import SSHConnection, Workspace
    from .workspaces import WorkspaceService

log = logging.getLogger(__name__)


def find_operation(operation_id: str) -> OperationSpec:
    """The operation ``<backend>.<group>.<action>``, or INVALID_ARGUMENT naming the known ones."""
    backend_name = operation_id.split(".", 1)[0]
    try:
        backend = BackendType(backend_name)
    except ValueError:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown backend '{backend_name}' in operation '{operation_id}'",
            f"Operations start with one of: {', '.join(b.value for b in BackendType)}.",
        ) from None
    known = operations(backend)
    if operation_id not in known:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown operation '{operation_id}'",
            f"The {backend.value} operations are: {', '.join(known) or 'none'}.",
        )
    return known[operation_id]


def describe_operations(backend: BackendType | None = None) -> list[dict[str, Any]]:
    """Every operation with its capability and params schema (for editors building a UI)."""
    return [
        {
            "operation": spec.id,
            "backend": spec.backend.value,
            "group": spec.group,
            "action": spec.action,
            "summary": spec.summary,
            "capability": spec.capability,
            "takesWorkspace": spec.workspace,
            "hasFallback": spec.fallback is not None,
            "params": spec.params.model_json_schema(by_alias=True),
        }
        for spec in operations(backend).values()
    ]


def capability_label(capability: str) -> str:
    """``supports_web_previews`` -> ``web previews``."""
    return capability.removeprefix("supports_").replace("_", " ")


@dataclass
class _Context:
    """The ``OpContext`` operations get (see nexus.domain.provider)."""

    service: WorkspaceService
    workspace: Workspace | None
    backend: Any
    progress: Progress

    def records(self) -> Any:
        return self.service.ctx.store

    def workspaces(self) -> list[Workspace]:
        return list(self.service.ctx.store.list())

    def refresh_ssh_files(self) -> None:
        self.service.ssh_files.refresh()

    async def close_shared_connection(self) -> None:
        if self.workspace is not None:
            await self.service.close_shared_connection(self.workspace)

    def _name(self) -> str:
        if self.workspace is None:
            raise NexusError(ErrorCode.INTERNAL_ERROR, "this operation has no workspace")
        return self.workspace.name

    async def connection(self) -> SSHConnection:
        _, conn = await self.service.running_connection(self._name())
        return conn

    async def exec(
        self, argv: list[str], *, stdin: bytes | None = None
    ) -> tuple[int, bytes, bytes]:
        out: list[bytes] = []
        err: list[bytes] = []
        reader: asyncio.StreamReader | None = None
        if stdin is not None:
            reader = asyncio.StreamReader()
            reader.feed_data(stdin)
            reader.feed_eof()
        code = await self.service.exec(
            self._name(), argv, stdout=out.append, stderr=err.append, stdin=reader
        )
        return code, b"".join(out), b"".join(err)

    async def upload(self, local: Path | str, remote: str) -> TransferStats:
        from ..access import transfer

        return await transfer.upload(await self.connection(), local, remote, progress=self.progress)

    async def download(self, remote: str, local: Path | str) -> TransferStats:
        from ..access import transfer

        return await transfer.download(
            await self.connection(), remote, local, progress=self.progress
        )


class ProviderService:
    """``nexus workspace provider …`` and ``nexus/provider/execute`` over one call."""

    def __init__(self, service: WorkspaceService) -> None:
        self.service = service

    async def execute(
        self,
        operation_id: str,
        workspace_name: str | None,
        params: dict[str, Any] | None = None,
        *,
        progress: Progress | None = None,
        allow_fallback: bool = True,
    ) -> OpResult:
        from pydantic import ValidationError

        spec = find_operation(operation_id)
        progress = progress or NullProgress()
        try:
            parsed = spec.params.model_validate(params or {})
        except ValidationError as exc:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"bad parameters for {spec.id}: {_validation_summary(exc)}",
                f"Its parameters: {', '.join(spec.params.model_fields) or 'none'}.",
            ) from None
        workspace = self._workspace_for(spec, workspace_name)
        backend = self.service.ctx.backends.get(spec.backend)
        capabilities = backend.get_capabilities()
        if not getattr(capabilities, spec.capability, False):
            raise NexusError(
                ErrorCode.CAPABILITY_NOT_SUPPORTED,
                f"the {spec.backend.value} backend does not support "
                f"{capability_label(spec.capability)} in this setup",
                "See what it supports with `nexus workspace info NAME`; the common path "
                "(exec, ssh, cp) works on every backend.",
            )
        context = _Context(self.service, workspace, backend, progress)
        try:
            result: OpResult = await backend.execute_provider_specific(context, spec, parsed)
            return result
        except EscapeHatchUnavailable as exc:
            if spec.fallback is None or not allow_fallback:
                raise NexusError(
                    backend.facts.unavailable_code,
                    f"{spec.id} failed: {exc.reason}",
                    f"Retry later, or allow the fallback to {spec.fallback_label}."
                    if spec.fallback is not None
                    else "Retry later.",
                    options=("no_fallback",) if spec.fallback is not None else (),
                ) from None
            note = f"{spec.id}: {exc.reason}; used {spec.fallback_label} instead"
            progress.warn(note)
            log.info("%s", note)
            result = await spec.fallback(context, parsed)
            result.fallback = note
            result.data = {**result.data, "fallback": note}
            return result

    def _workspace_for(self, spec: OperationSpec, name: str | None) -> Workspace | None:
        if not spec.workspace:
            if name is not None:
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{spec.id} takes no workspace",
                    "Leave the workspace out.",
                )
            return None
        if not name:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"{spec.id} needs a workspace",
                "Name the workspace the operation applies to.",
            )
        workspace = self.service.get(name)
        if workspace.backend is not spec.backend:
            raise NexusError(
                ErrorCode.CAPABILITY_NOT_SUPPORTED,
                f"workspace '{name}' is on the {workspace.backend.value} backend; "
                f"{spec.id} applies to {spec.backend.value} workspaces only",
                f"Use a {spec.backend.value} workspace; the {workspace.backend.value} "
                f"operations are: {', '.join(operations(workspace.backend)) or 'none'}.",
            )
        if workspace.status is WorkspaceStatus.DELETING:
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"workspace '{name}' is being deleted",
                "Wait for the delete to finish.",
            )
        return workspace


def _validation_summary(exc: Any) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "params"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)
