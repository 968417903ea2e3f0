"""The emulator: an aiohttp server (`/api`, `/toolbox`, `/preview`, `/_emulator`) + SSH gateway."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
from aiohttp import web

from .admin import AdminRoutes
from .api_routes import ApiRoutes
from .config import EmulatorConfig
from .errors import SOURCE_PROXY, ApiError
from .faults import FaultInjector
from .gateway import SshGateway
from .image import ensure_image
from .preview import PreviewProxy
from .runtime import DockerRuntime
from .service import SandboxService
from .state import Store
from .toolbox_routes import ToolboxRoutes
from .upstream import Upstream

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Emulator:
    """A local Daytona API. Use as ``async with Emulator() as emu: ... emu.api_url``.

    Args:
        api_key: the key clients must send as ``Authorization: Bearer``; random if omitted.
        docker_client: a ``docker.DockerClient``; ``docker.from_env()`` if omitted.
        config: behaviour knobs (regions, delays, quotas, ...), see ``EmulatorConfig``.
        port / ssh_port: fixed ports on 127.0.0.1 (0 = pick a free one).
        bind_mounts: ``{host_path: container_path}`` mounted read-only into every new sandbox
            (e.g. a directory of bare git repositories to clone from with ``file://``).
        image: run sandboxes from this image instead of building the shipped Dockerfile.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        docker_client: docker.DockerClient | None = None,
        config: EmulatorConfig | None = None,
        port: int = 0,
        ssh_port: int = 0,
        bind_mounts: Mapping[str, str] | None = None,
        image: str | None = None,
    ) -> None:
        self.instance_id = uuid.uuid4().hex
        self.api_key = api_key or f"dtn_emu_{secrets.token_hex(24)}"
        self.config = config or EmulatorConfig()
        for host_path, container_path in (bind_mounts or {}).items():
            self.add_bind_mount(host_path, container_path)
        self.faults = FaultInjector()
        self.store = Store()
        self._docker = docker_client
        self._own_docker = docker_client is None
        self._port = port
        self._ssh_port = ssh_port
        self._image = image
        self.port = 0
        self.upstream = Upstream()
        self.gateway = SshGateway(self.store, self.upstream, self.config, self.faults)
        self.preview = PreviewProxy(self.store, self.upstream, lambda: self.api_key)
        self._runner: web.AppRunner | None = None
        self.service: SandboxService | None = None
        self.runtime: DockerRuntime | None = None

    # URLs -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def toolbox_url(self) -> str:
        return f"{self.base_url}/toolbox"

    @property
    def preview_base_url(self) -> str:
        return f"{self.base_url}/preview"

    @property
    def ssh_host(self) -> str:
        return self.gateway.host

    @property
    def ssh_port(self) -> int:
        return self.gateway.port

    def client_env(self) -> dict[str, str]:
        """Environment for a process that should use this emulator through the SDK."""
        return {
            "DAYTONA_API_KEY": self.api_key,
            "DAYTONA_API_URL": self.api_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    # test helpers -------------------------------------------------------------
    def add_bind_mount(
        self, host_path: str | Path, container_path: str, read_only: bool = True
    ) -> None:
        """Mount a host directory into every sandbox created from now on."""
        if not container_path.startswith("/"):
            raise ValueError("container_path must be absolute")
        resolved = str(Path(host_path).resolve())
        self.config.bind_mounts[resolved] = (container_path, read_only)

    def expire_ssh_tokens(self, sandbox_id: str | None = None) -> int:
        """Make SSH access tokens (of one sandbox, or all) expire now."""
        return self.store.expire_ssh_tokens(sandbox_id)

    def container_id(self, sandbox_id: str) -> str | None:
        sandbox = self.store.find(sandbox_id)
        return sandbox.container_id if sandbox else None

    # lifecycle ------------------------------------------------------------------
    async def start(self) -> Emulator:
        if self._docker is None:
            self._docker = docker.from_env()
        if self._image is None:
            self._image = await asyncio.to_thread(ensure_image, self._docker)
        image = self._image
        self.runtime = DockerRuntime(
            self._docker,
            self.instance_id,
            self.upstream.public_key,
            enforce_limits=self.config.enforce_resource_limits,
        )
        self.service = SandboxService(
            self.config,
            self.store,
            self.runtime,
            self.upstream,
            self.faults,
            image,
            lambda: self.toolbox_url,
        )
        app = web.Application(
            middlewares=[self._error_middleware, self._auth_middleware, self._fault_middleware],
            client_max_size=1024**3,
        )
        ApiRoutes(
            self.service,
            ssh_endpoint=lambda: (self.ssh_host, self.ssh_port),
            preview_base=lambda: self.preview_base_url,
        ).register(app)
        toolbox = ToolboxRoutes(self.service)
        toolbox.register(app)
        self.service.forget_hooks.append(toolbox.sessions.forget)
        self.service.forget_hooks.append(self.gateway.drop)
        self.service.activity_probes.append(self.gateway.has_connections)
        AdminRoutes(self).register(app)
        self.preview.register(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        await self.gateway.start(LOOPBACK, self._ssh_port)
        self.service.start_reaper()
        log.info("daytona emulator %s listening on %s", self.instance_id[:8], self.base_url)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.gateway.stop()
        if self.service is not None:
            await self.service.close()
        await self.preview.close()
        await self.upstream.close()
        if self.runtime is not None:
            removed = await asyncio.to_thread(self.runtime.remove_all)
            log.info("daytona emulator removed %d containers", removed)
            for image in self.service.snapshot_images if self.service else []:
                with contextlib.suppress(docker.errors.DockerException):
                    await asyncio.to_thread(self._docker.images.remove, image, force=True)  # type: ignore[union-attr]
        if self._own_docker and self._docker is not None:
            self._docker.close()
            self._docker = None

    async def __aenter__(self) -> Emulator:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # middlewares ----------------------------------------------------------------
    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response(request)
        except web.HTTPException as exc:
            if exc.status == 404 and request.path.startswith(("/api/", "/toolbox/")):
                return ApiError(404, f"Cannot {request.method} {request.path}").response(request)
            raise
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return ApiError(400, f"Invalid request body: {exc}").response(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("emulator: unhandled error on %s %s", request.method, request.path)
            return ApiError(500, f"Internal server error: {exc}").response(request)

    def _is_authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        )

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/api/socket.io"):
            # No Socket.IO here: the SDK falls back to polling.
            return web.Response(status=404, text="Not Found")
        if path.startswith(("/api/", "/toolbox/", "/_emulator/")) and not self._is_authorized(
            request
        ):
            source = SOURCE_PROXY if path.startswith("/toolbox/") else "DAYTONA_API"
            return ApiError(401, "Unauthorized", source=source).response(request)
        return await handler(request)

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(("/api/", "/toolbox/")):
            fault = self.faults.take(request.method, request.path)
            if fault is not None:
                return fault.response(request)
        return await handler(request)

    def describe(self) -> dict[str, Any]:
        sandboxes = []
        for sandbox in self.store.all():
            dto = sandbox.to_dto()
            dto["emulator"] = {"containerId": sandbox.container_id, "sshPort": sandbox.ssh_port}
            sandboxes.append(dto)
        return {
            "instanceId": self.instance_id,
            "apiUrl": self.api_url,
            "ssh": {"host": self.ssh_host, "port": self.ssh_port},
            "sandboxes": sandboxes,
            "faults": self.faults.to_json(),
        }
