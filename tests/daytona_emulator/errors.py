"""Error envelopes shaped like the real control plane (NestJS) and daemon (Go)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus

from aiohttp import web

SOURCE_API = "DAYTONA_API"
SOURCE_DAEMON = "DAYTONA_DAEMON"
SOURCE_PROXY = "DAYTONA_PROXY"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An error answered with the real API's JSON envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        source: str = SOURCE_API,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.source = source
        self.headers = headers or {}

    def body(self, request: web.Request) -> dict[str, object]:
        body: dict[str, object] = {
            "statusCode": self.status,
            "message": self.message,
            "path": request.path,
            "timestamp": now_iso(),
        }
        if self.source == SOURCE_DAEMON:
            body["method"] = request.method
        else:
            body["error"] = HTTPStatus(self.status).phrase
        if self.code:
            body["code"] = self.code
        if self.source != SOURCE_API or self.code:
            body["source"] = self.source
        return body

    def response(self, request: web.Request) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body(request)),
            content_type="application/json",
            headers=self.headers,
        )


def daemon_error(status: int, message: str, code: str) -> ApiError:
    return ApiError(status, message, code=code, source=SOURCE_DAEMON)


def not_found(id_or_name: str) -> ApiError:
    return ApiError(404, f"Sandbox with ID or name {id_or_name} not found")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
