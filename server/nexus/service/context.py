"""Everything a Nexus process needs, built once from ``NEXUS_HOME`` and the environment."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from ..config.loader import ConfigManager
from ..domain.errors import NexusError
from ..domain.kinds import BackendType
from ..paths import NexusPaths
from ..store import StateStore
from .backends import BackendRegistry

if TYPE_CHECKING:
    from ..config.schema import NexusConfig

log = logging.getLogger(__name__)


class NexusContext:
    def __init__(self, paths: NexusPaths | None = None, env: dict[str, str] | None = None) -> None:
        self.paths = paths or NexusPaths()
        self.config_manager = ConfigManager(self.paths, env)

    @cached_property
    def config(self) -> NexusConfig:
        return self.config_manager.load()

    def backend_enabled(self, backend: BackendType) -> bool:
        """Whether the config enables ``backend``; with no config file and no override set, the
        default (every backend enabled) without loading the config."""
        if "config" not in self.__dict__ and self.config_manager.is_default():
            return True
        return bool(getattr(self.config.backends, backend.value).enabled)

    @cached_property
    def store(self) -> StateStore:
        store = StateStore(self.paths.state_db)
        if store.upgraded_from is not None:
            self.__dict__["store"] = store  # what the refresh below reads
            self._rewrite_ssh_files()
        return store

    def _rewrite_ssh_files(self) -> None:
        """A store just upgraded from an older Nexus: rewrite the ssh config from its rows now
        (per-workspace settings such as ForwardAgent changed), not at the next change."""
        from .ssh_files import SshFiles

        try:
            SshFiles(self).refresh()
        except NexusError as exc:  # the next change writes them; the command itself goes on
            log.warning("cannot rewrite the ssh files after the store upgrade: %s", exc.message)

    @cached_property
    def backends(self) -> BackendRegistry:
        return BackendRegistry(self.config, self.store, self.paths)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
