"""What a check reports: one finding per thing checked, each with a stable code."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """``code`` is stable (``DOCTOR_…``, documented in docs/troubleshooting.md); ``message`` says
    what is wrong (or what was checked, for ``ok``); ``fix`` the fix in words or the exact
    command; ``fixable``: ``--fix`` applies it; ``fixed``: ``--fix`` did."""

    code: str
    severity: Severity
    message: str
    fix: str = ""
    fixable: bool = False
    fixed: bool = False
    check: str = ""  # the family of checks it came from (ssh, docker, sync, …)
    subject: str = ""  # what it is about (a workspace, a file, a key), when one thing

    def done(self, message: str) -> Finding:
        """This finding after ``--fix`` repaired it."""
        return replace(self, severity=Severity.OK, fixed=True, message=message)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "check": self.check,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
            "fixable": self.fixable,
            "fixed": self.fixed,
        }


def ok(code: str, message: str, **extra: Any) -> Finding:
    return Finding(code, Severity.OK, message, **extra)


def warning(code: str, message: str, fix: str = "", **extra: Any) -> Finding:
    return Finding(code, Severity.WARNING, message, fix, **extra)


def error(code: str, message: str, fix: str = "", **extra: Any) -> Finding:
    return Finding(code, Severity.ERROR, message, fix, **extra)


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def healthy(self) -> bool:
        """No error remains (warnings do not fail the command)."""
        return self.count(Severity.ERROR) == 0

    def summary(self) -> dict[str, int | bool]:
        return {
            "ok": self.count(Severity.OK),
            "warnings": self.count(Severity.WARNING),
            "errors": self.count(Severity.ERROR),
            "fixed": sum(1 for f in self.findings if f.fixed),
            "fixable": sum(1 for f in self.findings if f.fixable and not f.fixed),
            "healthy": self.healthy,
        }

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json_dict() for f in self.findings],
            "summary": self.summary(),
        }
