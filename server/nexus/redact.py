"""Secrets (the Daytona API key, SSH access tokens) never reach a log line: a filter masks every
registered secret."""

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
    """On a handler, it sees the records of every logger (asyncssh logs the SSH user name, which
    on Daytona is the access token; urllib3 logs request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        return True


def install(handler: logging.Handler) -> None:
    handler.addFilter(RedactingFilter())
