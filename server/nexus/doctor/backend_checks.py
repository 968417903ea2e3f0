"""Records against what the backends hold: records whose container or sandbox is gone, and
resources of this installation that have no record (orphans). The status read of the Daytona
backend is also the check of its API key and of the API being reachable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import BackendType, WorkspaceStatus
from .model import Finding, error, ok, warning

if TYPE_CHECKING:
    from ..domain.backend import Backend
    from ..domain.models import Workspace
    from ..domain.recovery import FoundResource

CHECK = "records"


def _removal(backend_type: BackendType, resource: FoundResource) -> str:
    if backend_type is BackendType.DOCKER:
        return f"`docker rm -f -v {resource.resource_name}`"
    from ..service.backends import facts

    template = facts(backend_type).cleanup_command or "remove {ref}"
    return f"`{template.format(ref=resource.backend_id)}`"


def daytona_finding(exc: NexusError | None, api_url: str) -> Finding:
    if exc is None:
        return ok(
            "DOCTOR_DAYTONA_OK",
            f"the Daytona API at {api_url} answers and accepts the API key",
            check="daytona",
            subject=api_url,
        )
    if exc.code == ErrorCode.DAYTONA_AUTH_FAILED:
        return error(
            "DOCTOR_DAYTONA_KEY_INVALID",
            f"the Daytona API at {api_url} refuses the API key: {exc.message}",
            "Set a valid key: DAYTONA_API_KEY, or `nexus config set backends.daytona.api_key "
            "KEY` (a key from the Daytona dashboard, Keys).",
            check="daytona",
            subject=api_url,
        )
    return error(
        "DOCTOR_DAYTONA_UNREACHABLE",
        f"the Daytona API at {api_url} cannot be used: {exc.message}",
        "Check the network and DAYTONA_API_URL (backends.daytona.api_url); `nexus doctor "
        "--offline` skips the Daytona checks.",
        check="daytona",
        subject=api_url,
    )


async def check_records(
    backend_type: BackendType,
    backend: Backend,
    records: list[Workspace],
    recorded: set[str],
) -> tuple[list[Finding], NexusError | None]:
    """Missing records and orphans on one backend; the error of the status read, if any."""
    try:
        statuses = await backend.get_statuses(records)
    except NexusError as exc:
        return [
            warning(
                "DOCTOR_RECORDS_UNCHECKED",
                f"the {backend_type.value} records were not checked: {exc.message}",
                exc.resolution,
                check=CHECK,
                subject=backend_type.value,
            )
        ], exc
    found: list[Finding] = []
    kind = "container" if backend_type is BackendType.DOCKER else "sandbox"
    for ws in records:
        if statuses.get(ws.name) is WorkspaceStatus.MISSING:
            found.append(
                error(
                    "DOCTOR_WORKSPACE_MISSING",
                    f"workspace '{ws.name}' ({backend_type.value}) has a record but its {kind} "
                    "is gone (removed outside Nexus)",
                    f"`nexus workspace delete {ws.name}` removes the record (its worktree and "
                    "branch are kept if they hold work).",
                    check=CHECK,
                    subject=ws.name,
                )
            )
    orphans = backend.unrecorded(recorded)
    if orphans:
        resources = {r.name: r for r in await backend.list_resources()}
        for name in orphans:
            resource = resources.get(name)
            removal = _removal(backend_type, resource) if resource else ""
            label = f"{kind} {resource.resource_name}" if resource else f"a {kind}"
            found.append(
                warning(
                    "DOCTOR_ORPHAN",
                    f"{label} of workspace '{name}' belongs to this installation but has no record",
                    "Keep it: `nexus workspace recover` makes its record back. Remove it: "
                    + (
                        removal
                        or f"`nexus workspace recover`, then `nexus workspace delete {name}`"
                    )
                    + ".",
                    check=CHECK,
                    subject=name,
                )
            )
    if not found:
        found.append(
            ok(
                "DOCTOR_RECORDS_OK",
                f"{len(records)} {backend_type.value} record(s), each with its {kind}; no "
                f"unrecorded {kind} of this installation",
                check=CHECK,
                subject=backend_type.value,
            )
        )
    return found, None
