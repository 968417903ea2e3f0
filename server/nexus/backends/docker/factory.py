"""Builds the Docker backend from config (imports it, and through it the engine client)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...locking import file_lock

if TYPE_CHECKING:
    from ...config.schema import NexusConfig
    from ...paths import NexusPaths
    from ...store import StateStore
    from .backend import DockerBackend


def build(config: NexusConfig, store: StateStore, paths: NexusPaths) -> DockerBackend:
    from .backend import DockerBackend

    docker = config.backends.docker
    return DockerBackend(
        store,
        store.installation_id,
        base_image=docker.base_image,
        host=docker.host,
        port_range=docker.port_range,
        lock=lambda name: file_lock(paths.lock(name)),
    )
