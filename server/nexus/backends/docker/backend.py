"""The Docker backend: one container per workspace, sshd published on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...asyncutil import run_blocking
from ...domain.backend import PortAllocator
from ...domain.errors import ErrorCode, NexusError
from ...domain.lsp import LanguageServerLink
from ...domain.models import (
    REMOTE_PATH,
    AutoStop,
    BackendCapabilities,
    BackendType,
    BindMount,
    CreateRequest,
    ProvisionedWorkspace,
    ProvisionKeys,
    ResourceStats,
    SSHConnection,
    Workspace,
    WorkspaceStatus,
)
from ...domain.progress import Progress
from ...domain.provider import OpContext, OperationSpec, OpParams, OpResult
from ...domain.recovery import FoundResource, RebuiltAccess
from . import engine, engine_http
from .facts import FACTS
from .image_builder import ensure_image, image_tag

SSH_USER = "nexus"
SSH_PURPOSE = "ssh"
LABEL_WORKSPACE = engine.LABEL_WORKSPACE
LABEL_INSTALLATION = engine.LABEL_INSTALLATION
LABEL_USER_PREFIX = "nexus.label."
LABEL_SSH_PORT = "nexus.ssh-port"
# on images: "workspace" (built by Nexus from a base), "cache" (a workspace committed)
LABEL_IMAGE = "nexus.image"
READY_IMAGES = frozenset({"workspace", "cache"})  # images that already are workspace images
# metadata: engine volumes a recreated container took over from its predecessor (its private
# folders), removed with the workspace as the engine removes anonymous volumes
PRIVATE_VOLUMES = "docker_private_volumes"
PORT_ATTEMPTS = 3

_STATUS = {state: WorkspaceStatus(status) for state, status in engine.STATE_STATUS.items()}


def _tar_of(files: list[tuple[str, bytes, int, int]]) -> bytes:
    """A tar of (path, content, mode, uid) entries, with parent folders, for put_archive at /."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content, mode, uid in files:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = mode
            info.uid = info.gid = uid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _gitconfig(settings: dict[str, str]) -> str:
    sections: dict[str, list[str]] = {}
    for key, value in settings.items():
        section, _, name = key.partition(".")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        sections.setdefault(section, []).append(f'\t{name} = "{escaped}"')
    return "".join(
        f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items()
    )


def _mount_spec(bind: BindMount) -> dict[str, Any]:
    """A bind in the engine's Mounts form: any character in a path (``:`` too) is taken literally,
    and a missing source is an error instead of a folder the engine creates as root."""
    if bind.source is None:  # an anonymous volume: removed with the container (remove v=True)
        return {"Type": "volume", "Target": bind.target, "ReadOnly": bind.read_only}
    return {
        "Type": "bind",
        "Source": str(bind.source),
        "Target": bind.target,
        "ReadOnly": bind.read_only,
    }


