"""Docker escape hatches (PRD §4.2): importing this package registers them."""

from . import images, networks, volumes

__all__ = ["images", "networks", "volumes"]
