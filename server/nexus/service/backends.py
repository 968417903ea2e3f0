"""The backends Nexus knows, ``{BackendType: entry}``, and the per-process set of built ones.

A backend is a package under ``nexus.backends`` with three cheap parts named here: its facts
(``BackendFacts``), a factory building it from config, and the module registering its escape
hatches. Adding a backend is that package plus one line in ``BACKENDS`` (and its ``BackendType``
and config section). The factories import the SDKs, so nothing heavy loads before a backend is
really used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import BackendType
from ..paths import NexusPaths
from ..store import StateStore

if TYPE_CHECKING:
    from ..config.schema import NexusConfig
    from ..domain.backend import Backend, BackendFacts
    from ..domain.models import BackendCapabilities
    from ..domain.provider import OperationSpec


@dataclass(frozen=True)
class BackendEntry:
    package: str  # nexus.backends.<name>: facts.FACTS, factory.build(config, store, paths), ops

    def facts(self) -> BackendFacts:
        facts: BackendFacts = importlib.import_module(f"{self.package}.facts").FACTS
        return facts

    def build(self, config: NexusConfig, store: StateStore, paths: NexusPaths) -> Backend:
        factory: Callable[[NexusConfig, StateStore, NexusPaths], Backend] = importlib.import_module(
            f"{self.package}.factory"
        ).build
        return factory(config, store, paths)

    def load_operations(self) -> None:
        importlib.import_module(f"{self.package}.ops")


BACKENDS: dict[BackendType, BackendEntry] = {
    BackendType.DOCKER: BackendEntry("nexus.backends.docker"),
    BackendType.DAYTONA: BackendEntry("nexus.backends.daytona"),
}


def facts(backend_type: BackendType) -> BackendFacts:
    return BACKENDS[backend_type].facts()


def operations(backend: BackendType | None = None) -> dict[str, OperationSpec]:
    """Every escape hatch (of ``backend``), by id ``<backend>.<group>.<action>``."""
    from ..domain.provider import registered

    for backend_type, entry in BACKENDS.items():
        if backend is None or backend is backend_type:
            entry.load_operations()
    return registered(backend)


class BackendRegistry:
    """The backends of one process, each built from config on first use."""

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
                f"Enable it: set backends.{backend_type.value}.enabled to true "
                f"(`nexus config set backends.{backend_type.value}.enabled true`).",
            )
        return BACKENDS[backend_type].build(self._config, self._store, self._paths)

    def capabilities(self, backend_type: BackendType) -> BackendCapabilities:
        return self.get(backend_type).get_capabilities()
