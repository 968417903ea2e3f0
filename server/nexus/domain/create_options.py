"""What a user can ask for at create, defined once.

``CreateOptions`` is what the CLI flags and the sidecar's ``nexus/workspace/create`` params are
read into; ``CREATE_OPTIONS`` says, per field, its name on the wire (sidecar, ``protocol.ts``),
its CLI flag, a label for messages, and whether every backend takes it or only the backends that
list it in their ``BackendFacts.create_options``. The CLI, the sidecar and the extension's
protocol are checked against this table by tests/unit/test_create_options.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .kinds import BackendType


@dataclass
class CreateOptions:
    """What a user asks for at create, before defaults apply (None: the config decides)."""

    name: str
    # create even if the user's own ssh config has a `Host nexus-<name>` (one shadows the other)
    force_alias: bool = False
    backend: BackendType | None = None
    cpu: float | None = None
    memory_gb: float | None = None
    disk_gb: float | None = None
    image: str | None = None
    source_path: Path | None = None
    labels: dict[str, str] | None = None
    worktree: bool | None = None  # None: config workspace.worktree
    base: str | None = None  # worktree base ref (default HEAD)
    forward_agent: bool | None = None  # None: config ssh.forward_agent
    region: str | None = None
    auto_stop_minutes: int | None = None
    ephemeral: bool = False
    snapshot: str | None = None
    git_url: str | None = None
    git_branch: str | None = None
    env: dict[str, str] | None = None
    # go ahead even when the month's estimated cost has reached budget.monthly
    over_budget: bool = False

    def request_fields(self) -> dict[str, Any]:
        """The options the backend gets as they are (``CreateRequest`` fields)."""
        return {field: getattr(self, field) for field in REQUEST_FIELDS}

    def given(self, field: str) -> bool:
        """The user set ``field`` (a value other than its default)."""
        value = getattr(self, field)
        return value not in (None, False, {}, [])


@dataclass(frozen=True)
class OptionSpec:
    field: str  # CreateOptions field
    wire: str  # sidecar param / protocol.ts property (camelCase)
    flag: str  # CLI flag ("" for the positional name)
    label: str  # how messages name it (never a flag: an editor user sees them too)
    common: bool = True  # every backend takes it; False: only backends listing it


CREATE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("name", "name", "", "name"),
    OptionSpec("force_alias", "allowAliasShadowing", "--allow-alias-shadowing", "alias shadowing"),
    OptionSpec("backend", "backend", "--backend", "backend"),
    OptionSpec("cpu", "cpu", "--cpu", "cpu"),
    OptionSpec("memory_gb", "memoryGb", "--memory", "memory"),
    OptionSpec("disk_gb", "diskGb", "--disk", "disk"),
    OptionSpec("image", "image", "--image", "image"),
    OptionSpec("source_path", "sourcePath", "--from", "local source folder", common=False),
    OptionSpec("labels", "labels", "--label", "labels"),
    OptionSpec("worktree", "worktree", "--no-worktree", "worktree", common=False),
    OptionSpec("base", "base", "--base", "worktree base", common=False),
    OptionSpec("forward_agent", "forwardAgent", "--forward-agent", "agent forwarding"),
    OptionSpec("region", "region", "--region", "region", common=False),
    OptionSpec("auto_stop_minutes", "autoStop", "--auto-stop", "auto-stop", common=False),
    OptionSpec("ephemeral", "ephemeral", "--ephemeral", "ephemeral", common=False),
    OptionSpec("snapshot", "snapshot", "--from-snapshot", "snapshot", common=False),
    OptionSpec("git_url", "gitUrl", "--from", "git URL to clone", common=False),
    OptionSpec("git_branch", "gitBranch", "--branch", "git branch to clone", common=False),
    OptionSpec("env", "env", "--env", "environment variables", common=False),
    OptionSpec("over_budget", "overBudget", "--over-budget", "over budget"),
)

OPTION_BY_FIELD = {spec.field: spec for spec in CREATE_OPTIONS}

# passed to the backend as they are (``CreateRequest`` fields of the same name); the other
# options are resolved by the service first (defaults, resources, the source folder, ...)
REQUEST_FIELDS = (
    "image",
    "region",
    "auto_stop_minutes",
    "ephemeral",
    "snapshot",
    "git_url",
    "git_branch",
)
RESOLVED_BY_SERVICE = (
    "name",
    "force_alias",
    "backend",
    "cpu",
    "memory_gb",
    "disk_gb",
    "source_path",
    "labels",
    "worktree",
    "base",
    "forward_agent",
    "env",
    "over_budget",
)

# every CreateOptions field is in the table (checked at import: a new field cannot be forgotten)
if {f.name for f in fields(CreateOptions)} != set(OPTION_BY_FIELD):
    raise ImportError("CREATE_OPTIONS does not list every CreateOptions field")


def from_wire(params: dict[str, Any]) -> CreateOptions:
    """CreateOptions from the sidecar's camelCase params (unknown keys ignored, None = unset)."""
    values: dict[str, Any] = {}
    for spec in CREATE_OPTIONS:
        if params.get(spec.wire) is not None:
            values[spec.field] = params[spec.wire]
    if "source_path" in values:
        values["source_path"] = Path(values["source_path"])
    if "backend" in values:
        values["backend"] = BackendType(values["backend"])
    return CreateOptions(**values)
