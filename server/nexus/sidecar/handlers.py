"""One thin async adapter per ``nexus/*`` method: validate params, call the service, shape JSON.

No workspace logic lives here. Blocking work (file locks, the Docker SDK) runs in threads, inside
the service or via ``asyncio.to_thread``, so a slow create never delays a ``list``.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import ValidationError
from pygls.exceptions import JsonRpcException

from ..config.loader import mask_secrets
from ..domain.create_options import from_wire
from ..domain.errors import NexusError
from ..redact import redact
from . import protocol as p
from .errors import internal_error, invalid_params, params_not_object, request_failed
from .progress import work_done

if TYPE_CHECKING:
    from ..service.sync import SyncService
    from .server import NexusSidecar

log = logging.getLogger(__name__)

P = TypeVar("P", bound=p.Params)
Handler = Callable[["NexusSidecar", P], Awaitable[Any]]

MAX_RESULT_BYTES = 16 * 2**20  # per stream in an exec result; didOutput streams everything


def parse(method: str, params_type: type[P], raw: Any) -> P:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise params_not_object(method)
    try:
        return params_type.model_validate(raw)
    except ValidationError as exc:
        raise invalid_params(method, exc) from None


def adapter(
    method: str, params_type: type[P], fn: Handler[P], *, long: bool = False
) -> Callable[[NexusSidecar, Any], Awaitable[Any]]:
    """The pygls handler: typed params in, JSON out, errors mapped (docs/sidecar-protocol.md)."""

    async def handle(ls: NexusSidecar, raw: Any) -> Any:
        params = parse(method, params_type, raw)
        log.debug("%s %s", method, redact(repr(params)))
        try:
            if long:
                return await ls.track(lambda: fn(ls, params))
            return await fn(ls, params)
        except NexusError as exc:
            log.info("%s failed: %s", method, exc)
            raise request_failed(exc) from exc
        except (asyncio.CancelledError, JsonRpcException):
            raise
        except Exception as exc:
            log.exception("%s failed unexpectedly", method)
            raise internal_error(exc) from exc

    handle.__name__ = method.replace("/", "_")
    return handle


# ---- workspaces --------------------------------------------------------------------------------
async def list_workspaces(ls: NexusSidecar, params: p.ListParams) -> p.ListResult:
    workspaces = await ls.service.list(params.backend, refresh=params.refresh)
    return {"workspaces": [ws.public_dict() for ws in workspaces]}


async def get_workspace(ls: NexusSidecar, params: p.NameParams) -> p.JsonObject:
    return (await ls.service.info(params.name)).to_json_dict()


async def create_workspace(ls: NexusSidecar, params: p.CreateParams) -> p.JsonObject:
    options = from_wire(params.model_dump(by_alias=True))
    async with work_done(
        ls, params.work_done_token, f"Creating workspace {params.name}"
    ) as progress:
        workspace = await ls.service.create(options, progress)
    return workspace.public_dict()


async def start_workspace(ls: NexusSidecar, params: p.StartParams) -> p.JsonObject:
    async with work_done(
        ls, params.work_done_token, f"Starting workspace {params.name}"
    ) as progress:
        workspace = await ls.service.start(params.name, progress, over_budget=params.over_budget)
    return workspace.public_dict()


async def keep_running(ls: NexusSidecar, params: p.NameParams) -> p.JsonObject:
    from ..service.auto_stop import keep_running as keep

    workspace = await keep(ls.service, params.name)
    if ls.auto_stop_watcher is not None:
        ls.auto_stop_watcher.tracker.kept_running(workspace)
    return workspace.public_dict()


async def stop_workspace(ls: NexusSidecar, params: p.LifecycleParams) -> p.JsonObject:
    async with work_done(
        ls, params.work_done_token, f"Stopping workspace {params.name}"
    ) as progress:
        workspace = await ls.service.stop(params.name, progress)
    return workspace.public_dict()


async def delete_workspace(ls: NexusSidecar, params: p.DeleteParams) -> p.JsonObject | None:
    async with work_done(
        ls, params.work_done_token, f"Deleting workspace {params.name}"
    ) as progress:
        result = await ls.service.delete(
            params.name,
            progress,
            force=params.force,
            keep_branch=params.keep_branch,
            forget=params.forget,
        )
    # null as before; with `forget`, what Nexus could not remove (to show the user)
    return {"leftBehind": result.left_behind} if result.left_behind else None


class _Output:
    """Collects one output stream for the result and streams it as ``didOutput``."""

    def __init__(
        self,
        ls: NexusSidecar,
        stream: Literal["stdout", "stderr"],
        output_id: str | None,
        progress_detail: Callable[[str], None],
    ) -> None:
        self._ls = ls
        self._stream = stream
        self._output_id = output_id
        self._detail = progress_detail
        self._buffer = bytearray()
        self._truncated = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, chunk: bytes) -> None:
        room = MAX_RESULT_BYTES - len(self._buffer)
        if len(chunk) > room:
            self._truncated = True
        self._buffer.extend(chunk[: max(room, 0)])
        text = self._decoder.decode(chunk)
        if text and self._output_id is not None:
            notification: p.DidOutputParams = {
                "outputId": self._output_id,
                "stream": self._stream,
                "text": text,
            }
            self._ls.protocol.notify(p.WORKSPACE_DID_OUTPUT, notification)
        last_line = text.rstrip().rpartition("\n")[2].strip()
        if last_line:
            self._detail(last_line[:200])

    def text(self) -> str:
        text = self._buffer.decode(errors="replace")
        if self._truncated:
            text += f"\n[nexus: output truncated at {MAX_RESULT_BYTES} bytes]\n"
        return text


async def exec_command(ls: NexusSidecar, params: p.ExecParams) -> p.ExecResult:
    title = f"Running {shlex.join(params.command)} in {params.name}"
    async with work_done(ls, params.work_done_token, title) as progress:
        out = _Output(ls, "stdout", params.output_id, progress.detail)
        err = _Output(ls, "stderr", params.output_id, progress.detail)
        code = await ls.service.exec(
            params.name, params.command, stdout=out.write, stderr=err.write, workdir=params.workdir
        )
    return {"exitCode": code, "stdout": out.text(), "stderr": err.text()}


async def connection_info(ls: NexusSidecar, params: p.NameParams) -> p.JsonObject:
    return (await ls.service.connection_info(params.name)).to_json_dict()


async def open_workspace(ls: NexusSidecar, params: p.OpenParams) -> p.JsonObject:
    target = await ls.service.open_target(params.name, params.path, params.mode)
    return target.to_json_dict()


# ---- backends and config -----------------------------------------------------------------------
async def backend_capabilities(ls: NexusSidecar, params: p.CapabilitiesParams) -> p.JsonObject:
    return ls.service.ctx.backends.capabilities(params.backend).to_json_dict()


async def provider_execute(ls: NexusSidecar, params: p.ProviderExecuteParams) -> p.JsonObject:
    from ..service.provider import ProviderService

    title = f"{params.operation} {params.workspace or ''}".strip()
    async with work_done(ls, params.work_done_token, title) as progress:
        result = await ProviderService(ls.service).execute(
            params.operation,
            params.workspace,
            params.params,
            progress=progress,
            allow_fallback=not params.no_fallback,
        )
    return {"operation": params.operation, "result": result.data, "fallback": result.fallback}


async def provider_operations(ls: NexusSidecar, params: p.ProviderOperationsParams) -> p.JsonObject:
    from ..service.provider import describe_operations

    return {"operations": describe_operations(params.backend)}


async def config_get(ls: NexusSidecar, params: p.ConfigGetParams) -> p.ConfigGetResult:
    manager = ls.service.ctx.config_manager
    if params.key is None:
        config = await asyncio.to_thread(manager.load)
        return {"key": None, "value": mask_secrets(config.model_dump(mode="json"), "")}
    return {"key": params.key, "value": await asyncio.to_thread(manager.get, params.key)}


async def config_set(ls: NexusSidecar, params: p.ConfigSetParams) -> p.ConfigSetResult:
    manager = ls.service.ctx.config_manager
    value = await asyncio.to_thread(manager.set, params.key, params.value)
    return {"key": params.key, "value": value}


# ---- sync -------------------------------------------------------------------------------------
async def _sync_of(ls: NexusSidecar) -> SyncService:
    """The service's sync (it checks its Mutagen in a thread, when it first needs it)."""
    return ls.service.sync_service()


