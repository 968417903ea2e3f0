"""The time windows of `nexus usage`: ``--since`` values and the calendar month."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..domain.errors import ErrorCode, NexusError

_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(value: str, now: datetime) -> datetime:
    """``24h``, ``7d``, ``2w`` (that long before ``now``) or a date ``YYYY-MM-DD`` (its start, UTC)."""
    text = value.strip().lower()
    match = re.fullmatch(r"(\d{1,5})([hdw])", text)
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"cannot read the start of the window {value!r}",
            "Give a duration such as 24h, 7d or 2w, or a date YYYY-MM-DD (UTC).",
        ) from None
    start = day.replace(tzinfo=UTC)
    if start > now:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"the window starts in the future ({value})",
            "Give a date that has begun (UTC).",
        )
    return start


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start of ``now``'s calendar month and of the next one (UTC)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following
