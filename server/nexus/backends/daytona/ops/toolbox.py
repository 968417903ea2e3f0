"""What the toolbox escape hatches (LSP, File API, Process API) share: the started sandbox of a
workspace, paths kept inside it, and telling "the API is down" from "the request was wrong".

A toolbox call that fails because the API cannot serve it (no connection, a timeout, a 5xx, a
rate limit) raises ``EscapeHatchUnavailable``, so the service can run the operation's common-path
fallback; anything else (a 4xx caused by the request) is a Nexus error with its own code.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

from ....access.transfer_paths import inside
from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.models import Workspace
from ....domain.provider import EscapeHatchUnavailable, OpContext
from .. import errors

T = TypeVar("T")


def workspace_of(ctx: OpContext) -> Workspace:
    assert ctx.workspace is not None  # every toolbox operation takes a workspace
    return ctx.workspace


def unavailable_reason(exc: Exception) -> str | None:
    """Why the API could not serve the call, or None when the call itself was refused."""
    import daytona

    if isinstance(exc, daytona.DaytonaConnectionError):
        return f"the Daytona toolbox is not reachable ({exc})"
    if isinstance(exc, daytona.DaytonaRateLimitError):
        return "the Daytona API is rate limiting"
    status = _status(exc)
    if isinstance(exc, daytona.DaytonaTimeoutError) and status in (None, 504):
        return f"the Daytona toolbox did not answer in time ({exc})"
    if isinstance(status, int) and status >= 500:
        return f"the Daytona toolbox answered {status} ({exc})"
    return None


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK error. The streaming file calls raise a plain DaytonaError
    without one; the httpx error it wraps still has the response."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = getattr(current, "status_code", None)
        if status is None:
            status = getattr(getattr(current, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
        current = current.__cause__ or current.__context__
    return None


def failure(exc: Exception, action: str) -> Exception:
    """The exception to raise for a failed toolbox call."""
    reason = unavailable_reason(exc)
    if reason is not None:
        return EscapeHatchUnavailable(f"could not {action}: {reason}")
    return errors.translate(exc, action)


async def toolbox_call(fn: Callable[[], T], action: str) -> T:
    """One blocking SDK toolbox call in a worker thread, failures sorted as above (no retries:
    a down API goes to the fallback at once instead of after a minute of backoff)."""
    import daytona

    def run() -> T:
        try:
            return fn()
        except daytona.DaytonaError as exc:
            raise failure(exc, action) from None

    return await run_blocking(run)


async def started_sandbox(ctx: OpContext) -> Any:
    """The workspace's sandbox, which must be started for its toolbox to answer."""
    workspace = workspace_of(ctx)

    def find() -> Any:
        try:
            return ctx.backend.require_sandbox(workspace)
        except NexusError as exc:
            if exc.code == ErrorCode.DAYTONA_UNAVAILABLE:
                raise EscapeHatchUnavailable(exc.message) from None
            raise

    sandbox = await run_blocking(find)
    state = str(getattr(sandbox.state, "value", sandbox.state) or "unknown")
    if state != "started":
        raise NexusError(
            ErrorCode.WORKSPACE_NOT_RUNNING,
            f"workspace '{workspace.name}' is not running (its sandbox is {state})",
            f"Start it first: `nexus workspace start {workspace.name}`.",
        )
    return sandbox


def resolve_remote(path: str, project: str, home: Callable[[], str]) -> str:
    """An absolute, normalized workspace path: relative paths start at the project folder, ``~``
    is the user's home; ``..`` is resolved. Anything outside the project folder and the user's
    home is refused. A trailing ``/`` or ``/.`` is kept (they mean "a folder", "its contents")."""
    if not path:
        raise NexusError(ErrorCode.INVALID_ARGUMENT, "the workspace path is empty", "Name a path.")
    suffix = "/." if path == "." or path.endswith("/.") else "/" if path.endswith("/") else ""
    if path == "~" or path.startswith("~/"):
        path = home().rstrip("/") + path[1:]
    full = posixpath.normpath(posixpath.join(project, path))
    if full.startswith("//"):
        full = "/" + full.lstrip("/")
    if not inside(full, project):
        user_home = home()
        if not inside(full, user_home):
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"{path} is a path outside the workspace ({project}) and the user's home "
                f"({user_home})",
                "Use a path inside the workspace folder (relative paths start there) or under ~.",
            )
    return full.rstrip("/") + suffix if full != "/" else full


def home_of(sandbox: Any) -> Callable[[], str]:
    """The user's home in the sandbox, asked for at most once."""
    cached: list[str] = []

    def get() -> str:
        import daytona

        if not cached:
            try:
                cached.append(str(sandbox.get_user_home_dir()).rstrip("/") or "/")
            except daytona.DaytonaError as exc:
                raise failure(exc, "read the user's home folder") from None
        return cached[0]

    return get
