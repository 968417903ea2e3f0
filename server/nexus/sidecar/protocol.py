"""The sidecar's method names, typed params and results (the contract: docs/sidecar-protocol.md).

Params are pydantic models read from camelCase JSON (``workDoneToken`` -> ``work_done_token``);
unknown fields are ignored. Results are the camelCase dicts the domain already produces
(``Workspace.public_dict()``, ``BackendCapabilities.to_json_dict()``), typed here.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..domain.models import BackendType

API_VERSION = 1

# ---- requests (client -> server) ----------------------------------------------------------------
WORKSPACE_LIST = "nexus/workspace/list"
WORKSPACE_GET = "nexus/workspace/get"
WORKSPACE_CREATE = "nexus/workspace/create"
WORKSPACE_START = "nexus/workspace/start"
WORKSPACE_STOP = "nexus/workspace/stop"
WORKSPACE_DELETE = "nexus/workspace/delete"
WORKSPACE_EXEC = "nexus/workspace/exec"
WORKSPACE_CONNECTION_INFO = "nexus/workspace/connectionInfo"
WORKSPACE_OPEN = "nexus/workspace/open"
BACKEND_CAPABILITIES = "nexus/backend/capabilities"
PROVIDER_EXECUTE = "nexus/provider/execute"
PROVIDER_OPERATIONS = "nexus/provider/operations"
CONFIG_GET = "nexus/config/get"
CONFIG_SET = "nexus/config/set"
SYNC_START = "nexus/sync/start"
SYNC_PAUSE = "nexus/sync/pause"
SYNC_RESUME = "nexus/sync/resume"
SYNC_FLUSH = "nexus/sync/flush"
SYNC_STOP = "nexus/sync/stop"
SYNC_STATUS = "nexus/sync/status"
PREVIEW_OPEN = "nexus/preview/open"
PREVIEW_CLOSE = "nexus/preview/close"
PREVIEW_LIST = "nexus/preview/list"
WORKSPACE_KEEP_RUNNING = "nexus/workspace/keepRunning"
WORKSPACE_MIGRATE = "nexus/workspace/migrate"
USAGE = "nexus/usage"
DOCTOR = "nexus/doctor"

# ---- notifications (server -> client) -----------------------------------------------------------
WORKSPACE_DID_CHANGE_STATE = "nexus/workspace/didChangeState"
WORKSPACE_DID_OUTPUT = "nexus/workspace/didOutput"
SYNC_DID_CHANGE = "nexus/sync/didChange"
WORKSPACE_AUTO_STOP_WARNING = "nexus/workspace/autoStopWarning"
WORKSPACE_AUTO_STOPPED = "nexus/workspace/autoStopped"
BUDGET_DID_CHANGE = "nexus/budget/didChange"

LogLevel = Literal["error", "warning", "info", "debug"]
ProgressToken = int | str


class Params(BaseModel):
    """Base of every params object: camelCase on the wire, extra fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", frozen=True)


class WorkDoneParams(Params):
    """Params of a long request: an optional client-created ``$/progress`` token."""

    work_done_token: ProgressToken | None = None


class InitializationOptions(Params):
    api_version: int = API_VERSION
    editor: str | None = None
    log_level: LogLevel = "info"


class ListParams(Params):
    backend: BackendType | None = None
    refresh: bool = True  # read live statuses from the engines (like `nexus workspace list`)


class NameParams(Params):
    name: str


class CreateParams(WorkDoneParams):
    name: str
    backend: BackendType | None = None
    cpu: float | None = None
    memory_gb: float | None = None
    disk_gb: float | None = None
    image: str | None = None
    source_path: str | None = None
    labels: dict[str, str] | None = None
    worktree: bool | None = None  # None: config workspace.worktree
    base: str | None = None  # worktree base ref (default HEAD)
    forward_agent: bool | None = None  # None: config ssh.forward_agent
    # create even if the user's own ssh config defines Host nexus-<name> (else SSH_ALIAS_TAKEN)
    allow_alias_shadowing: bool = False
    # daytona
    region: str | None = None
    auto_stop: int | None = None  # minutes, 0 = never
    ephemeral: bool = False
    snapshot: str | None = None
    git_url: str | None = None
    git_branch: str | None = None
    env: dict[str, str] | None = None
    # go ahead even when the month's estimated cost has reached budget.monthly (BUDGET_EXCEEDED)
    over_budget: bool = False


