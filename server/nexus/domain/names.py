"""Workspace names are lowercase DNS labels: they become container names, ssh aliases and URI authorities."""

from __future__ import annotations

import re

from .errors import ErrorCode, NexusError

MAX_NAME_LENGTH = 63
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid workspace name, else raise INVALID_NAME saying why."""
    problem = None
    if not name:
        problem = "it is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"it is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    elif not _LABEL.match(name):
        problem = (
            "it may contain only lowercase letters, digits and '-', "
            "and must start and end with a letter or digit"
        )
    if problem:
        raise NexusError(
            ErrorCode.INVALID_NAME,
            f"invalid workspace name {name!r}: {problem}",
            "Use a lowercase DNS label such as 'my-feature' (at most 63 characters).",
        )
    return name
