"""Nexus errors: every failure a user can see carries a stable code and a resolution line.

The codes are part of the public contract (CLI ``--json`` output, sidecar error data, exit codes);
see ``docs/errors.md``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes per error class (documented in docs/errors.md)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    BACKEND_UNAVAILABLE = 5
    CONNECTION = 6
    STATE = 7
    INTERRUPTED = 130
    REMOTE_FAILURE = (
        255  # exec/ssh: Nexus itself failed (the remote command's code passes through otherwise)
    )


class ErrorCode:
    """Stable error codes (PRD Appendix B plus Nexus's own)."""

    # PRD Appendix B
    SSH_CONNECTION_FAILED = "SSH_CONNECTION_FAILED"
    SSH_AUTH_REJECTED = "SSH_AUTH_REJECTED"
    SYNC_FAILED = "SYNC_FAILED"
    CAPABILITY_NOT_SUPPORTED = "CAPABILITY_NOT_SUPPORTED"
    DAYTONA_AUTH_FAILED = "DAYTONA_AUTH_FAILED"
    DAYTONA_RATE_LIMITED = "DAYTONA_RATE_LIMITED"
    DAYTONA_REGION_UNAVAILABLE = "DAYTONA_REGION_UNAVAILABLE"
    DAYTONA_SANDBOX_STOPPED = "DAYTONA_SANDBOX_STOPPED"
    DAYTONA_QUOTA_EXCEEDED = "DAYTONA_QUOTA_EXCEEDED"
    DOCKER_VOLUME_IN_USE = "DOCKER_VOLUME_IN_USE"
    DAYTONA_UNAVAILABLE = "DAYTONA_UNAVAILABLE"
    DAYTONA_ERROR = "DAYTONA_ERROR"
    # Nexus
    WORKSPACE_NOT_FOUND = "WORKSPACE_NOT_FOUND"
    WORKSPACE_EXISTS = "WORKSPACE_EXISTS"
    WORKSPACE_BUSY = "WORKSPACE_BUSY"
    WORKSPACE_NOT_RUNNING = "WORKSPACE_NOT_RUNNING"
    WORKSPACE_MISSING = "WORKSPACE_MISSING"
    WORKSPACE_INCOMPLETE = "WORKSPACE_INCOMPLETE"
    INVALID_NAME = "INVALID_NAME"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_CONFIG = "INVALID_CONFIG"
    BACKEND_DISABLED = "BACKEND_DISABLED"
    DOCKER_UNAVAILABLE = "DOCKER_UNAVAILABLE"
    DOCKER_ERROR = "DOCKER_ERROR"
    IMAGE_BUILD_FAILED = "IMAGE_BUILD_FAILED"
    IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND"
    SNAPSHOT_NOT_FOUND = "SNAPSHOT_NOT_FOUND"
    SYNC_NOT_FOUND = "SYNC_NOT_FOUND"
    PREVIEW_NOT_FOUND = "PREVIEW_NOT_FOUND"
    PREVIEW_UNREACHABLE = "PREVIEW_UNREACHABLE"
    DOCKER_VOLUME_NOT_FOUND = "DOCKER_VOLUME_NOT_FOUND"
    DOCKER_NETWORK_NOT_FOUND = "DOCKER_NETWORK_NOT_FOUND"
    IMAGE_INVALID = "IMAGE_INVALID"
    PORTS_EXHAUSTED = "PORTS_EXHAUSTED"
    SOURCE_NOT_FOUND = "SOURCE_NOT_FOUND"
    SSH_CONFIG_CONFLICT = "SSH_CONFIG_CONFLICT"
    SSH_ALIAS_TAKEN = "SSH_ALIAS_TAKEN"
    HOST_KEY_MISMATCH = "HOST_KEY_MISMATCH"
    HOST_KEY_UNKNOWN = "HOST_KEY_UNKNOWN"
    GIT_BRANCH_EXISTS = "GIT_BRANCH_EXISTS"
    GIT_WORKTREE_EXISTS = "GIT_WORKTREE_EXISTS"
    GIT_WORKTREE_DIRTY = "GIT_WORKTREE_DIRTY"
    GIT_FAILED = "GIT_FAILED"
    GIT_UNTRUSTED_REPOSITORY = "GIT_UNTRUSTED_REPOSITORY"
    IDE_NOT_FOUND = "IDE_NOT_FOUND"
    LSP_LANGUAGE_UNKNOWN = "LSP_LANGUAGE_UNKNOWN"
    LSP_SERVER_FAILED = "LSP_SERVER_FAILED"
    STORE_ERROR = "STORE_ERROR"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    EXPORT_INVALID = "EXPORT_INVALID"
    EXPORT_VERSION_UNSUPPORTED = "EXPORT_VERSION_UNSUPPORTED"
    MIGRATION_VERIFY_FAILED = "MIGRATION_VERIFY_FAILED"
    CANCELLED = "CANCELLED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


_EXIT_BY_CODE: dict[str, ExitCode] = {
    ErrorCode.INVALID_NAME: ExitCode.USAGE,
    ErrorCode.INVALID_ARGUMENT: ExitCode.USAGE,
    ErrorCode.INVALID_CONFIG: ExitCode.USAGE,
    ErrorCode.SOURCE_NOT_FOUND: ExitCode.USAGE,
    ErrorCode.CAPABILITY_NOT_SUPPORTED: ExitCode.USAGE,
    ErrorCode.BACKEND_DISABLED: ExitCode.USAGE,
    ErrorCode.IDE_NOT_FOUND: ExitCode.USAGE,
    ErrorCode.LSP_LANGUAGE_UNKNOWN: ExitCode.USAGE,
    ErrorCode.IMAGE_NOT_FOUND: ExitCode.USAGE,
    ErrorCode.IMAGE_INVALID: ExitCode.USAGE,
    ErrorCode.SSH_ALIAS_TAKEN: ExitCode.USAGE,
    ErrorCode.EXPORT_INVALID: ExitCode.USAGE,
    ErrorCode.EXPORT_VERSION_UNSUPPORTED: ExitCode.USAGE,
    ErrorCode.WORKSPACE_NOT_FOUND: ExitCode.NOT_FOUND,
    ErrorCode.SNAPSHOT_NOT_FOUND: ExitCode.NOT_FOUND,
    ErrorCode.SYNC_NOT_FOUND: ExitCode.NOT_FOUND,
    ErrorCode.PREVIEW_NOT_FOUND: ExitCode.NOT_FOUND,
    ErrorCode.DOCKER_VOLUME_NOT_FOUND: ExitCode.NOT_FOUND,
    ErrorCode.DOCKER_NETWORK_NOT_FOUND: ExitCode.NOT_FOUND,
    ErrorCode.WORKSPACE_EXISTS: ExitCode.CONFLICT,
    ErrorCode.WORKSPACE_BUSY: ExitCode.CONFLICT,
    ErrorCode.SSH_CONFIG_CONFLICT: ExitCode.CONFLICT,
    ErrorCode.GIT_BRANCH_EXISTS: ExitCode.CONFLICT,
    ErrorCode.GIT_WORKTREE_EXISTS: ExitCode.CONFLICT,
    ErrorCode.GIT_WORKTREE_DIRTY: ExitCode.CONFLICT,
    ErrorCode.GIT_UNTRUSTED_REPOSITORY: ExitCode.CONFLICT,
    ErrorCode.DOCKER_VOLUME_IN_USE: ExitCode.CONFLICT,
    ErrorCode.PORTS_EXHAUSTED: ExitCode.CONFLICT,
    ErrorCode.BUDGET_EXCEEDED: ExitCode.CONFLICT,
    ErrorCode.DOCKER_UNAVAILABLE: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DOCKER_ERROR: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.IMAGE_BUILD_FAILED: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DAYTONA_AUTH_FAILED: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DAYTONA_RATE_LIMITED: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DAYTONA_REGION_UNAVAILABLE: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DAYTONA_QUOTA_EXCEEDED: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DAYTONA_UNAVAILABLE: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.DAYTONA_ERROR: ExitCode.BACKEND_UNAVAILABLE,
    ErrorCode.SSH_CONNECTION_FAILED: ExitCode.CONNECTION,
    ErrorCode.HOST_KEY_MISMATCH: ExitCode.CONNECTION,
    ErrorCode.HOST_KEY_UNKNOWN: ExitCode.CONNECTION,
    ErrorCode.SSH_AUTH_REJECTED: ExitCode.CONNECTION,
    ErrorCode.SYNC_FAILED: ExitCode.CONNECTION,
    ErrorCode.PREVIEW_UNREACHABLE: ExitCode.CONNECTION,
    ErrorCode.WORKSPACE_NOT_RUNNING: ExitCode.STATE,
    ErrorCode.WORKSPACE_MISSING: ExitCode.STATE,
    ErrorCode.WORKSPACE_INCOMPLETE: ExitCode.STATE,
    ErrorCode.LSP_SERVER_FAILED: ExitCode.STATE,
    ErrorCode.DAYTONA_SANDBOX_STOPPED: ExitCode.STATE,
    ErrorCode.MIGRATION_VERIFY_FAILED: ExitCode.STATE,
    ErrorCode.CANCELLED: ExitCode.INTERRUPTED,
}


class NexusError(Exception):
    """A failure the user can act on: stable ``code``, human ``message``, one ``resolution`` line."""

    def __init__(
        self, code: str, message: str, resolution: str = "", options: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.resolution = resolution
        # the request options the resolution speaks of (CreateOptions fields, "force", …): each
        # adapter names them its own way (the CLI by its flags), the service never does
        self.options = options

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT_BY_CODE.get(self.code, ExitCode.INTERNAL)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "resolution": self.resolution,
        }
        if self.options:  # the request options the resolution speaks of (snake_case names)
            data["options"] = list(self.options)
        return data


def workspace_not_found(name: str) -> NexusError:
    return NexusError(
        ErrorCode.WORKSPACE_NOT_FOUND,
        f"workspace '{name}' not found",
        "Run `nexus workspace list` to see your workspaces.",
    )


def workspace_not_running(name: str, status: str) -> NexusError:
    return NexusError(
        ErrorCode.WORKSPACE_NOT_RUNNING,
        f"workspace '{name}' is {status}",
        f"Run `nexus workspace start {name}` first.",
    )
