"""When a sandbox will stop itself: its ``autoStopInterval`` counted from its ``lastActivityAt``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...domain.models import AutoStop, WorkspaceStatus
from .states import to_status


def _parse_time(value: object) -> datetime | None:
    """The API's timestamps are ISO strings ("2026-11-30T01:02:03.456Z"); the SDK may hand a
    datetime. A time without a zone is UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def auto_stop_of(sandbox: Any) -> AutoStop | None:
    """The auto-stop of a running sandbox; None when it is not running, never stops itself
    (interval 0), or the API did not say when it was last active."""
    if to_status(getattr(sandbox, "state", None)) is not WorkspaceStatus.RUNNING:
        return None
    minutes = getattr(sandbox, "auto_stop_interval", None)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        return None
    last = _parse_time(getattr(sandbox, "last_activity_at", None))
    if last is None:
        return None
    return AutoStop(minutes=minutes, last_activity_at=last)
