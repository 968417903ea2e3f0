"""Fault injection: canned HTTP failures plus switches the service consults."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import SOURCE_API, SOURCE_PROXY, ApiError

_MESSAGES = {
    429: "ThrottlerException: Too Many Requests",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class HttpFault:
    """Answer the next ``count`` matching requests with ``status``."""

    status: int
    count: int = 1
    method: str | None = None
    path: str | None = None  # regular expression, searched in the request path
    retry_after: int | None = None
    message: str | None = None
    code: str | None = None
    scope: str = "any"  # "api", "toolbox" or "any"

    def matches(self, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.scope == "api" and not path.startswith("/api/"):
            return False
        if self.scope == "toolbox" and not path.startswith("/toolbox/"):
            return False
        return not (self.path and not re.search(self.path, path))

    def to_error(self, path: str) -> ApiError:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.status == 429:
            headers.update(
                {
                    "X-RateLimit-Limit-authenticated": "10000",
                    "X-RateLimit-Remaining-authenticated": "0",
                    "X-RateLimit-Reset-authenticated": str(self.retry_after or 60),
                }
            )
        source = SOURCE_PROXY if path.startswith("/toolbox/") else SOURCE_API
        message = self.message or _MESSAGES.get(self.status, "Injected failure")
        return ApiError(self.status, message, code=self.code, source=source, headers=headers)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "http_error",
            "status": self.status,
            "count": self.count,
            "method": self.method,
            "path": self.path,
            "retryAfter": self.retry_after,
            "message": self.message,
            "code": self.code,
            "scope": self.scope,
        }


@dataclass
class FaultInjector:
    """Thread-safe set of faults. Safe to call from the test thread while the emulator runs.

    - ``http_error`` / ``rate_limit`` / ``server_error``: canned answers for the next N requests.
    - ``transition_delay``: extra seconds every state transition takes.
    - ``regions_unavailable``: creates in these regions fail with "No available runners".
    - ``quota_exceeded``: every create/start fails with the real 403 quota message.
    - ``close_ssh_logins``: the SSH gateway closes the next N logins with a valid token.
    - ``expire_ssh_tokens``: performed by the emulator (it owns the tokens).
    """

    _lock: threading.Lock = field(default_factory=threading.Lock)
    http_faults: list[HttpFault] = field(default_factory=list)
    transition_delay: float | None = None
    regions_unavailable: set[str] = field(default_factory=set)
    quota_exceeded: str | None = None  # "cpu", "memory" or "disk"
    # logins with a valid token that the SSH gateway closes right after authentication, as the
    # real gateway does while it cannot reach the sandbox's sshd yet (just after create/start)
    ssh_closed_logins: int = 0
    served: int = 0

    def http_error(self, status: int, count: int = 1, **kwargs: Any) -> HttpFault:
        fault = HttpFault(status=status, count=count, **kwargs)
        with self._lock:
            self.http_faults.append(fault)
        return fault

    def rate_limit(self, count: int = 1, retry_after: int = 1, **kwargs: Any) -> HttpFault:
        return self.http_error(429, count, retry_after=retry_after, **kwargs)

    def server_error(self, count: int = 1, status: int = 500, **kwargs: Any) -> HttpFault:
        return self.http_error(status, count, **kwargs)

    def slow_transitions(self, seconds: float | None) -> None:
        with self._lock:
            self.transition_delay = seconds

    def region_unavailable(self, region: str, unavailable: bool = True) -> None:
        with self._lock:
            if unavailable:
                self.regions_unavailable.add(region)
            else:
                self.regions_unavailable.discard(region)

    def exceed_quota(self, resource: str | None = "cpu") -> None:
        if resource not in (None, "cpu", "memory", "disk"):
            raise ValueError(f"unknown quota resource {resource!r}")
        with self._lock:
            self.quota_exceeded = resource

    def close_ssh_logins(self, count: int) -> None:
        """The gateway closes the next ``count`` logins whose token is valid (sshd not ready)."""
        with self._lock:
            self.ssh_closed_logins = count

    def take_ssh_close(self) -> bool:
        with self._lock:
            if self.ssh_closed_logins <= 0:
                return False
            self.ssh_closed_logins -= 1
            return True

    def clear(self) -> None:
        with self._lock:
            self.http_faults.clear()
            self.ssh_closed_logins = 0
            self.transition_delay = None
            self.regions_unavailable.clear()
            self.quota_exceeded = None

    def take(self, method: str, path: str) -> ApiError | None:
        """Consume one matching HTTP fault, if any."""
        with self._lock:
            for fault in self.http_faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    self.served += 1
                    error = fault.to_error(path)
                    break
            else:
                return None
            self.http_faults = [f for f in self.http_faults if f.count > 0]
            return error

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "httpFaults": [f.to_json() for f in self.http_faults],
                "transitionDelay": self.transition_delay,
                "regionsUnavailable": sorted(self.regions_unavailable),
                "quotaExceeded": self.quota_exceeded,
                "sshClosedLogins": self.ssh_closed_logins,
                "served": self.served,
            }
