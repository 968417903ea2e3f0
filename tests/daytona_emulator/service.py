"""Sandbox lifecycle: validation, state transitions, containers, auto-stop/delete/archive."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from .config import EmulatorConfig
from .errors import ApiError, bad_request
from .faults import FaultInjector
from .runtime import DockerRuntime, RuntimeFailure
from .state import (
    ACTIVITY_FLUSH_SECONDS,
    LOWER_ALNUM,
    Sandbox,
    SnapshotRecord,
    Store,
    iso,
    random_token,
)
from .upstream import Upstream

log = logging.getLogger(__name__)

UPGRADE_MESSAGE = "To increase concurrency limits, upgrade your organization's Tier."
PER_SANDBOX_MESSAGE = "Need higher resource limits? Contact support."
RUNNING_STATES = frozenset({"creating", "starting", "started", "stopping", "restoring"})


def _int_field(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{key} must be a number")
    return int(value)


# apps/api/src/common/validators/is-safe-string.validator.ts (snapshot and sandbox names)
_HTML_TAG = re.compile(r"<[a-zA-Z/][^>]*>?")
_URL = re.compile(
    r"https?://|ftps?://|sftp://|ssh://|wss?://|file://|ldaps?://|javascript:|data:|mailto:|"
    r"tel:|www\.",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _safe_display_string(value: str) -> bool:
    return not (_HTML_TAG.search(value) or _URL.search(value) or _CONTROL.search(value))


def _str_map(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"{key} must be an object of strings")
    return {str(k): v for k, v in value.items()}


class SandboxService:
    def __init__(
        self,
        config: EmulatorConfig,
        store: Store,
        runtime: DockerRuntime,
        upstream: Upstream,
        faults: FaultInjector,
        image: str,
        toolbox_url: Callable[[], str],
    ) -> None:
        self.config = config
        self.store = store
        self.runtime = runtime
        self.upstream = upstream
        self.faults = faults
        self.image = image
        self.toolbox_url = toolbox_url
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.snapshot_images: list[str] = []
        self.forget_hooks: list[Callable[[str], None]] = []
        # "is someone using this sandbox right now?" (open SSH sessions keep it awake)
        self.activity_probes: list[Callable[[str], bool]] = []
        self._activity_flushed_at = 0.0
        default = SnapshotRecord(
            id=str(uuid.uuid4()),
            name=config.default_snapshot,
            image=image,
            cpu=config.default_cpu,
            memory=config.default_memory,
            disk=config.default_disk,
            general=True,
            image_name=config.default_snapshot,
        )
        store.snapshots[default.name] = default

    # helpers ----------------------------------------------------------------
    def forget(self, sandbox_id: str) -> None:
        """Drop every connection into a sandbox that stops or goes away."""
        self.upstream.forget(sandbox_id)
        for hook in self.forget_hooks:
            hook(sandbox_id)

    def _delay(self) -> float:
        delay = self.faults.transition_delay
        return self.config.transition_delay if delay is None else delay

    async def _sleep_delay(self) -> None:
        delay = self._delay()
        if delay > 0:
            await asyncio.sleep(delay)

    def _spawn(self, sandbox: Sandbox, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        previous = self.tasks.get(sandbox.id)

        async def runner() -> None:
            if previous is not None and not previous.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await previous
            try:
                await work()
            except Exception as exc:  # the sandbox goes to `error`, like a failed runner job
                log.warning("sandbox %s transition failed: %s", sandbox.id, exc)
                if sandbox.state not in ("destroying", "destroyed"):
                    sandbox.error_reason = str(exc)
                    sandbox.set_state("error")

        task = asyncio.get_running_loop().create_task(runner())
        self.tasks[sandbox.id] = task
        return task

    async def _wait(self, task: asyncio.Task[None], timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout)

    def _validate_region(self, target: str | None) -> str:
        region = (target or "").strip() or self.config.default_region
        if region not in self.config.regions:
            raise ApiError(404, "Region not found")
        if region in self.faults.regions_unavailable:
            raise bad_request("No available runners")
        return region

    def _validate_quota(self, cpu: int, memory: int, disk: int, exclude: str | None = None) -> None:
        quota = self.config.quota
        if cpu > quota.max_cpu_per_sandbox:
            raise ApiError(
                403,
                f"CPU request {cpu} exceeds maximum allowed per sandbox "
                f"({quota.max_cpu_per_sandbox}).\n{PER_SANDBOX_MESSAGE}",
            )
        if memory > quota.max_memory_per_sandbox:
            raise ApiError(
                403,
                f"Memory request {memory}GB exceeds maximum allowed per sandbox "
                f"({quota.max_memory_per_sandbox}GB).\n{PER_SANDBOX_MESSAGE}",
            )
        if disk > quota.max_disk_per_sandbox:
            raise ApiError(
                403,
                f"Disk request {disk}GB exceeds maximum allowed per sandbox "
                f"({quota.max_disk_per_sandbox}GB).\n{PER_SANDBOX_MESSAGE}",
            )
        running = [s for s in self.store.all() if s.state in RUNNING_STATES and s.id != exclude]
        forced = self.faults.quota_exceeded
        used_cpu = sum(s.cpu for s in running) + cpu
        used_mem = sum(s.memory for s in running) + memory
        used_disk = sum(s.disk for s in self.store.all() if s.id != exclude) + disk
        if forced == "cpu" or (quota.total_cpu is not None and used_cpu > quota.total_cpu):
            limit = quota.total_cpu if quota.total_cpu is not None else used_cpu - cpu
            raise ApiError(
                403, f"Total CPU limit exceeded. Maximum allowed: {limit}.\n{UPGRADE_MESSAGE}"
            )
        if forced == "memory" or (quota.total_memory is not None and used_mem > quota.total_memory):
            limit = quota.total_memory if quota.total_memory is not None else used_mem - memory
            raise ApiError(
                403,
                f"Total memory limit exceeded. Maximum allowed: {limit}GiB.\n{UPGRADE_MESSAGE}",
            )
        if forced == "disk" or (quota.total_disk is not None and used_disk > quota.total_disk):
            limit = quota.total_disk if quota.total_disk is not None else used_disk - disk
            raise ApiError(
                403,
                f"Total disk limit exceeded. Maximum allowed: {limit}GiB.\n"
                f"Consider archiving your unused Sandboxes to free up available storage.\n"
                f"{UPGRADE_MESSAGE}",
            )

    # create -------------------------------------------------------------------
    async def create(self, body: dict[str, Any]) -> Sandbox:
        region = self._validate_region(body.get("target"))
        env = _str_map(body, "env")
        labels = _str_map(body, "labels")
        resources = {k: _int_field(body, k) for k in ("cpu", "memory", "disk", "gpu")}
        build_info = body.get("buildInfo")
        snapshot_name: str | None = None
        now = time.time()
        if build_info is not None:
            if not isinstance(build_info, dict) or not build_info.get("dockerfileContent"):
                raise bad_request("buildInfo.dockerfileContent is required")
            content = str(build_info["dockerfileContent"])
            hashes = [str(h) for h in build_info.get("contextHashes") or []]
            ref = hashlib.sha256((content + "".join(hashes)).encode()).hexdigest()
            build_dto: dict[str, Any] | None = {
                "dockerfileContent": content,
                "contextHashes": hashes,
                "createdAt": iso(now),
                "updatedAt": iso(now),
                "snapshotRef": f"daytona-emulator/build:{ref[:16]}",
            }
            image = self.image
            cpu = resources["cpu"] or self.config.default_cpu
            memory = resources["memory"] or self.config.default_memory
            disk = resources["disk"] or self.config.default_disk
            gpu = resources["gpu"] or 0
        else:
            if any(v is not None for v in resources.values()):
                raise bad_request("Cannot specify Sandbox resources when using a snapshot")
            snapshot_name = (body.get("snapshot") or "").strip() or self.config.default_snapshot
            snap = self._find_snapshot(snapshot_name)
            if snap is None:
                raise bad_request(
                    f"Snapshot {snapshot_name} not found. Did you add it through the Daytona "
                    "Dashboard?"
                )
            if snap.state != "active":
                raise bad_request(f"Snapshot {snapshot_name} is {snap.state}")
            snap.last_used_at = now
            build_dto = None
            image, cpu, memory, disk, gpu = snap.image, snap.cpu, snap.memory, snap.disk, 0
        self._validate_quota(cpu, memory, disk)

        sandbox_id = self.store.new_id()
        auto_stop = _int_field(body, "autoStopInterval")
        auto_archive = _int_field(body, "autoArchiveInterval")
        auto_delete = _int_field(body, "autoDeleteInterval")
        volumes = body.get("volumes") or []
        if volumes:
            raise bad_request("Volumes are not supported by the emulator")
        sandbox = Sandbox(
            id=sandbox_id,
            name=(body.get("name") or "").strip() or sandbox_id,
            organization_id=self.config.organization_id,
            user=body.get("user") or self.config.default_user,
            target=region,
            cpu=cpu,
            gpu=gpu,
            memory=memory,
            disk=disk,
            toolbox_proxy_url=self.toolbox_url(),
            env=env,
            labels=labels,
            public=bool(body.get("public", False)),
            network_block_all=bool(body.get("networkBlockAll", False)),
            network_allow_list=body.get("networkAllowList"),
            snapshot=snapshot_name,
            build_info=build_dto,
            auto_stop_interval=(
                self.config.default_auto_stop_minutes if auto_stop is None else auto_stop
            ),
            auto_archive_interval=(
                self.config.default_auto_archive_minutes if auto_archive is None else auto_archive
            ),
            auto_delete_interval=-1 if auto_delete is None else auto_delete,
            state="pending_build" if build_dto else "creating",
            image=image,
        )
        if sandbox.user != self.config.default_user:
            raise bad_request(f"User {sandbox.user} does not exist in the emulator image")
        self.store.add(sandbox)

        async def work() -> None:
            if build_dto is not None:
                await self._sleep_delay()
                sandbox.set_state("building_snapshot")
                await self._sleep_delay()
                sandbox.set_state("creating")
            await self._sleep_delay()
            sandbox.container_id = await asyncio.to_thread(
                self.runtime.create,
                sandbox.id,
                sandbox.image,
                env=sandbox.env,
                cpu=sandbox.cpu,
                memory_gib=sandbox.memory,
                binds=dict(self.config.bind_mounts),
            )
            await self._boot(sandbox)

        task = self._spawn(sandbox, work)
        if build_dto is None:  # the real API answers image builds at once
            await self._wait(task, self.config.create_wait_seconds)
        return sandbox

    def _find_snapshot(self, name_or_id: str) -> SnapshotRecord | None:
        with self.store.lock:
            found = self.store.snapshots.get(name_or_id)
            if found is None:
                found = next((s for s in self.store.snapshots.values() if s.id == name_or_id), None)
            return found

    async def _boot(self, sandbox: Sandbox) -> None:
        assert sandbox.container_id is not None
        port = await asyncio.to_thread(self.runtime.start, sandbox.container_id)
        await self.upstream.wait_ready(port, sandbox.user)
        sandbox.ssh_port = port
        sandbox.error_reason = None
        sandbox.touch(at_once=True)
        sandbox.set_state("started")

    # start / stop / archive / delete -------------------------------------------
    def _check_settled(self, sandbox: Sandbox) -> None:
        if sandbox.in_transition:
            raise ApiError(409, "Sandbox state change in progress")

    async def start(self, sandbox: Sandbox) -> Sandbox:
        if sandbox.state == "started":
            return sandbox
        self._check_settled(sandbox)
        if sandbox.state not in ("stopped", "archived"):
            raise bad_request("Sandbox is not in a startable state")
        self._validate_quota(sandbox.cpu, sandbox.memory, sandbox.disk, exclude=sandbox.id)
        sandbox.desired_state = "started"
        sandbox.set_state("restoring" if sandbox.state == "archived" else "starting")
        sandbox.preview_token = random_token(32, LOWER_ALNUM)  # rotates on restart

        async def work() -> None:
            await self._sleep_delay()
            await self._boot(sandbox)

        await self._wait(self._spawn(sandbox, work), self.config.create_wait_seconds)
        return sandbox

    async def stop(self, sandbox: Sandbox, *, force: bool = False) -> Sandbox:
        if sandbox.state not in ("started", "paused"):
            if sandbox.in_transition:
                raise ApiError(409, "Sandbox state change in progress")
            raise bad_request("Sandbox is not in a stoppable state")
        sandbox.desired_state = "stopped"
        sandbox.set_state("stopping")

        async def work() -> None:
            await self._sleep_delay()
            self.forget(sandbox.id)
            if sandbox.container_id:
                await asyncio.to_thread(self.runtime.stop, sandbox.container_id, force=force)
            sandbox.ssh_port = None
            sandbox.set_state("stopped")
            if sandbox.auto_delete_interval == 0:
                await self._destroy(sandbox)

        self._spawn(sandbox, work)
        return sandbox

    async def archive(self, sandbox: Sandbox) -> Sandbox:
        self._check_settled(sandbox)
        if sandbox.state != "stopped":
            raise bad_request("Sandbox is not stopped")
        if sandbox.auto_delete_interval == 0:
            raise bad_request("Ephemeral sandboxes cannot be archived")
        sandbox.desired_state = "archived"
        sandbox.set_state("archiving")

        async def work() -> None:
            await self._sleep_delay()
            sandbox.set_state("archived")

        self._spawn(sandbox, work)
        return sandbox

    async def delete(self, sandbox: Sandbox) -> Sandbox:
        if sandbox.state in ("destroying", "destroyed"):
            return sandbox
        sandbox.desired_state = "destroyed"
        previous = sandbox.state
        sandbox.set_state("destroying")

        async def work() -> None:
            await self._destroy(sandbox)

        # a transition already running finishes first (its container must not leak)
        if previous in ("creating", "starting", "stopping", "restoring", "pending_build"):
            log.info("deleting sandbox %s while %s", sandbox.id, previous)
        self._spawn(sandbox, work)
        return sandbox

    async def _destroy(self, sandbox: Sandbox) -> None:
        sandbox.desired_state = "destroyed"
        sandbox.set_state("destroying")
        await self._sleep_delay()
        self.forget(sandbox.id)
        if sandbox.container_id:
            await asyncio.to_thread(self.runtime.remove, sandbox.container_id)
        sandbox.set_state("destroyed")
        self.store.remove(sandbox.id)

    async def snapshot(
        self, sandbox: Sandbox, name: object, *, include_memory: object = None
    ) -> Sandbox:
        """`POST /sandbox/{id}/snapshot`, as the real API (sandbox.service.ts
        createSnapshotFromSandbox): answered at once in `snapshotting`; the runner commits the
        container in the background, the snapshot is persisted `active`, and the sandbox goes
        back to its previous state. A failure there (a name already taken) is only logged: the
        sandbox goes back all the same and no snapshot appears."""
        if not isinstance(name, str):
            raise bad_request("name must be a string")
        if not _safe_display_string(name):
            raise bad_request("name must not contain HTML tags, URLs, or control characters")
        if include_memory is not None and not isinstance(include_memory, bool):
            raise bad_request("includeMemory must be a boolean value")
        if sandbox.state not in ("started", "stopped"):
            raise bad_request("Sandbox must be in started or stopped state to create a snapshot")
        if include_memory:
            raise bad_request("includeMemory is only supported for Windows sandboxes")
        previous = sandbox.state
        sandbox.set_state("snapshotting")

        async def work() -> None:
            try:
                await self._sleep_delay()
                assert sandbox.container_id is not None
                # docker commit pauses a running container, as the runner does
                tag = uuid.uuid4().hex[:16]
                repo = f"nexus-daytona-emu-snapshot-{self.runtime.instance_id[:8]}"
                image = await asyncio.to_thread(
                    self.runtime.commit, sandbox.container_id, repo, tag
                )
                self.snapshot_images.append(image)
                with self.store.lock:
                    taken = name in self.store.snapshots
                    if not taken:
                        self.store.snapshots[name] = SnapshotRecord(
                            id=str(uuid.uuid4()),
                            name=name,
                            image=image,
                            cpu=sandbox.cpu,
                            memory=sandbox.memory,
                            disk=sandbox.disk,
                            source_sandbox_id=sandbox.id,
                            region=sandbox.target,
                            last_used_at=time.time(),
                        )
                if taken:
                    log.warning("snapshot of sandbox %s: name %s already exists", sandbox.id, name)
                    await asyncio.to_thread(self._remove_image, image)
            except Exception:
                log.exception("snapshot of sandbox %s failed", sandbox.id)
            if sandbox.state == "snapshotting":
                sandbox.set_state(previous)

        self._spawn(sandbox, work)
        return sandbox

    def _remove_image(self, image: str) -> None:
        """Untag a snapshot's image (containers started from it keep running)."""
        import docker.errors

        try:
            self.runtime.client.images.remove(image, force=True)
        except docker.errors.DockerException as exc:
            log.info("cannot remove snapshot image %s: %s", image, exc)

    async def delete_snapshot(self, record: SnapshotRecord) -> None:
        """`DELETE /snapshots/{id}`: the snapshot goes `removing`; a cleanup job removes it
        (the real one runs every 10 s) along with its image. Sandboxes started from it keep
        running."""
        if record.general:
            raise ApiError(403, "You cannot delete a general snapshot")
        record.set_state("removing")

        async def cleanup() -> None:
            await self._sleep_delay()
            with self.store.lock:
                if self.store.snapshots.get(record.name) is record:
                    del self.store.snapshots[record.name]
            if record.image in self.snapshot_images:
                self.snapshot_images.remove(record.image)
                await asyncio.to_thread(self._remove_image, record.image)

        task = asyncio.get_running_loop().create_task(cleanup())
        self.tasks[f"snapshot-{record.id}"] = task

    # auto-stop / auto-archive / auto-delete -------------------------------------
    def start_reaper(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.reaper_interval)
            try:
                await self.reap_once()
            except Exception:
                log.exception("reaper failed")

    async def reap_once(self) -> None:
        now = time.time()
        minute = self.config.minute_seconds
        flush = now - self._activity_flushed_at >= ACTIVITY_FLUSH_SECONDS
        if flush:
            self._activity_flushed_at = now
        for sandbox in self.store.all():
            if flush:
                sandbox.flush_activity()
            with contextlib.suppress(ApiError):  # a user action may have raced us
                await self._reap(sandbox, now, minute)

    async def _reap(self, sandbox: Sandbox, now: float, minute: float) -> None:
        if sandbox.state == "started" and sandbox.auto_stop_interval > 0:
            if any(probe(sandbox.id) for probe in self.activity_probes):
                sandbox.touch()
            elif now - sandbox.last_activity_at > sandbox.auto_stop_interval * minute:
                await self.stop(sandbox)
        elif sandbox.state == "stopped" and sandbox.stopped_at is not None:
            stopped_for = now - sandbox.stopped_at
            if sandbox.auto_delete_interval > 0 and stopped_for > (
                sandbox.auto_delete_interval * minute
            ):
                await self.delete(sandbox)
            elif sandbox.auto_archive_interval > 0 and stopped_for > (
                sandbox.auto_archive_interval * minute
            ):
                await self.archive(sandbox)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        pending = [t for t in self.tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=30)

    # toolbox helpers ---------------------------------------------------------
    def require_started(self, sandbox: Sandbox) -> str:
        if sandbox.state != "started" or not sandbox.container_id:
            raise ApiError(
                400, f"Sandbox {sandbox.id} is not started (state: {sandbox.state})", code=None
            )
        sandbox.touch()
        return sandbox.container_id

    async def exec(
        self,
        sandbox: Sandbox,
        argv: list[str],
        *,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        container_id = self.require_started(sandbox)
        try:
            result = await asyncio.to_thread(
                self.runtime.exec, container_id, argv, user=sandbox.user, workdir=workdir, env=env
            )
        except RuntimeFailure as exc:
            raise ApiError(400, str(exc), code="BAD_REQUEST", source="DAYTONA_DAEMON") from exc
        return result.exit_code, result.output