def _owner_of(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_uid, stat.st_gid


class DockerBackend:
    type = BackendType.DOCKER
    facts = FACTS

    def __init__(
        self,
        ports: PortAllocator,
        installation_id: str,
        *,
        base_image: str = "debian:bookworm-slim",
        host: str | None = None,
        port_range: tuple[int, int] = (32800, 34999),
        lock: Callable[[str], AbstractContextManager[None]] = lambda _name: nullcontext(),
    ) -> None:
        self._lock = lock
        self._ports = ports
        self._installation_id = installation_id
        self._base_image = base_image
        self._host = host
        self._port_range = port_range
        self._client: Any = None

    # ---- plumbing ----------------------------------------------------------------------------
    def _docker(self) -> Any:
        if self._client is None:
            self._client = engine.connect(self._host)
        return self._client

    def client(self) -> Any:
        """The docker SDK client (connected and pinged on first use)."""
        return self._docker()

    @property
    def installation_id(self) -> str:
        return self._installation_id

    def container_name(self, name: str) -> str:
        return f"nexus-{name}-{self._installation_id}"

    def _find_container(self, workspace: Workspace) -> Any | None:
        client = self._docker()
        for ref in filter(None, (workspace.backend_id, self.container_name(workspace.name))):
            found: Any = engine.translate(
                lambda r=ref: engine.container_or_none(client, r),  # type: ignore[misc]
                "inspect a container",
            )
            if found is not None:
                return found
        return None

    def require_container(self, workspace: Workspace) -> Any:
        """The workspace's container (docker SDK object), or WORKSPACE_MISSING."""
        return self._require_container(workspace)

    def _require_container(self, workspace: Workspace) -> Any:
        container = self._find_container(workspace)
        if container is None:
            raise NexusError(
                ErrorCode.WORKSPACE_MISSING,
                f"the container of workspace '{workspace.name}' no longer exists on the engine",
                f"Delete the workspace (`nexus workspace delete {workspace.name}`) and create it again.",
            )
        return container

    # ---- lifecycle ---------------------------------------------------------------------------
    async def ensure_ready(self) -> None:
        raw = self._raw_engine()
        await run_blocking(raw.ping if raw is not None else self._docker)

    def _raw_engine(self) -> engine_http.Engine | None:
        """The engine over its unix socket, without the SDK; None when it is reached otherwise."""
        path = engine_http.engine_socket(self._host)
        return engine_http.Engine(path, self._host) if path is not None else None

    async def create(
        self, request: CreateRequest, keys: ProvisionKeys, progress: Progress
    ) -> ProvisionedWorkspace:
        return await run_blocking(self._create, request, keys, progress)

    def _create(
        self, request: CreateRequest, keys: ProvisionKeys, progress: Progress
    ) -> ProvisionedWorkspace:
        calls = _EngineCalls(self._raw_engine(), self._docker)
        self._check_cpus(calls, request.resources.cpu)
        base = request.image or self._base_image
        progress.step("image", f"Preparing workspace image (base {base})")
        with self._lock("image-build"):  # parallel creates build the image once, not N times
            tag = calls.built_image(base) or ensure_image(self._docker(), base, progress)
        low, high = self._port_range
        # Ports other Nexus homes on this engine hold (stopped containers included: they need
        # their port back on start), which a bind probe on this machine cannot see.
        taken = self._published_ports(calls)
        name = self.container_name(request.name)
        files = _tar_of(_key_files(request, keys))
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = self._ports.allocate_port(request.name, SSH_PURPOSE, low, high, exclude=taken)
            progress.step("container", f"Creating container {name}")
            container_id = calls.create(name, self._container_config(request, tag, port))
            calls.put_files(container_id, files)
            progress.step("start", "Starting container")
            try:
                calls.start(container_id)
                break
            except NexusError as exc:
                if "port is already allocated" not in exc.message or attempt == PORT_ATTEMPTS:
                    raise
                # another process on the engine took it between our check and the start
                calls.remove(container_id)
                self._ports.release_ports(request.name)
                taken.add(port)
        return ProvisionedWorkspace(
            backend_id=container_id,
            image=tag,
            ssh=SSHConnection(
                host="127.0.0.1", port=port, username=SSH_USER, host_key=keys.host_public_key
            ),
            metadata={"container_name": name},
        )

    def _check_cpus(self, calls: _EngineCalls, cpu: float | None) -> None:
        """A CPU limit above the engine's CPU count is refused by runc at start: say so up front."""
        if not cpu:
            return
        available = calls.cpu_count()
        if available and cpu > available:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"a CPU limit of {cpu:g} is more than the Docker engine has "
                f"(at most {available} CPUs)",
                f"Ask for at most {available} CPUs.",
            )

    def _published_ports(self, calls: _EngineCalls) -> set[int]:
        """Host ports of every Nexus container on the engine (any installation), stopped ones
        included. One list call: the port is a label of the container; only a container from
        before the label is inspected."""
        ports: set[int] = set()
        for summary in calls.containers({"label": [LABEL_WORKSPACE]}):
            labelled = str((summary.get("Labels") or {}).get(LABEL_SSH_PORT, ""))
            if labelled.isdigit():
                ports.add(int(labelled))
                continue
            ports.update(_bound_ports(calls.inspect(str(summary.get("Id", "")))))
        return ports

    def _container_config(self, request: CreateRequest, tag: str, port: int) -> dict[str, Any]:
        """The engine's ``/containers/create`` body for the workspace container."""
        source = request.source_path
        binds: list[BindMount] = []
        environment = {"NEXUS_WORKSPACE": request.name}
        if source is not None:
            binds.append(BindMount(source=source, target=REMOTE_PATH))
            uid, gid = _owner_of(source)
            environment.update({"NEXUS_UID": str(uid), "NEXUS_GID": str(gid)})
        binds += request.mounts
        owned = [bind.target for bind in binds if bind.source is None]
        if owned:  # the entrypoint gives these to the workspace user (one path per line)
            environment["NEXUS_OWNED_DIRS"] = "\n".join(owned)
        if request.env:  # the entrypoint passes these to every SSH session (one name per line)
            environment["NEXUS_ENV_NAMES"] = "\n".join(request.env)
        labels = {
            LABEL_WORKSPACE: request.name,
            LABEL_INSTALLATION: self._installation_id,
            LABEL_SSH_PORT: str(port),  # what other Nexus homes read to leave the port alone
            **{f"{LABEL_USER_PREFIX}{k}": v for k, v in request.labels.items()},
            **request.record_labels,  # what a lost state store is rebuilt from
        }
        host_config: dict[str, Any] = {
            "PortBindings": {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]},
            "Mounts": [_mount_spec(bind) for bind in binds],
            "RestartPolicy": {"Name": "unless-stopped"},
        }
        if request.resources.cpu:
            host_config["NanoCpus"] = int(request.resources.cpu * 1e9)
        if request.resources.memory_gb:
            host_config["Memory"] = int(request.resources.memory_gb * 1024) * 2**20
        return {
            "Image": tag,
            "Hostname": request.name,
            "Labels": labels,
            "Env": [f"{k}={v}" for k, v in {**environment, **request.env}.items()],
            "WorkingDir": REMOTE_PATH,
            "ExposedPorts": {"22/tcp": {}},
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "HostConfig": host_config,
        }

    async def start(self, workspace: Workspace, progress: Progress) -> None:
        def _start() -> None:
            container = self._require_container(workspace)
            if container.status == "paused":  # frozen, not stopped: `docker start` refuses it
                progress.step("start", f"Resuming paused container {container.name}")
                engine.translate(container.unpause, "resume the paused workspace container")
                return
            progress.step("start", f"Starting container {container.name}")
            engine.translate(container.start, "start the workspace container")

        await run_blocking(_start)

    async def stop(self, workspace: Workspace, progress: Progress) -> bool:
        def _stop() -> None:
            container = self._require_container(workspace)
            progress.step("stop", f"Stopping container {container.name}")
            engine.translate(lambda: container.stop(timeout=10), "stop the workspace container")

        await run_blocking(_stop)
        return False

    async def delete(self, workspace: Workspace, progress: Progress) -> None:
        def _delete() -> None:
            container = self._find_container(workspace)
            if container is not None:
                progress.step("delete", f"Removing container {container.name}")
                engine.translate(
                    lambda: container.remove(force=True, v=True), "remove the workspace container"
                )
            self._remove_private_volumes(workspace)
            from .ops.recreate import remove_images  # what a volume attach/detach saved

            for problem in remove_images(self._docker().api, self._installation_id, workspace.name):
                progress.warn(problem)
            self._ports.release_ports(workspace.name)

        await run_blocking(_delete)

    def _remove_private_volumes(self, workspace: Workspace) -> None:
        """The private folders a recreated container took over by name (the engine no longer
        removes them with the container)."""
        import docker.errors

        for name in workspace.metadata.get(PRIVATE_VOLUMES) or []:
            try:
                self._docker().volumes.get(name).remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                raise engine.docker_error(
                    f"remove the workspace's volume {name}", str(exc.explanation or exc)
                ) from None

    # ---- connection and status ---------------------------------------------------------------
    async def get_ssh_connection(
        self, workspace: Workspace, *, renew: bool = False
    ) -> SSHConnection:
        if workspace.ssh_port is None:
            raise NexusError(
                ErrorCode.SSH_CONNECTION_FAILED,
                f"workspace '{workspace.name}' has no SSH endpoint yet",
                "Wait for the create to finish, or recreate the workspace.",
            )
        return SSHConnection(
            host=workspace.ssh_host or "127.0.0.1",
            port=workspace.ssh_port,
            username=workspace.ssh_user or SSH_USER,
            host_key=workspace.host_key,
        )

    async def get_status(self, workspace: Workspace) -> WorkspaceStatus:
        return (await self.get_statuses([workspace]))[workspace.name]

    async def get_statuses(self, workspaces: list[Workspace]) -> dict[str, WorkspaceStatus]:
        def _statuses() -> dict[str, WorkspaceStatus]:
            self.seen_workspaces = None  # a read that fails says nothing about the engine
            # one API call, summaries only (no per-container inspect that a concurrent delete breaks)
            states = engine.states_by_workspace(self._container_summaries())
            self.seen_workspaces = set(states)  # see unrecorded()
            return {
                ws.name: _STATUS.get(states[ws.name], WorkspaceStatus.UNKNOWN)
                if ws.name in states
                else WorkspaceStatus.MISSING
                for ws in workspaces
            }

        return await run_blocking(_statuses)

    def _container_summaries(self) -> list[dict[str, Any]]:
        """This installation's containers as the engine lists them: read straight from a unix
        socket, or through the SDK for an engine reached any other way."""
        calls = _EngineCalls(self._raw_engine(), self._docker)
        return calls.containers(engine.installation_filter(self._installation_id))

    async def get_resource_stats(self, workspace: Workspace) -> ResourceStats | None:
        def _stats() -> ResourceStats | None:
            container = self._find_container(workspace)
            if container is None or container.status != "running":
                return None
            raw = engine.translate(lambda: container.stats(stream=False), "read container stats")
            return stats_from_engine(raw)

        return await run_blocking(_stats)

    async def open_language_server(
        self, workspace: Workspace, language: str, root: str
    ) -> LanguageServerLink | None:
        """None: `nexus lsp` runs the configured language server over SSH."""
        return None

    def get_capabilities(self) -> BackendCapabilities:
        # only what works here (tests/conformance walks every true flag and runs it); a Docker
        # workspace binds its folder, and `nexus sync` syncs into another path of it (an engine
        # on another machine)
        return BackendCapabilities(
            supports_ssh=True,
            supports_sync=True,
            supports_direct_volume_management=True,
            supports_image_caching=True,
        )

    async def execute_provider_specific(
        self, context: OpContext, operation: OperationSpec, params: OpParams
    ) -> OpResult:
        return await operation.handler(context, params)

    # ---- recovery ----------------------------------------------------------------------------
    # names on this installation's containers, as the last get_statuses read them; None when it
    # failed (reset at the start of each read: a long-lived process never sees an older one's)
    seen_workspaces: set[str] | None = None

    def unrecorded(self, recorded: set[str]) -> list[str]:
        """Workspaces whose containers the last status read saw but which have no record."""
        return sorted((self.seen_workspaces or set()) - recorded)

    def observed_auto_stop(self, name: str) -> AutoStop | None:
        """A container runs until it is stopped."""
        return None

    async def keep_alive(self, workspace: Workspace) -> AutoStop | None:
        return None

    async def list_resources(self) -> list[FoundResource]:
        """Every container of this installation, with what rebuilding its record needs."""

        def _list() -> list[FoundResource]:
            client = self._docker()
            containers = engine.translate(
                lambda: client.containers.list(
                    all=True,
                    filters={"label": f"{LABEL_INSTALLATION}={self._installation_id}"},
                    ignore_removed=True,
                ),
                "list containers",
            )
            return [_found(container) for container in containers]

        return await run_blocking(_list)

    async def rebuild_access(
        self, found: FoundResource, kept_host_key: str | None
    ) -> RebuiltAccess:
        """The published SSH port and the host key (kept under NEXUS_HOME, else read from the
        container, where Nexus installed it)."""
        if found.ssh_port is None:
            raise ValueError("the container publishes no SSH port")
        host_key = kept_host_key or await self.read_host_key(found.backend_id)
        if not host_key:
            raise ValueError("its SSH host key is neither under NEXUS_HOME nor in the container")
        return RebuiltAccess(
            fields={
                "ssh_host": "127.0.0.1",
                "ssh_port": found.ssh_port,
                "ssh_user": SSH_USER,
                "host_key": host_key,
            },
            ports={SSH_PURPOSE: found.ssh_port},
        )

    async def read_host_key(self, backend_id: str) -> str | None:
        """The public host key a container's sshd serves (installed by Nexus at create)."""

        def _read() -> str | None:
            container = engine.translate(
                lambda: engine.container_or_none(self._docker(), backend_id), "inspect a container"
            )
            if container is None:
                return None
            stream, _ = engine.translate(
                lambda: container.get_archive("/etc/ssh/nexus/ssh_host_ed25519_key.pub"),
                "read the host key",
            )
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                handle = tar.extractfile(member) if member is not None else None
                return handle.read().decode().strip() if handle is not None else None

        return await run_blocking(_read)


