"""Daytona preview URLs of a workspace's ports (PRD §4.2, Flow 3).

A preview URL reaches a port of the sandbox through Daytona's proxy. It needs the sandbox's
preview token (header ``X-Daytona-Preview-Token``) unless the sandbox is public; a signed URL
(``--expires``) carries its own token and stops working when it expires or is deleted. Daytona's
``public`` is a property of the whole sandbox: while one preview is public, every port is. The
open previews are kept in the workspace record (``daytona_previews``, by port).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import BackendType
from ....domain.provider import NoParams, OpContext, OpParams, OpResult, operation
from ....redact import register_secret
from .. import errors

RECORD_KEY = "daytona_previews"
TOKEN_HEADER = "X-Daytona-Preview-Token"
SKIP_WARNING_HEADER = "X-Daytona-Skip-Preview-Warning"
MAX_EXPIRES = 24 * 60 * 60  # the API's limit for a signed URL


class PreviewParams(OpParams):
    port: int = Field(ge=1, le=65535, description="The port in the workspace (1-65535).")
    public: bool = Field(
        False,
        description="No token needed. Daytona makes the whole sandbox public: every port, "
        "until the last public preview is deleted.",
    )
    expires: int | None = Field(
        None,
        ge=1,
        le=MAX_EXPIRES,
        description="Also make a signed URL, usable without a token, valid this many seconds "
        "(1-86400).",
    )


class PreviewPortParams(OpParams):
    port: int = Field(ge=1, le=65535, description="The port of the preview (1-65535).")


def _workspace_name(ctx: OpContext) -> str:
    assert ctx.workspace is not None  # every preview operation takes a workspace
    return ctx.workspace.name


def _open(ctx: OpContext) -> dict[str, dict[str, Any]]:
    workspace = ctx.records().get(_workspace_name(ctx))
    return {str(k): dict(v) for k, v in (workspace.metadata.get(RECORD_KEY) or {}).items()}


def _update(ctx: OpContext, port: int, entry: dict[str, Any] | None) -> None:
    def mutate(metadata: dict[str, Any]) -> None:
        previews = dict(metadata.get(RECORD_KEY) or {})
        if entry is None:
            previews.pop(str(port), None)
        else:
            previews[str(port)] = entry
        metadata[RECORD_KEY] = previews

    ctx.records().update_metadata(_workspace_name(ctx), mutate)


def _expired(entry: dict[str, Any], now: datetime) -> bool:
    expires = entry.get("signedExpiresAt")
    return isinstance(expires, str) and datetime.fromisoformat(expires) <= now


def _expire_signed(sandbox: Any, entry: dict[str, Any]) -> None:
    token = entry.get("signedToken")
    if token:
        errors.call(
            lambda: sandbox.expire_signed_preview_url(entry["port"], token),
            f"expire the signed preview URL of port {entry['port']}",
        )


def _public_others(previews: dict[str, dict[str, Any]], port: int) -> bool:
    return any(e.get("public") for p, e in previews.items() if p != str(port))


# ---- create ------------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "preview",
    "create",
    capability="supports_web_previews",
    params=PreviewParams,
    summary="Open a preview URL for a port of the workspace.",
)
async def create(ctx: OpContext, params: PreviewParams) -> OpResult:
    name = _workspace_name(ctx)
    workspace = ctx.records().get(name)
    backend = ctx.backend
    previous = _open(ctx).get(str(params.port))
    others_public = _public_others(_open(ctx), params.port)
    ctx.progress.step("preview", f"Opening a preview of port {params.port} of '{name}'")

    def open_preview() -> tuple[Any, Any | None, str]:
        sandbox = backend.require_sandbox(workspace)
        link = errors.call(
            lambda: sandbox.get_preview_link(params.port), f"get the preview URL of {params.port}"
        )
        register_secret(link.token)
        if params.public and not sandbox.public:
            errors.call(lambda: sandbox.set_public(True), "make the sandbox public")
        elif not params.public and previous and previous.get("public") and not others_public:
            errors.call(lambda: sandbox.set_public(False), "make the sandbox private")
        signed = None
        if params.expires is not None:
            signed = errors.call(
                lambda: sandbox.create_signed_preview_url(
                    params.port, expires_in_seconds=params.expires
                ),
                f"create a signed preview URL of {params.port}",
            )
            register_secret(signed.token)
        if previous:  # one preview per port: the signed URL it replaces stops working
            _expire_signed(sandbox, previous)
        return link, signed, sandbox.id

    link, signed, sandbox_id = await run_blocking(open_preview)
    now = datetime.now(UTC).replace(microsecond=0)
    entry: dict[str, Any] = {
        "port": params.port,
        "url": link.url,
        "public": params.public,
        "sandboxId": sandbox_id,
        "createdAt": now.isoformat(),
        "signedUrl": signed.url if signed else None,
        "signedToken": signed.token if signed else None,
        "signedExpiresAt": (
            (now + timedelta(seconds=params.expires)).isoformat()
            if signed and params.expires
            else None
        ),
    }
    _update(ctx, params.port, entry)
    lines = [f"Preview of port {params.port}: {link.url}"]
    if params.public:
        lines.append(
            "Public: anyone with the URL can open it, and every other port of the sandbox too."
        )
    elif others_public:
        lines.append("Public all the same: another public preview makes the whole sandbox public.")
    else:
        lines.append(f"Send the token in the {TOKEN_HEADER} header: {link.token}")
    if signed:
        lines.append(
            f"Signed URL (no token needed, until {entry['signedExpiresAt']}): {signed.url}"
        )
    shown = {"workspace": name, **_public_entry(entry, link.token)}
    shown["sandboxPublic"] = params.public or others_public
    return OpResult(data=shown, lines=lines)


def _public_entry(entry: dict[str, Any], token: str | None) -> dict[str, Any]:
    """A recorded preview as shown (the signed URL's token is in the URL; not repeated)."""
    return {
        "port": entry["port"],
        "url": entry["url"],
        "token": token,
        "tokenHeader": TOKEN_HEADER,
        # what a client that is not a person's browser sends: Daytona's warning page (and the
        # cookie that accepts it) belongs to the preview's own domain, not a proxy's
        "requestHeaders": {SKIP_WARNING_HEADER: "true"},
        "public": bool(entry.get("public")),
        "signedUrl": entry.get("signedUrl"),
        "expiresAt": entry.get("signedExpiresAt"),
        "createdAt": entry.get("createdAt"),
    }


# ---- list --------------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "preview",
    "list",
    capability="supports_web_previews",
    params=NoParams,
    summary="List the open previews of the workspace.",
)
async def list_previews(ctx: OpContext, params: NoParams) -> OpResult:
    name = _workspace_name(ctx)
    previews = _open(ctx)
    now = datetime.now(UTC)
    token: str | None = None
    if previews:
        workspace = ctx.records().get(name)
        backend = ctx.backend
        first = int(next(iter(previews)))

        def current_token() -> str:  # one token per sandbox; it changes when it restarts
            sandbox = backend.require_sandbox(workspace)
            link = errors.call(lambda: sandbox.get_preview_link(first), "read the preview token")
            register_secret(link.token)
            return str(link.token)

        token = await run_blocking(current_token)
    items = []
    for port in sorted(previews, key=int):
        entry = previews[port]
        item = _public_entry(entry, token)
        if item["signedUrl"] and _expired(entry, now):
            item["signedUrl"] = None  # expired: it no longer opens anything
            item["expiredAt"] = entry.get("signedExpiresAt")
        items.append(item)
    if not items:
        lines = [f"Workspace '{name}' has no open previews."]
    else:
        lines = []
        sandbox_public = any(item["public"] for item in items)
        for item in items:
            access = f"token in {TOKEN_HEADER}"
            if item["public"]:
                access = "public"
            elif sandbox_public:
                access = "public through another preview"
            lines.append(f"{item['port']}: {item['url']} ({access})")
            if item["signedUrl"]:
                lines.append(f"  signed, until {item['expiresAt']}: {item['signedUrl']}")
            elif item.get("expiredAt"):
                lines.append(f"  signed URL expired at {item['expiredAt']}")
    return OpResult(data={"workspace": name, "previews": items}, lines=lines)


