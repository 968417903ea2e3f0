"""Sandboxes as real containers on the local Docker engine (blocking calls; run them in threads)."""

from __future__ import annotations

import contextlib
import io
import logging
import posixpath
import tarfile
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

log = logging.getLogger(__name__)

INSTANCE_LABEL = "nexus.daytona-emulator"
SANDBOX_LABEL = "nexus.daytona-emulator.sandbox"
SANDBOX_UID = 1000
SANDBOX_GID = 1000
HOME = "/home/daytona"


class RuntimeFailure(Exception):
    """A container operation failed; the message is safe to show to API clients."""


class PathNotFound(RuntimeFailure):
    pass


@dataclass
class ExecResult:
    exit_code: int
    output: bytes


class DockerRuntime:
    def __init__(
        self,
        client: docker.DockerClient,
        instance_id: str,
        authorized_key: str,
        *,
        enforce_limits: bool = True,
    ) -> None:
        self.client = client
        self.instance_id = instance_id
        self.authorized_key = authorized_key
        self.enforce_limits = enforce_limits

    # lifecycle -------------------------------------------------------------
    def create(
        self,
        sandbox_id: str,
        image: str,
        *,
        env: dict[str, str],
        cpu: int,
        memory_gib: int,
        binds: dict[str, tuple[str, bool]],
    ) -> str:
        kwargs: dict[str, Any] = {}
        if self.enforce_limits:
            kwargs["nano_cpus"] = int(cpu * 1e9)
            kwargs["mem_limit"] = f"{memory_gib}g"
        volumes = {
            host: {"bind": target, "mode": "ro" if read_only else "rw"}
            for host, (target, read_only) in binds.items()
        }
        container = self.client.containers.create(
            image,
            name=f"daytona-emu-{self.instance_id[:8]}-{sandbox_id[:8]}",
            hostname=sandbox_id[:12],
            labels={INSTANCE_LABEL: self.instance_id, SANDBOX_LABEL: sandbox_id},
            environment=env,
            ports={"22/tcp": ("127.0.0.1", None)},  # type: ignore[dict-item]
            volumes=volumes,
            init=True,
            detach=True,
            **kwargs,
        )
        self._put(container, f"{HOME}/.ssh", "authorized_keys", self.authorized_key.encode(), 0o600)
        return str(container.id)

    def start(self, container_id: str) -> int:
        """Start the container and return the 127.0.0.1 port its sshd is published on."""
        container = self._container(container_id)
        container.start()
        deadline = time.monotonic() + 10
        while True:
            container.reload()
            if container.status != "running":
                logs = container.logs(tail=20).decode(errors="replace")
                raise RuntimeFailure(f"sandbox container exited: {logs.strip()}")
            bindings = container.attrs["NetworkSettings"]["Ports"].get("22/tcp") or []
            for binding in bindings:
                if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
                    return int(binding["HostPort"])
            if time.monotonic() > deadline:
                raise RuntimeFailure("sshd port was not published")
            time.sleep(0.05)

    def stop(self, container_id: str, *, force: bool = False) -> None:
        container = self._container(container_id)
        if force:
            container.kill()
        else:
            container.stop(timeout=5)

    def remove(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(container_id).remove(force=True, v=True)

    def remove_all(self) -> int:
        containers = self.client.containers.list(
            all=True, filters={"label": f"{INSTANCE_LABEL}={self.instance_id}"}
        )
        for container in containers:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        return len(containers)

    def commit(self, container_id: str, repository: str, tag: str) -> str:
        image = self._container(container_id).commit(repository=repository, tag=tag)
        return f"{repository}:{tag}" if image else ""

    # exec -----------------------------------------------------------------
    def exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        user: str = "daytona",
        workdir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        container = self._container(container_id)
        try:
            result = container.exec_run(
                argv, user=user, workdir=workdir, environment=env, stdout=True, stderr=True
            )
        except docker.errors.APIError as exc:
            raise RuntimeFailure(str(exc.explanation or exc)) from exc
        output = result.output
        if not isinstance(output, bytes):
            output = b"".join(output or [])
        return ExecResult(exit_code=int(result.exit_code or 0), output=output)

    # files ----------------------------------------------------------------
    def write_file(self, container_id: str, path: str, data: bytes, *, user: str) -> None:
        directory, name = posixpath.split(path)
        mk = self.exec(container_id, ["mkdir", "-p", "--", directory or "/"], user=user)
        if mk.exit_code != 0:
            raise RuntimeFailure(mk.output.decode(errors="replace").strip())
        self._put(self._container(container_id), directory or "/", name, data, 0o644)

    def read_file(self, container_id: str, path: str) -> bytes:
        container = self._container(container_id)
        try:
            stream, stat = container.get_archive(path)
        except docker.errors.NotFound as exc:
            raise PathNotFound("file not found") from exc
        if (stat or {}).get("mode", 0) & (1 << 31):  # Go's os.ModeDir
            raise RuntimeFailure("path is a directory")
        buffer = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=buffer) as tar:
            for member in tar:
                if member.isfile():
                    extracted = tar.extractfile(member)
                    return extracted.read() if extracted else b""
        raise RuntimeFailure("not a regular file")

    def _put(self, container: Container, directory: str, name: str, data: bytes, mode: int) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.uid, info.gid = SANDBOX_UID, SANDBOX_GID
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if not container.put_archive(directory, buffer.getvalue()):
            raise RuntimeFailure(f"could not write {posixpath.join(directory, name)}")

    def _container(self, container_id: str) -> Container:
        try:
            return self.client.containers.get(container_id)
        except docker.errors.NotFound as exc:
            raise RuntimeFailure("sandbox container is gone") from exc