def _bound_ports(attrs: dict[str, Any] | None) -> set[int]:
    """The host ports an inspected container's configuration binds (running or not)."""
    bindings = ((attrs or {}).get("HostConfig") or {}).get("PortBindings") or {}
    return {
        int(bind["HostPort"])
        for binds in bindings.values()
        for bind in binds or []
        if str(bind.get("HostPort", "")).isdigit()
    }


def _key_files(request: CreateRequest, keys: ProvisionKeys) -> list[tuple[str, bytes, int, int]]:
    """What sshd needs before it starts: its host key and Nexus's authorized key (and the
    user's git identity, when given)."""
    files = [
        ("/etc/ssh/nexus/ssh_host_ed25519_key", keys.host_private_key.encode(), 0o600, 0),
        (
            "/etc/ssh/nexus/ssh_host_ed25519_key.pub",
            (keys.host_public_key + "\n").encode(),
            0o644,
            0,
        ),
        (
            f"/etc/ssh/nexus/authorized_keys/{SSH_USER}",
            (keys.authorized_key + "\n").encode(),
            0o644,
            0,
        ),
    ]
    if request.git_config:
        files.append(
            (f"/home/{SSH_USER}/.gitconfig", _gitconfig(request.git_config).encode(), 0o644, 1000)
        )
    return files


