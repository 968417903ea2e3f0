"""Everything a Nexus process needs, built once from ``NEXUS_HOME`` and the environment."""

from __future__ import annotations

from functools import cached_property

from ..config.loader import ConfigManager
from ..config.schema import NexusConfig
from ..paths import NexusPaths
from ..store import StateStore
from .backends import BackendRegistry


class NexusContext:
    def __init__(self, paths: NexusPaths | None = None, env: dict[str, str] | None = None) -> None:
        self.paths = paths or NexusPaths()
        self.config_manager = ConfigManager(self.paths, env)

    @cached_property
    def config(self) -> NexusConfig:
        return self.config_manager.load()

    @cached_property
    def store(self) -> StateStore:
        return StateStore(self.paths.state_db)

    @cached_property
    def backends(self) -> BackendRegistry:
        return BackendRegistry(self.config, self.store, self.paths)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