def _sync_method(fn: Handler[P]) -> Handler[P]:
    """Pokes the sync watcher once the request is done, so the client hears of it at once."""

    async def handle(ls: NexusSidecar, params: P) -> Any:
        try:
            return await fn(ls, params)
        finally:
            if ls.sync_watcher is not None:
                ls.sync_watcher.poke()

    return handle


async def sync_start(ls: NexusSidecar, params: p.SyncStartParams) -> p.JsonObject:
    sync = await _sync_of(ls)
    title = f"Starting the sync of {params.workspace}"
    async with work_done(ls, params.work_done_token, title) as progress:
        report = await sync.start(
            params.workspace,
            local=Path(params.local) if params.local else None,
            remote=params.remote,
            ignore=tuple(params.ignore),
            mode=params.mode,
            progress=progress,
        )
    return report.to_json_dict()


async def sync_pause(ls: NexusSidecar, params: p.SyncParams) -> p.JsonObject:
    return (await (await _sync_of(ls)).pause(params.workspace)).to_json_dict()


async def sync_resume(ls: NexusSidecar, params: p.SyncParams) -> p.JsonObject:
    return (await (await _sync_of(ls)).resume(params.workspace)).to_json_dict()


async def sync_flush(ls: NexusSidecar, params: p.SyncParams) -> p.JsonObject:
    sync = await _sync_of(ls)
    title = f"Syncing {params.workspace}"
    async with work_done(ls, params.work_done_token, title):
        report = await sync.flush(params.workspace)
    return report.to_json_dict()