# ---- delete ------------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "preview",
    "delete",
    capability="supports_web_previews",
    params=PreviewPortParams,
    summary="Close a preview: its signed URL stops working, the sandbox stops being public.",
)
async def delete(ctx: OpContext, params: PreviewPortParams) -> OpResult:
    name = _workspace_name(ctx)
    previews = _open(ctx)
    entry = previews.get(str(params.port))
    if entry is None:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"workspace '{name}' has no open preview of port {params.port}",
            f"See the open ones with `nexus workspace provider daytona preview list {name}`.",
        )
    workspace = ctx.records().get(name)
    backend = ctx.backend
    turn_private = bool(entry.get("public")) and not _public_others(previews, params.port)

    def revoke() -> bool:
        sandbox = backend.find_sandbox(workspace)
        if sandbox is None:
            return False  # nothing left to revoke
        _expire_signed(sandbox, entry)
        if turn_private and sandbox.public:
            errors.call(lambda: sandbox.set_public(False), "make the sandbox private")
        return True

    await run_blocking(revoke)
    _update(ctx, params.port, None)
    lines = [f"Preview of port {params.port} of '{name}' closed."]
    if entry.get("signedUrl"):
        lines.append("Its signed URL no longer opens.")
    if turn_private:
        lines.append("The sandbox is private again: its URLs need the preview token.")
    lines.append(
        "The preview token is the sandbox's own (Daytona has no per-port revoke): it keeps "
        "opening the plain URL until the sandbox restarts."
    )
    still_public = _public_others(previews, params.port)
    return OpResult(
        data={
            "workspace": name,
            "port": params.port,
            "deleted": True,
            "signedUrlExpired": bool(entry.get("signedUrl")),
            "sandboxPublic": still_public,
        },
        lines=lines,
    )