class LifecycleParams(WorkDoneParams):
    name: str


class StartParams(LifecycleParams):
    over_budget: bool = False  # start even when the month's budget is used up


class DeleteParams(WorkDoneParams):
    name: str
    force: bool = False
    keep_branch: bool = False
    forget: bool = False  # drop the record even if the backend cannot remove the resource


class ExecParams(WorkDoneParams):
    name: str
    command: list[str] = Field(min_length=1)
    output_id: str | None = None
    workdir: str | None = None


class OpenParams(Params):
    name: str
    path: str | None = None
    mode: Literal["remote-ssh", "local"] | None = None  # None: config workspace.ide_mode
    ide: str | None = None  # accepted for compatibility: the editor asking is the IDE


class CapabilitiesParams(Params):
    backend: BackendType


class ProviderExecuteParams(WorkDoneParams):
    operation: str  # "daytona.snapshot.create"
    workspace: str | None = None  # None for an operation without one (docker.image.prune)
    params: dict[str, Any] = Field(default_factory=dict)  # the operation's own (camelCase)
    no_fallback: bool = False


class ProviderOperationsParams(Params):
    backend: BackendType | None = None


class ConfigGetParams(Params):
    key: str | None = None


class ConfigSetParams(Params):
    key: str
    value: str


class SyncParams(WorkDoneParams):
    workspace: str


class SyncStartParams(WorkDoneParams):
    workspace: str
    local: str | None = None  # None: the folder it synced before, or the workspace's own
    remote: str | None = None  # None: what it synced before, or the workspace's folder
    ignore: list[str] = Field(default_factory=list)  # besides .git and config sync.ignore_patterns
    mode: str | None = None  # None: config sync.mode (two-way-safe)


class PreviewParams(WorkDoneParams):
    workspace: str
    port: int
    local_port: int | None = None  # None: any free port


class PreviewCloseParams(Params):
    workspace: str
    port: int


class PreviewListParams(Params):
    workspace: str | None = None  # None: every workspace


class SyncStatusParams(Params):
    workspace: str | None = None  # None: every workspace that syncs


class UsageParams(Params):
    since: str | None = None  # "7d", "24h", "2w", "YYYY-MM-DD"; None: the month so far
    workspace: str | None = None


class DoctorParams(Params):
    fix: bool = False
    offline: bool = False


class MigrateParams(WorkDoneParams):
    name: str
    to_backend: BackendType
    new_name: str | None = None  # default "<name>-<backend>"
    keep_source: bool = False


# ---- results and notification params (camelCase dicts) -----------------------------------------
JsonObject = dict[str, Any]


class ListResult(TypedDict):
    workspaces: list[JsonObject]


class ExecResult(TypedDict):
    exitCode: int
    stdout: str
    stderr: str


class ConfigGetResult(TypedDict):
    key: str | None
    value: Any


class ConfigSetResult(TypedDict):
    key: str
    value: Any


class DidChangeStateParams(TypedDict):
    name: str
    workspace: JsonObject | None
    previousStatus: str | None
    deleted: bool


class DidOutputParams(TypedDict):
    outputId: str
    stream: Literal["stdout", "stderr"]
    text: str


class SyncStatusResult(TypedDict):
    workspaces: list[JsonObject]  # SyncReport.to_json_dict()


class DidChangeSyncParams(TypedDict):
    workspace: str
    state: str | None  # its session's state (SyncSession.state); None: it has none (any more)
    previousState: str | None
    conflictCount: int
    report: JsonObject  # SyncReport.to_json_dict()


class BudgetDidChangeParams(TypedDict):
    state: str  # "ok", "warn", "exceeded" ("none": the budget was removed)
    previousState: str | None
    usedPercent: float | None
    cost: float  # the month to date
    forecast: float  # to the end of the month
    monthly: float | None
    currency: str