async def sync_stop(ls: NexusSidecar, params: p.SyncParams) -> p.JsonObject:
    sync = await _sync_of(ls)
    title = f"Stopping the sync of {params.workspace}"
    async with work_done(ls, params.work_done_token, title):
        report = await sync.stop(params.workspace)
    return report.to_json_dict()


async def sync_status(ls: NexusSidecar, params: p.SyncStatusParams) -> p.SyncStatusResult:
    reports = await (await _sync_of(ls)).status(params.workspace)
    return {"workspaces": [report.to_json_dict() for report in reports]}


# ---- previews ---------------------------------------------------------------------------------
async def preview_open(ls: NexusSidecar, params: p.PreviewParams) -> p.JsonObject:
    """A background preview of the port (the one already serving it, if any): it outlives this
    sidecar, and ends with `nexus/preview/close` or the workspace's stop or delete."""
    from ..service.preview import PreviewService

    title = f"Opening a preview of port {params.port} of {params.workspace}"
    async with work_done(ls, params.work_done_token, title):
        record, started = await PreviewService(ls.service).start_background(
            params.workspace, params.port, local_port=params.local_port
        )
    return {"localUrl": record.url, "started": started, "preview": record.to_json_dict()}


async def preview_close(ls: NexusSidecar, params: p.PreviewCloseParams) -> p.JsonObject:
    from ..service.preview import PreviewService

    record = await PreviewService(ls.service).stop(params.workspace, params.port)
    return {"closed": True, "preview": record.to_json_dict()}


