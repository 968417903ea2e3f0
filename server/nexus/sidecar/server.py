"""The pygls server: lifecycle, logging, the Nexus service it adapts, and the stdio loop."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import cattrs
from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
    default_converter,
)

from .. import __version__, redact
from ..service.auto_stop import AutoStopped, AutoStopWarning
from ..service.context import NexusContext
from ..service.workspaces import WorkspaceService
from . import protocol
from .auto_stop_watcher import AutoStopWatcher
from .budget_watcher import BudgetWatcher
from .protocol import (
    BudgetDidChangeParams,
    DidChangeStateParams,
    DidChangeSyncParams,
    InitializationOptions,
)
from .stdio import PipeReader, stdin_reader
from .sync_watcher import SyncWatcher
from .watcher import StoreWatcher

log = logging.getLogger("nexus.sidecar")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = {
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
DRAIN_SECONDS = 60.0  # how long shutdown waits for cancelled operations to clean up
BLOCKING_THREADS = 256  # at most this many blocking calls at once (one per running operation)


def converter_factory() -> cattrs.Converter:
    """pygls's converter, except that params of our (non-LSP) methods stay plain dicts.

    The handlers validate them with pydantic, so bad params get a -32602 answer naming the field
    (structuring inside pygls's reader would drop the request unanswered).
    """
    converter: cattrs.Converter = default_converter()  # type: ignore[no-untyped-call]

    def keep(obj: dict[str, Any], cls: type[Any]) -> Any:
        return cls(**{"params": None, **obj})  # JSON-RPC allows leaving params out

    def as_is(message: JsonRPCResponseMessage) -> dict[str, Any]:
        # our results are JSON already: walking them with cattrs would only copy them (``json``
        # still hands anything it cannot encode to the protocol's ``_serialize_message``)
        return {"id": message.id, "jsonrpc": message.jsonrpc, "result": message.result}

    converter.register_structure_hook(JsonRPCRequestMessage, keep)
    converter.register_structure_hook(JsonRPCNotification, keep)
    converter.register_unstructure_hook(JsonRPCResponseMessage, as_is)
    return converter


class SidecarProtocol(LanguageServerProtocol):
    """pygls's protocol, except that a request it cannot even read still gets an answer."""

    def _serialize_message(self, data: Any) -> Any:
        """What ``json`` cannot encode in a result, turned into JSON as cattrs did (paths become
        strings, sets lists, attrs classes objects, enums their values)."""
        if isinstance(data, set | frozenset):
            return list(data)
        unstructured = self._converter.unstructure(data)
        if unstructured is not data:
            return unstructured
        return super()._serialize_message(data)

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data.get("id"), int | str) and "method" in data:
                log.warning("unreadable %s request: %s", data.get("method"), exc.__cause__)
                self._send_response(
                    data["id"],
                    error=JsonRpcInvalidParams(
                        message=f"invalid params for {data.get('method')}: {exc.__cause__}"
                    ).to_response_error(),
                )
            raise


