"""Config v2: ``~/.nexus/config.yaml`` as pydantic models, env overrides, v1 migration.

The names below are loaded on first use: importing the package builds no pydantic model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import ConfigManager, load_config
    from .schema import NexusConfig

__all__ = ["ConfigManager", "NexusConfig", "load_config"]


def __getattr__(name: str) -> Any:
    if name in ("ConfigManager", "load_config"):
        from . import loader

        return getattr(loader, name)
    if name == "NexusConfig":
        from .schema import NexusConfig

        return NexusConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
