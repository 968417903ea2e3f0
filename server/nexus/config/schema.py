"""The v2 schema of PRD §5.1, plus the settings Nexus itself needs (documented in docs/config.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..domain.kinds import BackendType
from .loader import SECRET_KEYS as SECRET_KEYS

IdeName = Literal["code", "cursor", "code-insiders", "codium"]
IdeMode = Literal["remote-ssh", "local"]


DEFAULT_IDE_MODE: dict[BackendType, IdeMode] = {
    BackendType.DOCKER: "local",
    BackendType.DAYTONA: "remote-ssh",
}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DefaultResources(Section):
    cpu: float = Field(default=2, gt=0)
    memory: float = Field(default=4, gt=0, description="GB")
    disk: float = Field(default=20, gt=0, description="GB")


class WorkspaceSettings(Section):
    default_backend: BackendType = BackendType.DOCKER
    auto_start: bool = True
    storage_path: str = "~/.nexus/workspaces"
    ide: IdeName | None = None
    ide_mode: dict[BackendType, IdeMode] = Field(default_factory=lambda: dict(DEFAULT_IDE_MODE))
    worktree: bool = True


SyncMode = Literal["two-way-safe", "two-way-resolved", "one-way-safe", "one-way-replica"]


class SyncSettings(Section):
    default_beta: Literal["remote", "local"] = "remote"
    # appended to .git (always ignored); Mutagen's syntax, close to .gitignore (docs/sync.md)
    ignore_patterns: list[str] = Field(default_factory=lambda: [".git", "node_modules", "*.log"])
    # the `mutagen` binary (None: the one on PATH); env NEXUS_MUTAGEN
    mutagen_path: str | None = None
    mode: SyncMode = "two-way-safe"
    # seconds a sync may take to connect (the first time: installing Mutagen's agent) and to
    # finish a cycle that Nexus waits for (create --from, sync start, sync flush)
    timeout: float = Field(default=600, gt=0)
    # seconds between Mutagen's scans for changes its file watching misses (Linux watches only
    # the most recently changed folders)
    watch_polling_interval: int = Field(default=10, ge=1)


class SshSettings(Section):
    # the default for `workspace create` (off: a workspace's processes could sign with your keys)
    forward_agent: bool = False
    server_alive_interval: int = Field(default=30, ge=0)
    server_alive_count_max: int = Field(default=4, ge=1)
    manage_user_config: bool = True
    connect_timeout: float = Field(default=60, gt=0, description="seconds to wait for sshd")
    # seconds a shared connection (OpenSSH ControlMaster) outlives its last session; 0: no sharing
    control_persist: int = Field(default=300, ge=0)


class Rates(Section):
    """What an hour of each resource costs, for `nexus usage` and the budget (estimates only:
    the provider's bill is the truth)."""

    currency: str = "USD"
    cpu_hour: float = Field(default=0.0, ge=0, description="per vCPU-hour")
    memory_gb_hour: float = Field(default=0.0, ge=0, description="per GB-hour of memory")
    disk_gb_hour: float = Field(default=0.0, ge=0, description="per GB-hour of disk")


def _daytona_rates() -> Rates:
    # Daytona's published per-second prices (vCPU $0.000014, GiB memory $0.0000045,
    # GiB disk $0.00000003), per hour
    return Rates(cpu_hour=0.0504, memory_gb_hour=0.0162, disk_gb_hour=0.000108)


class DockerSettings(Section):
    enabled: bool = True
    base_image: str = "debian:bookworm-slim"
    host: str | None = None  # DOCKER_HOST override
    default_resources: DefaultResources | None = None
    port_range: tuple[int, int] = (32800, 34999)
    rates: Rates = Field(default_factory=Rates)  # a local engine costs nothing by default

    @field_validator("port_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not (1024 <= low <= high <= 65535):
            raise ValueError("port_range must be two ports, low <= high, within 1024-65535")
        return value


class DaytonaSyncSettings(Section):
    # `workspace cp` to or from a Daytona workspace uses the File API above this many files
    use_file_api_threshold: int = Field(default=100, ge=0)


class DaytonaResources(DefaultResources):
    # within Daytona's default per-sandbox limits (4 vCPU, 8 GB memory, 10 GB disk)
    disk: float = Field(default=10, gt=0, description="GB")


class DaytonaSettings(Section):
    enabled: bool = True
    api_key: str | None = None  # usually "${DAYTONA_API_KEY}" or the env var itself
    api_url: str = "https://app.daytona.io/api"
    default_region: str | None = None
    auto_stop_interval: int = Field(default=30, ge=0, description="minutes, 0 = never")
    image: str = "debian:bookworm-slim"  # base image for sandboxes (a snapshot via --from-snapshot)
    create_timeout: float = Field(default=180, gt=0, description="seconds for create/start/stop")
    default_resources: DaytonaResources = Field(default_factory=DaytonaResources)
    sync: DaytonaSyncSettings = Field(default_factory=DaytonaSyncSettings)
    rates: Rates = Field(default_factory=_daytona_rates)
    # the editor is warned this many minutes before a sandbox auto-stops; 0: no warning
    auto_stop_warning_minutes: float = Field(default=5, ge=0)
    # seconds between the sidecar's reads of the sandboxes' last activity
    activity_poll_interval: float = Field(default=30, gt=0)


class BackendsSettings(Section):
    docker: DockerSettings = Field(default_factory=DockerSettings)
    daytona: DaytonaSettings = Field(default_factory=DaytonaSettings)


DEFAULT_LSP_COMMANDS = {
    "python": "pylsp",
    "typescript": "typescript-language-server --stdio",
}


class LspSettings(Section):
    # language -> the language server command run in the workspace (stdio), for `nexus lsp`
    commands: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LSP_COMMANDS))
    # on Daytona: its own LSP API ("api"), or the command above over SSH ("ssh")
    daytona_mode: Literal["api", "ssh"] = "api"


class BudgetSettings(Section):
    # the most the month's estimated cost may reach (in the rates' currency); None: no budget
    monthly: float | None = Field(default=None, gt=0)
    # create/start warn from this share of the budget on; at 100 % they refuse (--over-budget)
    warn_percent: float = Field(default=80, gt=0, le=100)


class NexusConfig(Section):
    version: Literal["2"] = "2"
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)
    backends: BackendsSettings = Field(default_factory=BackendsSettings)
    lsp: LspSettings = Field(default_factory=LspSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
