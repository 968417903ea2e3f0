"""Tunable behaviour of an emulator instance."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Quota:
    """Organization limits, enforced on create/start like the real API (403)."""

    max_cpu_per_sandbox: int = 4
    max_memory_per_sandbox: int = 8
    max_disk_per_sandbox: int = 10
    total_cpu: int | None = None
    total_memory: int | None = None
    total_disk: int | None = None


@dataclass
class EmulatorConfig:
    """Everything about an emulator instance that a test may want to change.

    Times called "minutes" in the API (autoStopInterval, ...) are scaled by
    ``minute_seconds`` so that auto-stop and friends can be tested quickly.
    """

    regions: tuple[str, ...] = ("us", "eu")
    default_region: str = "us"
    organization_id: str = "emulator-org"
    default_snapshot: str = "daytonaio/sandbox:emulator"
    default_user: str = "daytona"
    default_cpu: int = 1
    default_memory: int = 1
    default_disk: int = 3
    default_auto_stop_minutes: int = 15
    default_auto_archive_minutes: int = 7 * 24 * 60
    transition_delay: float = 0.0
    # How long create/start wait for `started` before answering (the real API waits up to 30 s).
    create_wait_seconds: float = 30.0
    minute_seconds: float = 60.0
    reaper_interval: float = 0.5
    ssh_token_minutes: int = 60
    # What the SSH gateway does with an invalid, expired or revoked token (or a sandbox that is
    # not started). "close", like the real gateway (apps/ssh-gateway/main.go: NoClientAuth, then
    # validate the token and close the connection): authentication succeeds and the connection
    # is closed right after, with no message. "refuse": authentication fails ("Permission denied").
    ssh_invalid_token: str = "close"
    signed_preview_seconds: int = 60
    enforce_resource_limits: bool = True
    page_limit_default: int = 100
    quota: Quota = field(default_factory=Quota)
    # host path -> (container path, read_only), mounted into every new sandbox
    bind_mounts: dict[str, tuple[str, bool]] = field(default_factory=dict)
