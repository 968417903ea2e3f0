"""Builds the Daytona backend from config (the SDK itself loads on the first API call)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...locking import file_lock

if TYPE_CHECKING:
    from ...config.schema import NexusConfig
    from ...paths import NexusPaths
    from ...store import StateStore
    from .backend import DaytonaBackend


def build(config: NexusConfig, store: StateStore, paths: NexusPaths) -> DaytonaBackend:
    from .backend import DaytonaBackend

    return DaytonaBackend(
        config.backends.daytona,
        store,
        store.installation_id,
        lambda name: file_lock(paths.lock(name)),
        lsp_mode=config.lsp.daytona_mode,
    )
