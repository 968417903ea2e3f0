"""Control-plane routes: `/api/...`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request
from .service import SandboxService
from .state import LOWER_ALNUM, SignedPreview, SnapshotRecord, SshAccess, iso, random_token


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_request("Invalid JSON body") from exc
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data


def _minutes(request: web.Request, name: str = "minutes") -> int:
    try:
        value = int(request.match_info[name])
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer") from exc
    return value


_SNAPSHOT_SORT: dict[str, Callable[[SnapshotRecord], Any]] = {
    "name": lambda r: r.name,
    "state": lambda r: r.state,
    "lastUsedAt": lambda r: r.last_used_at,
    "createdAt": lambda r: r.created_at,
}


def _page_number(raw: str, name: str, *, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer number") from exc
    if value < minimum:
        raise bad_request(f"{name} must not be less than {minimum}")
    if maximum is not None and value > maximum:
        raise bad_request(f"{name} must not be greater than {maximum}")
    return value


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class ApiRoutes:
    def __init__(
        self,
        service: SandboxService,
        *,
        ssh_endpoint: Callable[[], tuple[str, int]],
        preview_base: Callable[[], str],
    ) -> None:
        self.service = service
        self.store = service.store
        self.ssh_endpoint = ssh_endpoint
        self.preview_base = preview_base

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/sandbox", self.list_sandboxes)
        r.add_post("/api/sandbox", self.create)
        r.add_get("/api/sandbox/ssh-access/validate", self.validate_ssh)
        r.add_get("/api/sandbox/{id}", self.get)
        r.add_delete("/api/sandbox/{id}", self.delete)
        r.add_post("/api/sandbox/{id}/start", self.start)
        r.add_post("/api/sandbox/{id}/stop", self.stop)
        r.add_post("/api/sandbox/{id}/archive", self.archive)
        r.add_post("/api/sandbox/{id}/autostop/{minutes}", self.autostop)
        r.add_post("/api/sandbox/{id}/autoarchive/{minutes}", self.autoarchive)
        r.add_post("/api/sandbox/{id}/autodelete/{minutes}", self.autodelete)
        r.add_put("/api/sandbox/{id}/labels", self.labels)
        r.add_post("/api/sandbox/{id}/public/{public}", self.public)
        r.add_post("/api/sandbox/{id}/ssh-access", self.create_ssh)
        r.add_delete("/api/sandbox/{id}/ssh-access", self.revoke_ssh)
        r.add_get("/api/sandbox/{id}/ports/{port}/preview-url", self.preview_url)
        r.add_get("/api/sandbox/{id}/ports/{port}/signed-preview-url", self.signed_preview_url)
        r.add_post(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire",
            self.expire_signed_preview,
        )
        r.add_get("/api/sandbox/{id}/toolbox-proxy-url", self.toolbox_proxy_url)
        r.add_post("/api/sandbox/{id}/snapshot", self.snapshot)
        r.add_post("/api/sandbox/{id}/last-activity", self.last_activity)
        r.add_get("/api/snapshots", self.list_snapshots)
        r.add_get("/api/snapshots/{id}", self.get_snapshot)
        r.add_delete("/api/snapshots/{id}", self.delete_snapshot)
        r.add_get("/api/regions", self.regions)

    # sandboxes -------------------------------------------------------------
    async def list_sandboxes(self, request: web.Request) -> web.Response:
        query = {k: v for k, v in request.query.items()}
        multi = {k: request.query.getall(k, []) for k in ("states", "regionIds", "snapshots")}
        multi = {k: v for k, v in multi.items() if v}
        page, next_cursor = self.store.list_page(
            query, multi, self.service.config.page_limit_default
        )
        items = [s.to_dto(list_item=True) for s in page]
        return _json({"items": items, "nextCursor": next_cursor})

    async def create(self, request: web.Request) -> web.Response:
        sandbox = await self.service.create(await _body(request))
        return _json(sandbox.to_dto())

    async def get(self, request: web.Request) -> web.Response:
        return _json(self.store.get(request.match_info["id"]).to_dto())

    async def delete(self, request: web.Request) -> web.Response:
        sandbox = await self.service.delete(self.store.get(request.match_info["id"]))
        return _json(sandbox.to_dto())

    async def start(self, request: web.Request) -> web.Response:
        sandbox = await self.service.start(self.store.get(request.match_info["id"]))
        return _json(sandbox.to_dto())

    async def stop(self, request: web.Request) -> web.Response:
        force = request.query.get("force", "false").lower() == "true"
        sandbox = await self.service.stop(self.store.get(request.match_info["id"]), force=force)
        return _json(sandbox.to_dto())

    async def archive(self, request: web.Request) -> web.Response:
        sandbox = await self.service.archive(self.store.get(request.match_info["id"]))
        return _json(sandbox.to_dto())

    async def autostop(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        minutes = _minutes(request)
        if minutes < 0:
            raise bad_request("Auto-stop interval must be a non-negative integer")
        sandbox.auto_stop_interval = minutes
        sandbox.touch()
        return _json(sandbox.to_dto())

    async def autoarchive(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        minutes = _minutes(request)
        if minutes < 0:
            raise bad_request("Auto-archive interval must be a non-negative integer")
        sandbox.auto_archive_interval = minutes or 30 * 24 * 60
        return _json(sandbox.to_dto())

    async def autodelete(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        sandbox.auto_delete_interval = _minutes(request)
        return _json(sandbox.to_dto())

    async def labels(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        labels = (await _body(request)).get("labels")
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise bad_request("labels must be an object of strings")
        sandbox.labels = {str(k): v for k, v in labels.items()}
        sandbox.updated_at = time.time()
        return _json({"labels": sandbox.labels})

    async def public(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        sandbox.public = request.match_info["public"].lower() == "true"
        return _json(sandbox.to_dto())

    async def toolbox_proxy_url(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        return _json({"url": sandbox.toolbox_proxy_url})

    async def snapshot(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        body = await _body(request)
        sandbox = await self.service.snapshot(
            sandbox, body.get("name"), include_memory=body.get("includeMemory")
        )
        return _json(sandbox.to_dto())

    async def last_activity(self, request: web.Request) -> web.Response:
        self.store.get(request.match_info["id"]).touch()
        return web.Response(status=201)

    # ssh access ------------------------------------------------------------
    def _ssh_dto(self, access: SshAccess) -> dict[str, Any]:
        host, port = self.ssh_endpoint()
        command = (
            f"ssh {access.token}@{host}" if port == 22 else f"ssh -p {port} {access.token}@{host}"
        )
        return {
            "id": access.id,
            "sandboxId": access.sandbox_id,
            "token": access.token,
            "expiresAt": iso(access.expires_at),
            "createdAt": iso(access.created_at),
            "updatedAt": iso(access.created_at),
            "sshCommand": command,
        }

    async def create_ssh(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        raw = request.query.get("expiresInMinutes")
        minutes: float = self.service.config.ssh_token_minutes
        if raw:
            try:
                minutes = float(raw)
            except ValueError as exc:
                raise bad_request("expiresInMinutes must be a number") from exc
            if minutes <= 0:
                raise bad_request("expiresInMinutes must be positive")
        access = self.store.create_ssh_access(sandbox.id, minutes)
        return _json(self._ssh_dto(access))

    async def validate_ssh(self, request: web.Request) -> web.Response:
        token = request.query.get("token", "")
        access = self.store.ssh_access_for(token)
        if access is None:
            # The real API sends sandboxId null here, which the SDK cannot parse; an empty
            # string keeps `valid=False` readable.
            return _json({"valid": False, "sandboxId": ""})
        return _json({"valid": True, "sandboxId": access.sandbox_id})

    async def revoke_ssh(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        # SDK 0.226 sends no token (it lands in a header by mistake): revoke all, like the server.
        self.store.revoke_ssh_access(sandbox.id, request.query.get("token") or None)
        return _json(sandbox.to_dto())

    # previews --------------------------------------------------------------
    def _port(self, request: web.Request) -> int:
        try:
            port = int(request.match_info["port"])
        except ValueError as exc:
            raise bad_request("Invalid port") from exc
        if not 1 <= port <= 65535:
            raise bad_request("Invalid port")
        return port

    async def preview_url(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        port = self._port(request)
        url = f"{self.preview_base()}/{port}-{sandbox.id}"
        return _json({"sandboxId": sandbox.id, "url": url, "token": sandbox.preview_token})

    async def signed_preview_url(self, request: web.Request) -> web.Response:
        sandbox = self.store.get(request.match_info["id"])
        port = self._port(request)
        raw = request.query.get("expiresInSeconds")
        seconds = self.service.config.signed_preview_seconds
        if raw is not None:
            try:
                seconds = int(raw)
            except ValueError as exc:  # the real API computes with NaN and fails later
                raise bad_request("expiresInSeconds must be an integer") from exc
        if not 1 <= seconds <= 86400:
            raise bad_request("expiresInSeconds must be between 1 second and 24 hours")
        token = random_token(16, LOWER_ALNUM)
        with self.store.lock:
            self.store.signed_previews[token] = SignedPreview(
                sandbox.id, port, token, time.time() + seconds
            )
        url = f"{self.preview_base()}/{port}-{token}"
        return _json({"sandboxId": sandbox.id, "port": port, "token": token, "url": url})

    async def expire_signed_preview(self, request: web.Request) -> web.Response:
        """The real API deletes the key ``<port>:<token>`` and answers 200 whether or not it
        existed (and whichever sandbox it was for); only an unknown sandbox is a 404."""
        self.store.get(request.match_info["id"])
        port = self._port(request)
        with self.store.lock:
            signed = self.store.signed_previews.get(request.match_info["token"])
            if signed is not None and signed.port == port:
                signed.expired = True
        return web.Response(status=200)

    # snapshots -------------------------------------------------------------
    async def list_snapshots(self, request: web.Request) -> web.Response:
        """`GET /snapshots` (snapshot.controller.ts getAllSnapshots): the organization's
        snapshots and the general ones (general last), `name` a partial match, sorted by
        `sort`/`order`; `sourceSandboxId` is the 0.226 SDK's filter."""
        org = self.service.config.organization_id
        query = request.query
        page = _page_number(query.get("page", "1"), "page", minimum=1)
        limit = _page_number(query.get("limit", "100"), "limit", minimum=1, maximum=200)
        sort = query.get("sort", "lastUsedAt")
        if sort not in _SNAPSHOT_SORT:
            raise bad_request(
                "sort must be one of the following values: " + ", ".join(_SNAPSHOT_SORT)
            )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("order must be one of the following values: asc, desc")
        with self.store.lock:
            records = list(self.store.snapshots.values())
        name = query.get("name")
        if name:
            records = [r for r in records if name.lower() in r.name.lower()]
        source = query.get("sourceSandboxId")
        if source:
            records = [r for r in records if r.source_sandbox_id == source]
        key = _SNAPSHOT_SORT[sort]
        present = sorted((r for r in records if key(r) is not None), key=key)
        if order == "desc":
            present.reverse()
        records = present + [r for r in records if key(r) is None]  # nulls last
        records.sort(key=lambda r: r.general)  # general snapshots last
        chunk = records[(page - 1) * limit : page * limit]
        return _json(
            {
                "items": [r.to_dto(org) for r in chunk],
                "total": len(records),
                "page": page,
                "totalPages": -(-len(records) // limit),
            }
        )

    async def get_snapshot(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        record = self.service._find_snapshot(ident)
        if record is None:
            raise ApiError(404, f"Snapshot {ident} not found")
        return _json(record.to_dto(self.service.config.organization_id))

    async def delete_snapshot(self, request: web.Request) -> web.Response:
        """The access guard finds the snapshot by id, else by name in the organization (404
        "Snapshot with name X not found"); a general snapshot belongs to another organization
        (404); then the route takes only a UUID (400), as `ParseUUIDPipe` does."""
        ident = request.match_info["id"]
        with self.store.lock:
            record = next((r for r in self.store.snapshots.values() if r.id == ident), None)
            if record is None:
                record = self.store.snapshots.get(ident)
                if record is None:
                    raise ApiError(404, f"Snapshot with name {ident} not found")
        if record.general:
            raise ApiError(404, f"Snapshot with ID or name {ident} not found")
        if not _is_uuid(ident):
            raise bad_request("Validation failed (uuid is expected)")
        await self.service.delete_snapshot(record)
        return web.Response(status=200)

    async def regions(self, request: web.Request) -> web.Response:
        return _json([{"id": r, "name": r} for r in self.service.config.regions])
