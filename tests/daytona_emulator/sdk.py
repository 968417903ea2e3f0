"""Convenience: an SDK client pointed at an emulator (imports the `daytona` SDK lazily)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daytona import AsyncDaytona, Daytona


def sync_client(api_url: str, api_key: str, *, polling: bool = True) -> Daytona:
    """A sync ``Daytona`` client. ``polling=True`` skips the Socket.IO attempt and polls fast."""
    from daytona import Daytona, DaytonaConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return Daytona(
            DaytonaConfig(api_key=api_key, api_url=api_url, use_deprecated_polling=polling)
        )


def async_client(api_url: str, api_key: str, *, polling: bool = True) -> AsyncDaytona:
    from daytona import AsyncDaytona, DaytonaConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return AsyncDaytona(
            DaytonaConfig(api_key=api_key, api_url=api_url, use_deprecated_polling=polling)
        )
