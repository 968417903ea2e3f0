"""Config v2: ``~/.nexus/config.yaml`` as pydantic models, env overrides, v1 migration."""

from .loader import ConfigManager, load_config
from .schema import NexusConfig

__all__ = ["ConfigManager", "NexusConfig", "load_config"]
