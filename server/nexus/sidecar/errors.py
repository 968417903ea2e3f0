"""Turning failures into JSON-RPC errors (docs/sidecar-protocol.md, "Errors")."""

from __future__ import annotations

from pydantic import ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from ..domain.errors import ErrorCode, NexusError
from ..redact import redact

REQUEST_FAILED = -32803  # LSP RequestFailed


def request_failed(error: NexusError) -> JsonRpcException:
    """A Nexus error: ``"<CODE>: <message>"``, with the code and resolution in ``data``."""
    safe = NexusError(error.code, redact(error.message), redact(error.resolution), error.options)
    return JsonRpcException(
        message=f"{safe.code}: {safe.message}", code=REQUEST_FAILED, data=safe.to_dict()
    )


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "params"


def invalid_params(method: str, error: ValidationError) -> JsonRpcInvalidParams:
    """-32602 whose message names every offending field, e.g. ``name: Field required``."""
    problems = [f"{_field(item['loc'])}: {item['msg']}" for item in error.errors()]
    return JsonRpcInvalidParams(
        message=f"invalid params for {method}: {'; '.join(problems)}",
        data={"fields": [_field(item["loc"]) for item in error.errors()]},
    )


def params_not_object(method: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(
        message=f"invalid params for {method}: params must be an object", data={"fields": []}
    )


def internal_error(error: Exception) -> JsonRpcInternalError:
    """An unexpected failure; the traceback goes to the log, not to the client."""
    detail = NexusError(
        ErrorCode.INTERNAL_ERROR,
        f"unexpected {type(error).__name__}: {error}",
        "See the sidecar log (stderr) and report it.",
    )
    return JsonRpcInternalError(message=detail.message, data=detail.to_dict())
