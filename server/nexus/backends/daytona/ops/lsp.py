"""``lsp start|stop|status``: the Daytona LSP server of the workspace folder (PRD §4.2).

The daemon runs one language server per (language, project path). Nexus starts it for the
workspace folder and keeps what it started in the workspace record (``daytona_lsp``); ``status``
asks the daemon whether each of those still runs (a sandbox restart ends them all) and forgets
the ones that do not. The daemon has no "list" call: a server is asked with a symbol query,
which an unknown or stopped server refuses as "not initialized".
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import Field

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import BackendType
from ....domain.provider import (
    EscapeHatchUnavailable,
    NoParams,
    OpContext,
    OpParams,
    OpResult,
    operation,
)
from .toolbox import failure, started_sandbox, toolbox_call, unavailable_reason, workspace_of

RECORD_KEY = "daytona_lsp"
LANGUAGES = ("python", "typescript", "javascript")  # what the SDK's LspLanguageId accepts
PROBE_QUERY = "nexus"
RUNNING, STOPPED, UNKNOWN = "running", "stopped", "unknown"


class LspParams(OpParams):
    language: str = Field(description=f"The language server: {', '.join(LANGUAGES)}.")


def _language(value: str) -> str:
    language = value.strip().lower()
    if language not in LANGUAGES:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown language '{value}'",
            f"Choose one of: {', '.join(LANGUAGES)}.",
        )
    return language


def _recorded(ctx: OpContext) -> list[dict[str, Any]]:
    workspace = ctx.records().get(workspace_of(ctx).name)
    entries = workspace.metadata.get(RECORD_KEY)
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _record(ctx: OpContext, language: str, path: str, entry: dict[str, Any] | None) -> None:
    """Replace (or with None drop) the entry of ``language`` at ``path``."""

    def mutate(metadata: dict[str, Any]) -> None:
        current = metadata.get(RECORD_KEY)
        kept = [
            e
            for e in (current if isinstance(current, list) else [])
            if isinstance(e, dict) and (e.get("language"), e.get("path")) != (language, path)
        ]
        if entry is not None:
            kept.append(entry)
        if kept:
            metadata[RECORD_KEY] = kept
        else:
            metadata.pop(RECORD_KEY, None)

    ctx.records().update_metadata(workspace_of(ctx).name, mutate)


def _probe(server: Any) -> str:
    """Whether the daemon runs this server (blocking). Any answer but "not initialized" or
    "unsupported language" comes from a running server, even an error (a server without
    workspace symbols says "method not found")."""
    import daytona

    try:
        server.sandbox_symbols(PROBE_QUERY)
    except daytona.DaytonaLspServerNotInitializedError:
        return STOPPED
    except daytona.DaytonaError as exc:
        if unavailable_reason(exc) is not None:
            return UNKNOWN
        lowered = str(exc).lower()
        if "not initialized" in lowered or "unsupported language" in lowered:
            return STOPPED
    return RUNNING


SERVERS = {
    "python": "pylsp",
    "typescript": "typescript-language-server",
    "javascript": "typescript-language-server",
}


def _start(server: Any, language: str) -> None:
    """Start the server; the daemon answers any failure to launch it with a bare 500."""
    import daytona

    try:
        server.start()
    except daytona.DaytonaError as exc:
        if "error starting lsp server" not in str(exc).lower():
            raise
        raise NexusError(
            ErrorCode.DAYTONA_ERROR,
            f"the sandbox could not start the {language} language server",
            f"Make sure the sandbox image has `{SERVERS[language]}` on its PATH.",
        ) from None


def _entry_data(entry: dict[str, Any], state: str) -> dict[str, Any]:
    return {
        "language": entry.get("language"),
        "path": entry.get("path"),
        "startedAt": entry.get("startedAt"),
        "state": state,
    }


@operation(
    BackendType.DAYTONA,
    "lsp",
    "start",
    capability="supports_lsp",
    params=LspParams,
    summary="Start the Daytona language server for the workspace folder.",
)
async def start(ctx: OpContext, params: LspParams) -> OpResult:
    language = _language(params.language)
    path = workspace_of(ctx).remote_path
    sandbox = await started_sandbox(ctx)
    server = sandbox.create_lsp_server(language, path)
    # The probe also makes the daemon register the key under its own language: the v0.190
    # daemon's start builds a TypeScript server for a key it has never seen.
    already = await run_blocking(_probe, server) == RUNNING
    if not already:
        ctx.progress.step("lsp", f"Starting the {language} language server")
        await toolbox_call(
            partial(_start, server, language), f"start the {language} language server"
        )
    entry = {"language": language, "path": path, "startedAt": datetime.now(UTC).isoformat()}
    previous = next(
        (e for e in _recorded(ctx) if (e.get("language"), e.get("path")) == (language, path)),
        None,
    )
    if already and previous is not None:
        entry = previous
    _record(ctx, language, path, entry)
    data = {**_entry_data(entry, RUNNING), "alreadyRunning": already}
    verb = "was already running" if already else "started"
    return OpResult(data=data, lines=[f"{language} language server {verb} for {path}"])


@operation(
    BackendType.DAYTONA,
    "lsp",
    "stop",
    capability="supports_lsp",
    params=LspParams,
    summary="Stop the Daytona language server of the workspace folder.",
)
async def stop(ctx: OpContext, params: LspParams) -> OpResult:
    language = _language(params.language)
    path = workspace_of(ctx).remote_path
    sandbox = await started_sandbox(ctx)
    server = sandbox.create_lsp_server(language, path)
    state = await run_blocking(_probe, server)
    if state == RUNNING:
        await toolbox_call(server.stop, f"stop the {language} language server")
    elif state == UNKNOWN:
        raise EscapeHatchUnavailable("the Daytona toolbox did not answer about the language server")
    _record(ctx, language, path, None)
    data = {"language": language, "path": path, "state": STOPPED, "wasRunning": state == RUNNING}
    line = (
        f"{language} language server stopped for {path}"
        if state == RUNNING
        else f"{language} language server was not running for {path}"
    )
    return OpResult(data=data, lines=[line])


@operation(
    BackendType.DAYTONA,
    "lsp",
    "status",
    capability="supports_lsp",
    params=NoParams,
    summary="The language servers Nexus started in the workspace, and whether they run.",
)
async def status(ctx: OpContext, params: NoParams) -> OpResult:
    import daytona

    workspace = workspace_of(ctx)
    entries = _recorded(ctx)
    states: list[str]
    try:
        sandbox = await started_sandbox(ctx) if entries else None
    except NexusError as exc:
        if exc.code != ErrorCode.WORKSPACE_NOT_RUNNING:
            raise
        sandbox = None  # a stopped sandbox runs no language server
        states = [STOPPED] * len(entries)
    else:

        def probe_all(found: Any) -> list[str]:
            return [
                _probe(found.create_lsp_server(str(e.get("language")), str(e.get("path"))))
                for e in entries
            ]

        try:
            states = await run_blocking(probe_all, sandbox) if sandbox is not None else []
        except daytona.DaytonaError as exc:
            raise failure(exc, "ask the language servers") from None
    for entry, state in zip(entries, states, strict=True):
        if state == STOPPED:
            _record(ctx, str(entry.get("language")), str(entry.get("path")), None)
    servers = [_entry_data(e, s) for e, s in zip(entries, states, strict=True)]
    lines = [
        f"{s['language']}  {s['path']}  {s['state']}  (started {s['startedAt']})" for s in servers
    ] or [f"no language server started by Nexus runs in '{workspace.name}'"]
    return OpResult(data={"servers": servers}, lines=lines)