async def preview_list(ls: NexusSidecar, params: p.PreviewListParams) -> p.JsonObject:
    from ..service.preview import PreviewService

    records = await asyncio.to_thread(PreviewService(ls.service).list)
    return {
        "previews": [
            r.to_json_dict()
            for r in records
            if params.workspace is None or r.workspace == params.workspace
        ]
    }


# ---- living with workspaces ---------------------------------------------------------------------
async def usage(ls: NexusSidecar, params: p.UsageParams) -> p.JsonObject:
    from ..service.usage import usage_report

    report = await usage_report(ls.service, params.since, workspace=params.workspace)
    return report.to_json_dict()


async def doctor(ls: NexusSidecar, params: p.DoctorParams) -> p.JsonObject:
    from ..service.doctor import run_doctor

    report = await run_doctor(ls.service.ctx, fix=params.fix, offline=params.offline)
    return report.to_json_dict()


async def migrate_workspace(ls: NexusSidecar, params: p.MigrateParams) -> p.JsonObject:
    from ..service.migration import migrate_workspace as migrate

    async with work_done(
        ls, params.work_done_token, f"Migrating workspace {params.name}"
    ) as progress:
        result = await migrate(
            ls.service,
            params.name,
            params.to_backend,
            new_name=params.new_name,
            keep_source=params.keep_source,
            progress=progress,
        )
    return result.to_json_dict()


METHODS: list[tuple[str, type[p.Params], Handler[Any], bool]] = [
    (p.WORKSPACE_LIST, p.ListParams, list_workspaces, False),
    (p.WORKSPACE_GET, p.NameParams, get_workspace, False),
    (p.WORKSPACE_CREATE, p.CreateParams, create_workspace, True),
    (p.WORKSPACE_START, p.StartParams, start_workspace, True),
    (p.WORKSPACE_STOP, p.LifecycleParams, stop_workspace, True),
    (p.WORKSPACE_KEEP_RUNNING, p.NameParams, keep_running, False),
    (p.WORKSPACE_DELETE, p.DeleteParams, delete_workspace, True),
    (p.WORKSPACE_EXEC, p.ExecParams, exec_command, True),
    (p.WORKSPACE_CONNECTION_INFO, p.NameParams, connection_info, False),
    (p.WORKSPACE_OPEN, p.OpenParams, open_workspace, False),
    (p.BACKEND_CAPABILITIES, p.CapabilitiesParams, backend_capabilities, False),
    (p.PROVIDER_EXECUTE, p.ProviderExecuteParams, provider_execute, True),
    (p.PROVIDER_OPERATIONS, p.ProviderOperationsParams, provider_operations, False),
    (p.CONFIG_GET, p.ConfigGetParams, config_get, False),
    (p.CONFIG_SET, p.ConfigSetParams, config_set, False),
    (p.SYNC_START, p.SyncStartParams, _sync_method(sync_start), True),
    (p.SYNC_PAUSE, p.SyncParams, _sync_method(sync_pause), False),
    (p.SYNC_RESUME, p.SyncParams, _sync_method(sync_resume), False),
    (p.SYNC_FLUSH, p.SyncParams, _sync_method(sync_flush), True),
    (p.SYNC_STOP, p.SyncParams, _sync_method(sync_stop), True),
    (p.SYNC_STATUS, p.SyncStatusParams, sync_status, False),
    (p.PREVIEW_OPEN, p.PreviewParams, preview_open, True),
    (p.PREVIEW_CLOSE, p.PreviewCloseParams, preview_close, False),
    (p.PREVIEW_LIST, p.PreviewListParams, preview_list, False),
    (p.WORKSPACE_MIGRATE, p.MigrateParams, migrate_workspace, True),
    (p.USAGE, p.UsageParams, usage, False),
    (p.DOCTOR, p.DoctorParams, doctor, True),
]


def register(server: NexusSidecar) -> None:
    for method, params_type, fn, long in METHODS:
        server.feature(method)(adapter(method, params_type, fn, long=long))