class QuietPyglsErrors(logging.Filter):
    """Drops pygls's tracebacks for errors that are answered or reported already.

    Request errors raised on purpose (-32602, -32803, ...) are the protocol working, and unreadable
    input is reported once by ``report_server_error``; unexpected failures are logged by the
    handlers themselves, with their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Unable to handle message":
            return False
        if str(record.msg).startswith("Exception occurred for message") and record.exc_info:
            return not isinstance(record.exc_info[1], JsonRpcException)
        return True


def quiet_pygls() -> None:
    logging.getLogger("pygls").setLevel(logging.WARNING)
    for name in ("pygls.protocol.json_rpc", "pygls.io"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietPyglsErrors) for f in logger.filters):
            logger.addFilter(QuietPyglsErrors())


class LspLogHandler(logging.Handler):
    """Forwards log records to the client as ``window/logMessage`` (from any thread)."""

    _TYPES = (
        (logging.ERROR, types.MessageType.Error),
        (logging.WARNING, types.MessageType.Warning),
        (logging.INFO, types.MessageType.Info),
        (logging.NOTSET, types.MessageType.Log),  # every client knows Log; Debug is LSP 3.18
    )

    def __init__(self, server: NexusSidecar, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._server = server
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("pygls"):  # pygls logs what it sends: that would recurse
            return
        try:
            kind = next(t for level, t in self._TYPES if record.levelno >= level)
            params = types.LogMessageParams(type=kind, message=self.format(record))
            if threading.get_ident() == self._loop_thread:
                self._server.window_log_message(params)
            elif not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._server.window_log_message, params)
        except (BrokenPipeError, RuntimeError):  # the client is gone, or the loop is closing
            pass
        except Exception:
            self.handleError(record)


class NexusSidecar(LanguageServer):
    """The sidecar: one ``WorkspaceService`` (rebuilt when the config file changes) + a watcher."""

    def __init__(self) -> None:
        super().__init__(
            "nexus-sidecar",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.None_,
            converter_factory=converter_factory,
            protocol_cls=SidecarProtocol,
        )
        self.options = InitializationOptions()
        self.watcher: StoreWatcher | None = None
        self.sync_watcher: SyncWatcher | None = None
        self.auto_stop_watcher: AutoStopWatcher | None = None
        self.budget_watcher: BudgetWatcher | None = None
        self.operations: set[asyncio.Task[Any]] = set()
        self._context: NexusContext | None = None
        self._service: WorkspaceService | None = None
        self._config_stamp: int | None = None
        self._lsp_log: LspLogHandler | None = None

    # ---- the service -------------------------------------------------------------------------
    @staticmethod
    def _stamp(context: NexusContext) -> int | None:
        try:
            return context.paths.config_file.stat().st_mtime_ns
        except OSError:
            return None

    @property
    def service(self) -> WorkspaceService:
        """The service, rebuilt when the config file changed (``config/set`` or another process).

        In-flight operations keep the service they started with.
        """
        stamp = self._stamp(self._context) if self._context else None
        if self._service is None or self._context is None or stamp != self._config_stamp:
            self._context = NexusContext()
            self._service = WorkspaceService(self._context)
            self._config_stamp = self._stamp(self._context)
        return self._service

    def notify_state(self, change: DidChangeStateParams) -> None:
        self.protocol.notify(protocol.WORKSPACE_DID_CHANGE_STATE, change)
        if self.sync_watcher is not None:  # a stop pauses its sync, a delete ends it
            self.sync_watcher.poke()
        if self.budget_watcher is not None:  # a create or start moves the month's cost
            self.budget_watcher.poke()

    def notify_sync(self, change: DidChangeSyncParams) -> None:
        self.protocol.notify(protocol.SYNC_DID_CHANGE, change)

    def notify_auto_stop_warning(self, warning: AutoStopWarning) -> None:
        self.protocol.notify(protocol.WORKSPACE_AUTO_STOP_WARNING, warning.to_json_dict())

    def notify_auto_stopped(self, notice: AutoStopped) -> None:
        self.protocol.notify(protocol.WORKSPACE_AUTO_STOPPED, notice.to_json_dict())

    def notify_budget(self, change: BudgetDidChangeParams) -> None:
        self.protocol.notify(protocol.BUDGET_DID_CHANGE, change)

    async def stop_watchers(self) -> None:
        for watcher in (
            self.watcher,
            self.sync_watcher,
            self.auto_stop_watcher,
            self.budget_watcher,
        ):
            if watcher is not None:
                await watcher.stop()

    # ---- long operations: tracked so shutdown can cancel them and wait for their cleanup -----
    async def track(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self.operations.add(task)
        try:
            return await operation()
        finally:
            if task is not None:
                self.operations.discard(task)
            if self.watcher is not None:
                self.watcher.poke()

    async def drain(self) -> None:
        """Cancel the operations still running and let their cleanup finish (bounded)."""
        pending = [task for task in self.operations if not task.done()]
        if not pending:
            return
        log.info("cancelling %d running operation(s)", len(pending))
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=DRAIN_SECONDS)

    # ---- logging -----------------------------------------------------------------------------
    def set_log_level(self, level: str) -> None:
        logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
        # asyncssh narrates every connection at INFO: only worth it when debugging
        logging.getLogger("asyncssh").setLevel(
            logging.INFO if level == "debug" else logging.WARNING
        )
        quiet_pygls()

    def attach_lsp_log(self) -> None:
        if self._lsp_log is None:
            self._lsp_log = LspLogHandler(self, asyncio.get_running_loop())
            self._lsp_log.setFormatter(logging.Formatter("%(name)s: %(message)s"))
            redact.install(self._lsp_log)
            logging.getLogger().addHandler(self._lsp_log)

    def detach_lsp_log(self) -> None:
        if self._lsp_log is not None:
            logging.getLogger().removeHandler(self._lsp_log)
            self._lsp_log = None

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Out-of-band errors (unreadable input, failing notifications) are logged, not popped up.

        Request errors are already answered to the client; they are not repeated here.
        """
        if source is FeatureRequestError:
            return
        log.error("ignored a message that could not be handled: %s", error)

    # ---- stdio -------------------------------------------------------------------------------
    def serve(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        """Serve until ``exit`` or end of input; returns the process exit code."""
        code = 0
        try:
            asyncio.run(self._serve(stdin, stdout))
        except SystemExit as exc:  # the `exit` notification
            code = exc.code if isinstance(exc.code, int) else 0
        except BrokenPipeError:
            log.error("the client closed the connection")
        except KeyboardInterrupt:
            code = 130
        finally:
            self.detach_lsp_log()
            self.shutdown()  # type: ignore[no-untyped-call]
            if self._context is not None:
                self._context.close()
        return code

    async def _serve(self, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self._stop_event = threading.Event()
        # Every blocking call (Docker SDK, file locks, git) runs in the loop's default executor.
        # Python sizes it by CPU count (6 threads on 2 CPUs): that many creates waiting on an
        # image build would leave no thread for a `list`. Threads start only when all are busy.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="nexus-blocking")
        )
        self.protocol.set_writer(StdoutWriter(stdout))
        reader = await stdin_reader(stdin, self.thread_pool)
        try:
            await run_async(
                stop_event=self._stop_event,
                reader=reader,
                protocol=self.protocol,
                logger=logging.getLogger("pygls.io"),
                error_handler=self.report_server_error,
            )
            self.detach_lsp_log()
            log.info("end of input: stopping")
        finally:
            await self.drain()
            await self.stop_watchers()
            if isinstance(reader, PipeReader):
                reader.close()


def build_server() -> NexusSidecar:
    from . import handlers

    server = NexusSidecar()

    @server.feature(types.INITIALIZE)
    def initialize(ls: NexusSidecar, params: types.InitializeParams) -> None:
        raw = params.initialization_options
        try:
            ls.options = InitializationOptions.model_validate(raw if isinstance(raw, dict) else {})
        except ValidationError as exc:
            log.warning("ignoring invalid initializationOptions: %s", exc)
        ls.set_log_level(ls.options.log_level)
        ls.attach_lsp_log()
        if ls.options.api_version != protocol.API_VERSION:
            log.warning(
                "client speaks API version %s; this sidecar speaks %s",
                ls.options.api_version,
                protocol.API_VERSION,
            )
        log.info(
            "nexus-sidecar %s serving %s (log level %s)",
            __version__,
            ls.options.editor or "a client",
            ls.options.log_level,
        )

    @server.feature(types.INITIALIZED)
    def initialized(ls: NexusSidecar, params: types.InitializedParams) -> None:
        ls.watcher = StoreWatcher(ls.service.ctx.paths.state_db, ls.notify_state)
        ls.watcher.start()
        ls.sync_watcher = SyncWatcher(lambda: ls.service, ls.notify_sync)
        ls.sync_watcher.start()
        ls.auto_stop_watcher = AutoStopWatcher(
            lambda: ls.service, ls.notify_auto_stop_warning, ls.notify_auto_stopped
        )
        ls.auto_stop_watcher.start()
        ls.budget_watcher = BudgetWatcher(lambda: ls.service, ls.notify_budget)
        ls.budget_watcher.start()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: NexusSidecar, params: None) -> None:
        await ls.drain()
        await ls.stop_watchers()

    handlers.register(server)
    return server


def run(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Serve on stdio. Nothing but protocol goes to stdout: stray prints go to stderr."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    sys.stdout = sys.stderr
    quiet_pygls()
    return build_server().serve(stdin, stdout)
