"""Sandbox records, SSH tokens and signed preview tokens, plus list filtering and paging."""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError, bad_request, not_found

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits

# States in which a sandbox is settled (not in a transition).
# Activity as the real API records it (apps/api/src/sandbox/services/sandbox-activity.service.ts):
# a touch within the throttle of the last accepted one is dropped; accepted ones wait in a buffer
# (Redis there) that a flush every 10 s writes to ``lastActivityAt``, which is what the sandbox DTO
# shows and what the auto-stop check reads.
ACTIVITY_THROTTLE_SECONDS = 5.0  # SANDBOX_ACTIVITY_THROTTLE_TTL_SECONDS
ACTIVITY_FLUSH_SECONDS = 10.0  # the flush-activity-to-db cron

STABLE_STATES = frozenset({"started", "stopped", "archived", "error", "build_failed", "paused"})


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def random_token(length: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class SshAccess:
    id: str
    sandbox_id: str
    token: str
    created_at: float
    expires_at: float
    revoked: bool = False

    def valid(self, now: float | None = None) -> bool:
        return not self.revoked and (now or time.time()) < self.expires_at


@dataclass
class SignedPreview:
    sandbox_id: str
    port: int
    token: str
    expires_at: float
    expired: bool = False

    def valid(self, now: float | None = None) -> bool:
        return not self.expired and (now or time.time()) < self.expires_at


@dataclass
class Sandbox:
    id: str
    name: str
    organization_id: str
    user: str
    target: str
    cpu: int
    gpu: int
    memory: int
    disk: int
    toolbox_proxy_url: str
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    public: bool = False
    network_block_all: bool = False
    network_allow_list: str | None = None
    snapshot: str | None = None
    build_info: dict[str, Any] | None = None
    volumes: list[dict[str, Any]] = field(default_factory=list)
    state: str = "creating"
    desired_state: str = "started"
    error_reason: str | None = None
    auto_stop_interval: int = 15
    auto_archive_interval: int = 7 * 24 * 60
    auto_delete_interval: int = -1
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_activity_at: float = field(default_factory=time.time)
    pending_activity_at: float | None = None  # accepted, not flushed yet
    activity_throttled_until: float = 0.0
    stopped_at: float | None = None
    # runtime side
    image: str = ""
    container_id: str | None = None
    ssh_port: int | None = None
    preview_token: str = field(default_factory=lambda: random_token(32, LOWER_ALNUM))

    def set_state(self, state: str) -> None:
        self.state = state
        self.updated_at = time.time()
        if state == "stopped":
            self.stopped_at = self.updated_at

    def touch(self, *, at_once: bool = False) -> None:
        """Activity now: buffered and throttled like the real API; ``at_once`` writes it
        through (a start, which must not be stopped for the idle time before it)."""
        now = time.time()
        if at_once:
            self.last_activity_at = now
            self.pending_activity_at = None
            return
        if now < self.activity_throttled_until:
            return
        self.activity_throttled_until = now + ACTIVITY_THROTTLE_SECONDS
        self.pending_activity_at = now

    def flush_activity(self) -> None:
        if self.pending_activity_at is not None:
            self.last_activity_at = max(self.last_activity_at, self.pending_activity_at)
            self.pending_activity_at = None

    @property
    def in_transition(self) -> bool:
        return self.state not in STABLE_STATES

    def to_dto(self, *, list_item: bool = False) -> dict[str, Any]:
        dto: dict[str, Any] = {
            "id": self.id,
            "organizationId": self.organization_id,
            "name": self.name,
            "snapshot": self.snapshot,
            "user": self.user,
            "labels": dict(self.labels),
            "public": self.public,
            "networkBlockAll": self.network_block_all,
            "target": self.target,
            "cpu": self.cpu,
            "gpu": self.gpu,
            "memory": self.memory,
            "disk": self.disk,
            "state": self.state,
            "desiredState": self.desired_state,
            "errorReason": self.error_reason,
            "recoverable": False if self.error_reason else None,
            "backupState": "None",
            "autoStopInterval": self.auto_stop_interval,
            "autoArchiveInterval": self.auto_archive_interval,
            "autoDeleteInterval": self.auto_delete_interval,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "lastActivityAt": iso(self.last_activity_at),
            "sandboxClass": "small",
            "daemonVersion": "emulator",
            "runnerId": "emulator-runner",
            "toolboxProxyUrl": self.toolbox_proxy_url,
        }
        if self.network_allow_list is not None:
            dto["networkAllowList"] = self.network_allow_list
        if not list_item:
            dto["env"] = dict(self.env)
            dto["kvm"] = False
            dto["volumes"] = [dict(v) for v in self.volumes]
            if self.build_info is not None:
                dto["buildInfo"] = dict(self.build_info)
        return {k: v for k, v in dto.items() if v is not None}


GENERAL_ORGANIZATION = "daytona-general"  # general snapshots belong to no user organization


@dataclass
class SnapshotRecord:
    """A named image template (an image tag on the local engine).

    General snapshots (the default one) are shared with every organization and owned by none
    of them; the others belong to the emulator's organization. A snapshot captured from a
    sandbox has no ``imageName`` (only a ``ref``), as on the real API."""

    id: str
    name: str
    image: str
    cpu: int
    memory: int
    disk: int
    general: bool = False
    state: str = "active"
    source_sandbox_id: str | None = None
    region: str | None = None
    image_name: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_used_at: float | None = None

    def set_state(self, state: str) -> None:
        self.state = state
        self.updated_at = time.time()

    def to_dto(self, organization_id: str) -> dict[str, Any]:
        dto = {
            "id": self.id,
            "organizationId": GENERAL_ORGANIZATION if self.general else organization_id,
            "general": self.general,
            "name": self.name,
            "imageName": self.image_name,
            "state": self.state,
            "size": None,
            "entrypoint": None,
            "cpu": self.cpu,
            "gpu": 0,
            "mem": self.memory,
            "disk": self.disk,
            "errorReason": None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "lastUsedAt": iso(self.last_used_at) if self.last_used_at else None,
            "ref": self.image,
            "sourceSandboxId": self.source_sandbox_id,
        }
        if self.region:
            dto["regionIds"] = [self.region]
        return dto


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


def _encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError) as exc:
        raise bad_request("Invalid cursor") from exc
    if not isinstance(value, list) or len(value) != 2:
        raise bad_request("Invalid cursor")
    return value