class _EngineCalls:
    """The engine calls of a create: over the unix socket when there is one (no SDK import),
    else through the docker SDK. Both send the same API bodies and fail with the same errors."""

    def __init__(self, raw: engine_http.Engine | None, sdk: Callable[[], Any]) -> None:
        self._raw = raw
        self._sdk = sdk

    def cpu_count(self) -> int:
        if self._raw is not None:
            info = self._raw.call("read the engine's CPU count", "GET", "/info")
        else:
            client = self._sdk()
            info = engine.translate(client.info, "read the engine's CPU count")
        return int((info or {}).get("NCPU") or 0)

    def built_image(self, base: str) -> str | None:
        """The workspace image of ``base`` when the engine has it (None: ask ``ensure_image``)."""
        if self._raw is None:
            return self._ready_image_sdk(base)
        try:
            found = self._raw.call(
                "inspect an image",
                "GET",
                f"/images/{engine_http.quote(base, b'/:')}/json",
                missing_ok=True,
            )
            if _is_ready_image(found):
                return base  # a workspace image already (a cache of one): used as it is
            base_id = str(found["Id"]) if isinstance(found, dict) and found.get("Id") else None
            tag = image_tag(base_id) if base_id is not None else None
            return tag if tag is not None and self._raw.image_id(tag) is not None else None
        except NexusError as exc:
            if exc.code != ErrorCode.DOCKER_ERROR:
                raise
            return None  # a reference the engine refuses: ensure_image says precisely why

    def _ready_image_sdk(self, base: str) -> str | None:
        client = self._sdk()
        try:
            found = engine.translate(lambda: client.api.inspect_image(base), "inspect an image")
        except NexusError as exc:
            if exc.code != ErrorCode.DOCKER_ERROR:
                raise
            return None  # missing or refused: ensure_image says precisely why
        return base if _is_ready_image(found) else None

    def containers(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        if self._raw is not None:
            return engine_http.list_containers(self._raw.path, filters, host=self._raw.host)
        client = self._sdk()
        found: list[dict[str, Any]] = engine.translate(
            lambda: client.api.containers(all=True, filters=filters), "list containers"
        )
        return found

    def inspect(self, container_id: str) -> dict[str, Any] | None:
        if self._raw is not None:
            return self._raw.container(container_id)
        container = engine.translate(
            lambda: engine.container_or_none(self._sdk(), container_id), "inspect a container"
        )
        return container.attrs if container is not None else None

    def create(self, name: str, config: dict[str, Any]) -> str:
        action = "create the workspace container"
        if self._raw is not None:
            created = self._raw.call(
                action, "POST", f"/containers/create?name={engine_http.quote(name)}", config
            )
        else:
            client = self._sdk()
            created = engine.translate(
                lambda: client.api.create_container_from_config(config, name), action
            )
        return str(created["Id"])

    def put_files(self, container_id: str, tar: bytes) -> None:
        if self._raw is not None:
            self._raw.call(
                "install SSH keys",
                "PUT",
                f"/containers/{container_id}/archive?path=%2F",
                body=tar,
                content_type="application/x-tar",
            )
            return
        client = self._sdk()
        engine.translate(lambda: client.api.put_archive(container_id, "/", tar), "install SSH keys")

    def start(self, container_id: str) -> None:
        action = "start the workspace container"
        if self._raw is not None:
            self._raw.call(action, "POST", f"/containers/{container_id}/start")
            return
        client = self._sdk()
        engine.translate(lambda: client.api.start(container_id), action)

    def remove(self, container_id: str) -> None:
        if self._raw is not None:
            self._raw.call(
                "remove a container", "DELETE", f"/containers/{container_id}?force=1&v=1"
            )
            return
        client = self._sdk()
        engine.translate(
            lambda: client.api.remove_container(container_id, force=True, v=True),
            "remove a container",
        )


def _is_ready_image(inspected: Any) -> bool:
    """An image Nexus built or cached from a workspace: it has sshd, the user and the entrypoint,
    so a workspace runs it as it is (building the workspace image on top would fail)."""
    if not isinstance(inspected, dict):
        return False
    labels = (inspected.get("Config") or {}).get("Labels") or {}
    return labels.get(LABEL_IMAGE) in READY_IMAGES


def _found(container: Any) -> FoundResource:
    attrs = container.attrs
    labels = dict((attrs.get("Config") or {}).get("Labels") or {})
    bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    ports = [
        int(bind["HostPort"])
        for bind in bindings.get("22/tcp") or []
        if str(bind.get("HostPort", "")).isdigit()
    ]
    created: datetime | None = None
    with contextlib.suppress(ValueError, TypeError):
        created = datetime.fromisoformat(str(attrs.get("Created", ""))[:26].rstrip("Z"))
        created = created.replace(tzinfo=UTC)
    state = str((attrs.get("State") or {}).get("Status", ""))
    return FoundResource(
        name=labels.get(LABEL_WORKSPACE, ""),
        backend=BackendType.DOCKER,
        backend_id=container.id,
        resource_name=container.name,
        labels=labels,
        status=_STATUS.get(state, WorkspaceStatus.UNKNOWN),
        image=(attrs.get("Config") or {}).get("Image"),
        ssh_port=ports[0] if ports else None,
        created_at=created,
        metadata={"container_name": container.name},
    )


def installations_on_engine(host: str | None) -> dict[str, set[str]]:
    """Installation id -> workspace names, over every Nexus container on the engine."""
    client = engine.connect(host)
    summaries = engine.translate(
        lambda: client.api.containers(all=True, filters={"label": LABEL_INSTALLATION}),
        "list containers",
    )
    found: dict[str, set[str]] = {}
    for summary in summaries:
        labels = summary.get("Labels") or {}
        if labels.get(LABEL_INSTALLATION) and labels.get(LABEL_WORKSPACE):
            found.setdefault(labels[LABEL_INSTALLATION], set()).add(labels[LABEL_WORKSPACE])
    return found


def stats_from_engine(raw: dict[str, Any]) -> ResourceStats:
    """CPU % the way `docker stats` computes it, and memory used (minus page cache) / limit."""
    cpu = raw.get("cpu_stats", {})
    pre = raw.get("precpu_stats", {})
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    percent = (cpu_delta / system_delta) * online * 100.0 if system_delta > 0 else 0.0
    memory = raw.get("memory_stats", {})
    usage = memory.get("usage")
    cache = memory.get("stats", {}).get("inactive_file", 0)
    return ResourceStats(
        cpu_percent=round(percent, 2),
        memory_used_bytes=(usage - cache) if usage is not None else None,
        memory_limit_bytes=memory.get("limit"),
    )
