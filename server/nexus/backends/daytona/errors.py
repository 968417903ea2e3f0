"""Daytona SDK exceptions → Nexus errors; bounded retry with backoff for rate limits and 5xx."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ...domain.errors import ErrorCode, NexusError

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_DELAY = 30.0


def _retry_after(exc: Any) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        items = {str(k).lower(): v for k, v in dict(headers).items()}
    except (TypeError, ValueError):
        return None
    value = items.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def translate(exc: Exception, action: str) -> NexusError:
    """One SDK exception as a Nexus error with its resolution line."""
    import daytona

    message = str(exc) or type(exc).__name__
    lowered = message.lower()
    status = getattr(exc, "status_code", None)
    if isinstance(exc, daytona.DaytonaAuthenticationError):
        return NexusError(
            ErrorCode.DAYTONA_AUTH_FAILED,
            f"Daytona authentication failed while trying to {action}: {message}",
            "Check DAYTONA_API_KEY (or backends.daytona.api_key) and DAYTONA_API_URL.",
        )
    if isinstance(exc, daytona.DaytonaRateLimitError):
        return NexusError(
            ErrorCode.DAYTONA_RATE_LIMITED,
            f"Daytona rate limit exceeded while trying to {action}: {message}",
            "Wait a minute and retry.",
        )
    if status == 403 and any(word in lowered for word in ("exceed", "quota", "limit")):
        return NexusError(
            ErrorCode.DAYTONA_QUOTA_EXCEEDED,
            f"Daytona resource quota exceeded while trying to {action}: {message}",
            "Delete or archive unused workspaces, ask for smaller resources, or upgrade your plan.",
        )
    if status in (400, 404, 503) and any(word in lowered for word in ("region", "runner")):
        return NexusError(
            ErrorCode.DAYTONA_REGION_UNAVAILABLE,
            f"Daytona region is not available while trying to {action}: {message}",
            "Pick another region, or set backends.daytona.default_region.",
            options=("region",),
        )
    if isinstance(exc, daytona.DaytonaConnectionError):
        return NexusError(
            ErrorCode.DAYTONA_UNAVAILABLE,
            f"cannot reach the Daytona API while trying to {action}: {message}",
            "Check your network and DAYTONA_API_URL, then retry.",
        )
    return NexusError(
        ErrorCode.DAYTONA_ERROR,
        f"Daytona failed to {action}: {message}",
        "Retry; if it persists, check the sandbox in the Daytona dashboard.",
    )


def _retryable(exc: Exception) -> bool:
    import daytona

    return isinstance(
        exc,
        daytona.DaytonaRateLimitError
        | daytona.DaytonaInternalServerError
        | daytona.DaytonaBadGatewayError
        | daytona.DaytonaServiceUnavailableError
        | daytona.DaytonaConnectionError,
    )


def call(
    fn: Callable[[], T],
    action: str,
    *,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> T:
    """Run one SDK call; rate limits and server errors are retried with bounded exponential
    backoff (honouring Retry-After up to MAX_DELAY), anything else is translated at once.

    ``deadline`` (a ``time.monotonic()`` value) bounds the retrying: a wait that would end
    after it is not started, the last error is reported instead."""
    import daytona

    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except NexusError:
            raise
        except daytona.DaytonaError as exc:
            if not _retryable(exc) or attempt == attempts:
                raise translate(exc, action) from None
            wait = _retry_after(exc)
            wait = min(MAX_DELAY, wait if wait is not None else delay * (1 + random.random() / 4))
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise translate(exc, action) from None
            log.info(
                "Daytona %s: %s; retry %d/%d in %.1fs",
                action,
                type(exc).__name__,
                attempt,
                attempts - 1,
                wait,
            )
            sleep(wait)
            delay = min(MAX_DELAY, delay * 2)
    raise AssertionError("unreachable")
