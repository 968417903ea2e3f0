"""Admin endpoints under `/_emulator/` (same bearer key as the API): faults and introspection."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import bad_request

if TYPE_CHECKING:
    from .app import Emulator


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


class AdminRoutes:
    """`POST /_emulator/faults` takes one fault (or a list) as JSON:

    - ``{"type": "http_error", "status": 503, "count": 2, "method": "POST",
      "path": "^/api/sandbox$", "retryAfter": 1, "message": "...", "scope": "api"|"toolbox"|"any"}``
    - ``{"type": "rate_limit", "count": 2, "retryAfter": 3}`` (429 with Retry-After)
    - ``{"type": "server_error", "count": 1, "status": 500}``
    - ``{"type": "slow_transitions", "seconds": 2.5}`` (``null`` resets)
    - ``{"type": "expire_ssh_tokens", "sandboxId": "..."}`` (all sandboxes if omitted)
    - ``{"type": "quota_exceeded", "resource": "cpu"|"memory"|"disk"|null}``
    - ``{"type": "region_unavailable", "region": "eu", "unavailable": true}``

    `DELETE /_emulator/faults` clears all; `GET /_emulator/state` shows sandboxes and faults.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def register(self, app: web.Application) -> None:
        app.router.add_get("/_emulator/state", self.state)
        app.router.add_get("/_emulator/faults", self.get_faults)
        app.router.add_post("/_emulator/faults", self.add_faults)
        app.router.add_delete("/_emulator/faults", self.clear_faults)

    async def state(self, request: web.Request) -> web.Response:
        return _json(self.emulator.describe())

    async def get_faults(self, request: web.Request) -> web.Response:
        return _json(self.emulator.faults.to_json())

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.emulator.faults.clear()
        return _json(self.emulator.faults.to_json())

    async def add_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        specs = body if isinstance(body, list) else [body]
        results = [self.apply(spec) for spec in specs]
        return _json({"applied": results, "faults": self.emulator.faults.to_json()})

    def apply(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict) or "type" not in spec:
            raise bad_request("a fault is an object with a type")
        faults = self.emulator.faults
        kind = spec["type"]
        http_args = {
            "method": spec.get("method"),
            "path": spec.get("path"),
            "message": spec.get("message"),
            "code": spec.get("code"),
            "scope": spec.get("scope", "any"),
        }
        count = int(spec.get("count", 1))
        if kind == "http_error":
            status = int(spec.get("status", 500))
            fault = faults.http_error(
                status, count, retry_after=spec.get("retryAfter"), **http_args
            )
            return fault.to_json()
        if kind == "rate_limit":
            retry_after = int(spec.get("retryAfter", 1))
            return faults.rate_limit(count, retry_after=retry_after, **http_args).to_json()
        if kind == "server_error":
            status = int(spec.get("status", 500))
            return faults.server_error(count, status=status, **http_args).to_json()
        if kind == "slow_transitions":
            seconds = spec.get("seconds")
            faults.slow_transitions(None if seconds is None else float(seconds))
            return {"type": kind, "seconds": seconds}
        if kind == "expire_ssh_tokens":
            expired = self.emulator.expire_ssh_tokens(spec.get("sandboxId"))
            return {"type": kind, "expired": expired}
        if kind == "quota_exceeded":
            try:
                faults.exceed_quota(spec.get("resource", "cpu"))
            except ValueError as exc:
                raise bad_request(str(exc)) from exc
            return {"type": kind, "resource": spec.get("resource", "cpu")}
        if kind == "region_unavailable":
            region = str(spec.get("region", ""))
            faults.region_unavailable(region, bool(spec.get("unavailable", True)))
            return {"type": kind, "region": region}
        raise bad_request(f"unknown fault type {kind!r}")
