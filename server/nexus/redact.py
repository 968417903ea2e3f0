"""Secrets (the Daytona API key) never reach a log line: a filter masks every registered secret."""

from __future__ import annotations

import logging

_SECRETS: set[str] = set()
MASK = "********"


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


def install(handler: logging.Handler) -> None:
    handler.addFilter(RedactingFilter())
