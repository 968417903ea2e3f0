"""Domain models shared by every layer (pydantic; serialised camelCase for CLI ``--json`` and the sidecar)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .kinds import REMOTE_PATH as REMOTE_PATH
from .kinds import SSH_ALIAS_PREFIX as SSH_ALIAS_PREFIX
from .kinds import TRANSITIONAL as TRANSITIONAL
from .kinds import BackendType as BackendType
from .kinds import WorkspaceStatus as WorkspaceStatus
from .kinds import remote_uri as remote_uri
from .kinds import ssh_alias as ssh_alias
from .kinds import utcnow as utcnow


class Model(BaseModel):
    """Base: camelCase on the wire, snake_case in Python."""

    # defer_build: a model's validator is built when it is first used, not at import
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Resources(Model):
    cpu: float | None = None
    memory_gb: float | None = None
    disk_gb: float | None = None


class BindMount(Model):
    """A host file or folder bound into a workspace at ``target``; ``read_only`` is enforced there.

    Without ``source``, ``target`` is a folder of the workspace's own instead: empty at create,
    kept across stop/start, gone with the workspace, never seen by the host, and owned by the
    workspace user.
    """

    source: Path | None
    target: str
    read_only: bool = False


class CreateRequest(Model):
    name: str
    backend: BackendType = BackendType.DOCKER
    resources: Resources = Field(default_factory=Resources)
    image: str | None = None
    source_path: Path | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    # Daytona-only options (validated by the backend that reads them).
    region: str | None = None
    auto_stop_minutes: int | None = None
    ephemeral: bool = False
    snapshot: str | None = None
    git_url: str | None = None
    git_branch: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    # labels the container / sandbox carries so its record can be rebuilt (`workspace recover`)
    record_labels: dict[str, str] = Field(default_factory=dict)
    # Host paths bound into the workspace besides the source folder (a repository's git data,
    # laid out by nexus.vcs.isolation so nothing the workspace writes runs on the host).
    mounts: list[BindMount] = Field(default_factory=list)
    # git settings for the workspace user (user.name, user.email, ...), written to its ~/.gitconfig.
    git_config: dict[str, str] = Field(default_factory=dict)


class SSHConnection(Model):
    """The universal interface: everything a client needs to reach a workspace over SSH."""

    host: str
    port: int
    username: str
    private_key: str | None = Field(default=None, repr=False)  # OpenSSH PEM; None = token auth
    private_key_path: Path | None = None
    host_key: str | None = None  # "ssh-ed25519 AAAA..." to pin, None = unknown (trust on first use)
    expires_at: datetime | None = None  # for expiring credentials (Daytona tokens)
    key_auth: bool = True  # False: the gateway authenticates by user name (a token), not a key


class BackendCapabilities(Model):
    """What works on a backend; each true flag other than ssh has escape hatches registered
    with it (nexus.domain.provider) that work."""

    supports_ssh: bool = True
    supports_sync: bool = False
    supports_direct_volume_management: bool = False
    supports_image_caching: bool = False
    supports_snapshots: bool = False
    supports_lsp: bool = False
    supports_web_previews: bool = False
    supports_process_api: bool = False
    supports_file_api: bool = False


class ResourceStats(Model):
    cpu_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_limit_bytes: int | None = None


class ProvisionKeys(Model):
    """Keys Nexus generated for a new workspace: who may log in, and what the server proves itself with."""

    authorized_key: str
    host_private_key: str = Field(repr=False)
    host_public_key: str


class ProvisionedWorkspace(Model):
    """What a backend reports after creating a workspace."""

    backend_id: str
    ssh: SSHConnection
    image: str | None = None
    remote_path: str | None = None  # default REMOTE_PATH
    metadata: dict[str, Any] = Field(default_factory=dict)


class AutoStop(Model):
    """A workspace that stops itself after ``minutes`` without activity, as its backend last
    reported it (Daytona's ``autoStopInterval`` and ``lastActivityAt``)."""

    minutes: int
    last_activity_at: datetime

    @property
    def stops_at(self) -> datetime:
        return self.last_activity_at + timedelta(minutes=self.minutes)

    def minutes_left(self, now: datetime) -> float:
        return max(0.0, (self.stops_at - now).total_seconds() / 60)

    def public_dict(self) -> dict[str, Any]:
        data = self.to_json_dict()
        data["stopsAt"] = self.stops_at.isoformat()
        return data


# Recorded, never shown (``public_dict``): not even serialised, the metadata can be large.
_PRIVATE_FIELDS = {"host_key", "metadata", "ports", "owner", "auto_stop"}


class Workspace(Model):
    """A workspace as Nexus records it (the state store row)."""

    name: str
    backend: BackendType
    status: WorkspaceStatus
    backend_id: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    host_key: str | None = None
    remote_path: str = REMOTE_PATH
    local_path: str | None = None
    branch: str | None = None
    image: str | None = None
    resources: Resources = Field(default_factory=Resources)
    labels: dict[str, str] = Field(default_factory=dict)
    ports: dict[str, int] = Field(default_factory=dict)  # purpose -> host port
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    owner: str | None = None  # the process running a transition (see nexus.ownership)
    forward_agent: bool = False  # ssh-agent forwarding into this workspace (chosen at create)
    # observed, never recorded: when a running workspace will stop itself (None: it will not,
    # or its backend was not asked)
    auto_stop: AutoStop | None = None

    @property
    def ssh_alias(self) -> str:
        return ssh_alias(self.name)

    def public_dict(self) -> dict[str, Any]:
        """The stable JSON shape (docs/sidecar-protocol.md ``Workspace``)."""
        data = self.model_dump(mode="json", by_alias=True, exclude=_PRIVATE_FIELDS)
        if self.backend is BackendType.DAYTONA:
            data["sshUser"] = None  # the gateway's user name is the access token: never shown
        data["sshAlias"] = self.ssh_alias
        data["autoStop"] = None if self.auto_stop is None else self.auto_stop.public_dict()
        return data


class ConnectionInfo(Model):
    """What an editor needs to open a workspace over Remote-SSH."""

    alias: str
    host: str
    port: int
    user: str
    remote_path: str
    authority: str
    uri: str
    ssh_command: str
    ssh_config_path: str


class OpenTarget(Model):
    """What to open for a workspace: a remote folder over SSH, or its local folder."""

    mode: str  # "remote-ssh" | "local"
    uri: str
    local_path: str | None = None
