"""Backend registry: builds each backend from config on first use (their SDKs are imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import BackendType
from ..locking import file_lock
from ..paths import NexusPaths
from ..store import StateStore

if TYPE_CHECKING:
    from ..config.schema import NexusConfig
    from ..domain.backend import Backend
    from ..domain.models import BackendCapabilities


class BackendRegistry:
    def __init__(self, config: NexusConfig, store: StateStore, paths: NexusPaths) -> None:
        self._config = config
        self._store = store
        self._paths = paths
        self._backends: dict[BackendType, Backend] = {}

    def get(self, backend_type: BackendType) -> Backend:
        if backend_type not in self._backends:
            self._backends[backend_type] = self._build(backend_type)
        return self._backends[backend_type]

    def _build(self, backend_type: BackendType) -> Backend:
        settings = getattr(self._config.backends, backend_type.value)
        if not settings.enabled:
            raise NexusError(
                ErrorCode.BACKEND_DISABLED,
                f"the {backend_type.value} backend is disabled in the config",
                f"Run `nexus config set backends.{backend_type.value}.enabled true`.",
            )
        if backend_type is BackendType.DOCKER:
            from ..backends.docker.backend import DockerBackend

            docker = self._config.backends.docker
            return DockerBackend(
                self._store,
                self._store.installation_id,
                base_image=docker.base_image,
                host=docker.host,
                port_range=docker.port_range,
                lock=lambda name: file_lock(self._paths.lock(name)),
            )
        from ..backends.daytona.backend import DaytonaBackend

        return DaytonaBackend(
            self._config.backends.daytona,
            self._store,
            self._store.installation_id,
            lambda name: file_lock(self._paths.lock(name)),
        )

    def capabilities(self, backend_type: BackendType) -> BackendCapabilities:
        return self.get(backend_type).get_capabilities()