_SORT_FIELDS: dict[str, Callable[[Sandbox], Any]] = {
    "createdAt": lambda s: s.created_at,
    "updatedAt": lambda s: s.updated_at,
    "lastActivityAt": lambda s: s.last_activity_at,
    "name": lambda s: s.name,
    "state": lambda s: s.state,
    "cpu": lambda s: s.cpu,
    "memoryGiB": lambda s: s.memory,
    "diskGiB": lambda s: s.disk,
}


class Store:
    """All emulator state. Guarded by a lock because sync helpers read it from other threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sandboxes: dict[str, Sandbox] = {}
        self.ssh_access: dict[str, SshAccess] = {}
        self.signed_previews: dict[str, SignedPreview] = {}
        self.snapshots: dict[str, SnapshotRecord] = {}

    # sandboxes -----------------------------------------------------------
    def new_id(self) -> str:
        return str(uuid.uuid4())

    def add(self, sandbox: Sandbox) -> None:
        with self.lock:
            if any(s.name == sandbox.name for s in self.sandboxes.values()):
                raise ApiError(409, f"Sandbox with name {sandbox.name} already exists")
            self.sandboxes[sandbox.id] = sandbox

    def find(self, id_or_name: str) -> Sandbox | None:
        with self.lock:
            found = self.sandboxes.get(id_or_name)
            if found is None:
                found = next((s for s in self.sandboxes.values() if s.name == id_or_name), None)
            return found

    def get(self, id_or_name: str) -> Sandbox:
        found = self.find(id_or_name)
        if found is None:
            raise not_found(id_or_name)
        return found

    def remove(self, sandbox_id: str) -> None:
        with self.lock:
            self.sandboxes.pop(sandbox_id, None)
            for token, access in list(self.ssh_access.items()):
                if access.sandbox_id == sandbox_id:
                    del self.ssh_access[token]
            for token, signed in list(self.signed_previews.items()):
                if signed.sandbox_id == sandbox_id:
                    del self.signed_previews[token]

    def all(self) -> list[Sandbox]:
        with self.lock:
            return list(self.sandboxes.values())

    def list_page(
        self, query: Mapping[str, str], multi: Mapping[str, list[str]], default_limit: int
    ) -> tuple[list[Sandbox], str | None]:
        items = [s for s in self.all() if _matches(s, query, multi)]
        sort_field = query.get("sort", "createdAt")
        if sort_field not in _SORT_FIELDS:
            raise bad_request(f"Invalid sort field {sort_field}")
        descending = query.get("order", "desc").lower() == "desc"
        keyfn = _SORT_FIELDS[sort_field]
        items.sort(key=lambda s: (keyfn(s), s.id), reverse=descending)
        cursor = query.get("cursor")
        if cursor:
            after = _decode_cursor(cursor)
            after_key = (after[0], after[1])
            if descending:
                items = [s for s in items if (keyfn(s), s.id) < after_key]
            else:
                items = [s for s in items if (keyfn(s), s.id) > after_key]
        try:
            limit = int(query.get("limit", default_limit))
        except ValueError as exc:
            raise bad_request("limit must be an integer") from exc
        if limit < 1 or limit > 200:
            raise bad_request("limit must not be less than 1, limit must not be greater than 200")
        page = items[:limit]
        next_cursor = None
        if len(items) > limit:
            last = page[-1]
            next_cursor = _encode_cursor([keyfn(last), last.id])
        return page, next_cursor

    # ssh access ----------------------------------------------------------
    def create_ssh_access(self, sandbox_id: str, minutes: float) -> SshAccess:
        now = time.time()
        with self.lock:
            # The real API revokes every older token of the sandbox.
            for access in self.ssh_access.values():
                if access.sandbox_id == sandbox_id:
                    access.revoked = True
            access = SshAccess(
                id=str(uuid.uuid4()),
                sandbox_id=sandbox_id,
                token=random_token(32),
                created_at=now,
                expires_at=now + minutes * 60,
            )
            self.ssh_access[access.token] = access
            return access

    def revoke_ssh_access(self, sandbox_id: str, token: str | None) -> None:
        with self.lock:
            for access in self.ssh_access.values():
                if access.sandbox_id == sandbox_id and (token is None or access.token == token):
                    access.revoked = True

    def expire_ssh_tokens(self, sandbox_id: str | None = None) -> int:
        count = 0
        with self.lock:
            for access in self.ssh_access.values():
                if sandbox_id is None or access.sandbox_id == sandbox_id:
                    access.expires_at = min(access.expires_at, time.time() - 1)
                    count += 1
        return count

    def ssh_access_for(self, token: str) -> SshAccess | None:
        with self.lock:
            access = self.ssh_access.get(token)
            return access if access is not None and access.valid() else None


def _labels_filter(raw: str) -> dict[str, str]:
    try:
        labels = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_request("labels must be a JSON object") from exc
    if not isinstance(labels, dict):
        raise bad_request("labels must be a JSON object")
    return {str(k): str(v) for k, v in labels.items()}


def _in_range(value: float, query: Mapping[str, str], low: str, high: str) -> bool:
    if low in query and value < float(query[low]):
        return False
    return not (high in query and value > float(query[high]))


def _matches(s: Sandbox, query: Mapping[str, str], multi: Mapping[str, list[str]]) -> bool:
    if "labels" in query:
        wanted = _labels_filter(query["labels"])
        if any(s.labels.get(k) != v for k, v in wanted.items()):
            return False
    checks: Iterable[bool] = (
        "id" not in query or s.id.startswith(query["id"]),
        "name" not in query or s.name.startswith(query["name"]),
        not multi.get("states") or s.state in multi["states"],
        not multi.get("regionIds") or s.target in multi["regionIds"],
        not multi.get("snapshots") or (s.snapshot or "") in multi["snapshots"],
        "isPublic" not in query or s.public == _truthy(query["isPublic"]),
        _in_range(s.cpu, query, "minCpu", "maxCpu"),
        _in_range(s.memory, query, "minMemoryGiB", "maxMemoryGiB"),
        _in_range(s.disk, query, "minDiskGiB", "maxDiskGiB"),
        _in_range(s.gpu, query, "minGpu", "maxGpu"),
    )
    return all(checks)
