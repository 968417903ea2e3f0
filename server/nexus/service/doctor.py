"""`nexus doctor`: every check at once (each bounded in time, a crash becomes a finding), then
with ``fix`` the safe repairs and the checks again to show what they left.

Safe means no user data can be lost: the Nexus block of ``~/.ssh/config`` (the user's own lines
stay byte-identical; the file as it was is kept under NEXUS_HOME/doctor), Nexus's own ssh config
and known_hosts (regenerated from the records), Nexus's Mutagen daemon (started; its sessions
resume). Everything else is reported with the command that repairs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..access.user_ssh_config import user_config_path
from ..doctor.model import DoctorReport, Finding, Severity, error, ok
from ..domain.errors import NexusError
from ..domain.kinds import BackendType
from .context import NexusContext

if TYPE_CHECKING:
    from ..config.schema import NexusConfig
    from ..domain.models import Workspace
    from ..sync.binary import MutagenBinary

T = TypeVar("T")

CHECK_TIMEOUT = 60.0  # seconds one family of checks may take before it is reported as stuck
BLOCK_CODES = frozenset(
    {
        "DOCTOR_SSH_INCLUDE_MISSING",
        "DOCTOR_SSH_BLOCK_BROKEN",
        "DOCTOR_SSH_BLOCK_EDITED",
        "DOCTOR_SSH_BLOCK_NOT_FIRST",
        "DOCTOR_SSH_HOST_SHADOWED",
    }
)
FILE_CODES = frozenset(
    {"DOCTOR_SSH_FILES_STALE", "DOCTOR_KNOWN_HOSTS_STALE", "DOCTOR_SSH_ALIAS_UNRESOLVED"}
)
DAEMON_CODE = "DOCTOR_SYNC_DAEMON_DOWN"


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` in a daemon thread: a check stuck in a syscall or an HTTP client is
    given up on (by the caller's timeout) without holding the process up."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, problem: BaseException | None) -> None:
        if future.done():
            return
        if problem is not None:
            future.set_exception(problem)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result, problem = fn(), None
        except BaseException as exc:  # handed to the awaiting task
            result, problem = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, problem)

    threading.Thread(target=work, name="nexus-doctor-check", daemon=True).start()
    return await future


async def _off_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a backend's own async calls on a loop of their own in a daemon thread: they wait for
    the engine in worker threads that a stuck engine would keep the process waiting on at exit."""
    return await in_thread(lambda: asyncio.run(work()))


async def guarded(
    name: str, check: Callable[[], Awaitable[list[Finding]]], timeout: float = CHECK_TIMEOUT
) -> list[Finding]:
    """One family of checks: its findings, or one finding saying it timed out or crashed."""
    try:
        return await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        return [
            error(
                "DOCTOR_CHECK_TIMEOUT",
                f"the {name} checks did not finish within {timeout:.0f} s",
                "Run `nexus doctor` again; if it persists, check what that family depends on "
                "(the engine, the network).",
                check=name,
            )
        ]
    except NexusError as exc:
        return [
            error(
                "DOCTOR_CHECK_FAILED",
                f"the {name} checks failed: {exc.message}",
                exc.resolution,
                check=name,
            )
        ]
    except Exception as exc:
        return [
            error(
                "DOCTOR_CHECK_FAILED",
                f"the {name} checks failed: {type(exc).__name__}: {exc}",
                "Report this with the output of `nexus doctor --json`.",
                check=name,
            )
        ]


@dataclass
class _Run:
    """One pass of the checks and what the fixes need from it."""

    ctx: NexusContext
    findings: list[Finding] = field(default_factory=list)
    user_config: Path = field(default_factory=user_config_path)
    mutagen: MutagenBinary | None = None
    owned_context: bool = False


def _context_for_checks(
    context: NexusContext, config_valid: bool, config: NexusConfig | None
) -> tuple[NexusContext, bool]:
    """The caller's context when its config loads; else one of our own on the config's valid
    part (so every other check still runs)."""
    if config_valid:
        if "config" not in context.__dict__:  # what loading it would give (read once, quietly)
            context.__dict__["config"] = config
        return context, False
    own = NexusContext(context.paths, context.config_manager.env)
    own.__dict__["config"] = config  # cached_property: what `config` returns from now on
    return own, True


async def _checks(context: NexusContext, offline: bool) -> _Run:
    from ..doctor.config_checks import check_config

    config_check = await in_thread(lambda: check_config(context.config_manager))
    ctx, owned = _context_for_checks(context, config_check.valid, config_check.config)
    run = _Run(ctx, list(config_check.findings), owned_context=owned)
    try:
        records: list[Workspace] | None = await in_thread(lambda: ctx.store.list())
    except NexusError as exc:
        run.findings.append(
            error(
                "DOCTOR_STORE_UNREADABLE",
                f"the state store cannot be read: {exc.message}",
                exc.resolution or "`nexus workspace recover` rebuilds it from the backends.",
                check="records",
            )
        )
        records = None
    families: list[tuple[str, Callable[[], Awaitable[list[Finding]]]]] = [
        ("tools", lambda: _tools()),
        ("ssh", lambda: _ssh(run, records or [], offline)),
        ("docker", lambda: _docker(ctx)),
        ("daytona", lambda: _daytona(ctx, records, offline)),
        ("sync", lambda: _sync(run, records or [])),
    ]
    if records is not None:
        families.insert(3, ("records", lambda: _docker_records(ctx, records)))
    results = await asyncio.gather(*(guarded(name, check) for name, check in families))
    for found in results:
        run.findings += found
    return run


async def _tools() -> list[Finding]:
    from ..doctor.ssh_checks import check_tools

    return await in_thread(check_tools)


async def _ssh(run: _Run, records: list[Workspace], offline: bool) -> list[Finding]:
    from ..doctor import ssh_checks
    from .ssh_files import SshFiles, token_auth

    ctx = run.ctx
    files = SshFiles(ctx)
    rendered = await in_thread(files.render)
    found = await in_thread(lambda: ssh_checks.check_own_files(ctx, records, rendered))
    if not ctx.config.ssh.manage_user_config:
        found.append(
            ok(
                "DOCTOR_SSH_BLOCK_UNMANAGED",
                "ssh.manage_user_config is off: Nexus leaves ~/.ssh/config alone (reach a "
                f"workspace with `ssh -F {ctx.paths.ssh_config} nexus-<name>`)",
                check="ssh",
            )
        )
        return found
    aliases = [ws for ws in records if ssh_checks.reachable_by_alias(ws)]
    block = await in_thread(
        lambda: ssh_checks.check_block(run.user_config, ctx.paths.ssh_config, bool(aliases))
    )
    found += block.findings
    own_stale = any(f.code == "DOCTOR_SSH_FILES_STALE" for f in found)
    checked = []
    for ws in aliases:
        token = token_auth(ws)
        if token and offline:
            continue  # its stanza renews a token through the API when ssh reads it
        checked.append((ws, token))

    async def one(ws: Workspace, token: bool) -> Finding:
        return await in_thread(
            lambda: ssh_checks.check_alias(
                ctx, run.user_config, ws, token=token, block=block, own_stale=own_stale
            )
        )

    found += await asyncio.gather(*(one(ws, token) for ws, token in checked))
    return found


def _enabled(ctx: NexusContext, backend_type: BackendType) -> bool:
    return bool(getattr(ctx.config.backends, backend_type.value).enabled)


async def _docker(ctx: NexusContext) -> list[Finding]:
    from ..doctor.docker_checks import check_docker

    if not _enabled(ctx, BackendType.DOCKER):
        return [
            ok(
                "DOCTOR_DOCKER_DISABLED",
                "the Docker backend is disabled: not checked",
                check="docker",
            )
        ]
    settings = ctx.config.backends.docker
    return await in_thread(lambda: check_docker(settings))


def _recorded(records: list[Workspace]) -> set[str]:
    return {ws.name for ws in records}


async def _docker_records(ctx: NexusContext, records: list[Workspace]) -> list[Finding]:
    from ..doctor.backend_checks import check_records

    if not _enabled(ctx, BackendType.DOCKER):
        return []
    mine = [ws for ws in records if ws.backend is BackendType.DOCKER]
    found, _ = await _off_loop(
        lambda: check_records(
            BackendType.DOCKER, ctx.backends.get(BackendType.DOCKER), mine, _recorded(records)
        )
    )
    return found


async def _daytona(
    ctx: NexusContext, records: list[Workspace] | None, offline: bool
) -> list[Finding]:
    from ..doctor.backend_checks import check_records, daytona_finding

    settings = ctx.config.backends.daytona
    if not settings.enabled:
        return [
            ok(
                "DOCTOR_DAYTONA_SKIPPED",
                "the Daytona backend is disabled: not checked",
                check="daytona",
            )
        ]
    if not settings.api_key:
        return [
            ok(
                "DOCTOR_DAYTONA_SKIPPED",
                "Daytona is not configured (no API key): not checked",
                check="daytona",
            )
        ]
    if offline:
        return [
            ok(
                "DOCTOR_DAYTONA_SKIPPED",
                "--offline: the Daytona API was not asked",
                check="daytona",
            )
        ]
    mine = [ws for ws in records or [] if ws.backend is BackendType.DAYTONA]
    found, problem = await _off_loop(
        lambda: check_records(
            BackendType.DAYTONA,
            ctx.backends.get(BackendType.DAYTONA),
            mine,
            _recorded(records or []),
        )
    )
    first = daytona_finding(problem, settings.api_url)
    if problem is not None or records is None:
        return [first]  # the API's own finding says it all
    return [first, *found]


async def _sync(run: _Run, records: list[Workspace]) -> list[Finding]:
    from ..doctor.sync_checks import check_sync
    from .sync import SYNC_KEY

    syncing = sorted(ws.name for ws in records if ws.metadata.get(SYNC_KEY))
    ctx = run.ctx
    result = await in_thread(lambda: check_sync(ctx.paths, ctx.config.sync.mutagen_path, syncing))
    run.mutagen = result.binary
    return result.findings


# ---- fixes -------------------------------------------------------------------------------------
@dataclass
class _FixOutcome:
    failures: dict[str, str] = field(default_factory=dict)  # code -> why its fix failed
    backups: dict[str, str] = field(default_factory=dict)  # code -> the file as it was


async def _apply_fixes(run: _Run) -> _FixOutcome:
    """Apply each safe fix the findings call for."""
    from ..doctor.ssh_checks import fix_block
    from ..doctor.sync_checks import restart_daemon
    from .ssh_files import SshFiles

    wanted = {f.code for f in run.findings if f.fixable and f.severity is not Severity.OK}
    outcome = _FixOutcome()

    async def attempt(codes: frozenset[str], action: Callable[[], object]) -> None:
        if not wanted & codes:
            return
        try:
            result = await asyncio.wait_for(in_thread(action), CHECK_TIMEOUT)
        except NexusError as exc:
            outcome.failures.update(dict.fromkeys(codes, exc.message))
        except Exception as exc:
            outcome.failures.update(dict.fromkeys(codes, f"{type(exc).__name__}: {exc}"))
        else:
            if isinstance(result, str) and result:
                outcome.backups.update(dict.fromkeys(codes, result))

    await attempt(BLOCK_CODES, lambda: fix_block(run.ctx, run.user_config))
    await attempt(FILE_CODES, lambda: SshFiles(run.ctx).refresh())
    binary = run.mutagen
    if binary is not None:
        await attempt(frozenset({DAEMON_CODE}), lambda: restart_daemon(run.ctx.paths, binary))
    return outcome


def _merge(before: list[Finding], after: list[Finding], outcome: _FixOutcome) -> list[Finding]:
    """The second pass, with each problem ``--fix`` repaired shown as fixed (first), and each
    fix that failed saying why."""
    remaining = {(f.code, f.subject) for f in after if f.severity is not Severity.OK}
    fixed: list[Finding] = []
    for finding in before:
        if not finding.fixable or finding.severity is Severity.OK:
            continue
        if (finding.code, finding.subject) in remaining:
            continue
        backup = outcome.backups.get(finding.code)
        kept = f" (the file as it was: {backup})" if backup else ""
        fixed.append(finding.done(f"fixed: {finding.message}{kept}"))
    done_subjects = {(f.check, f.subject) for f in fixed}
    result = []
    for finding in after:
        if finding.severity is Severity.OK and (finding.check, finding.subject) in done_subjects:
            continue  # the fixed finding above says it
        failure = outcome.failures.get(finding.code)
        if failure and finding.fixable and finding.severity is not Severity.OK:
            finding = replace(finding, message=f"{finding.message} (--fix failed: {failure})")
        result.append(finding)
    return fixed + result


async def run_doctor(context: NexusContext, *, fix: bool, offline: bool) -> DoctorReport:
    """Check everything; with ``fix`` apply the safe fixes and check again."""
    first = await _checks(context, offline)
    try:
        if not fix:
            return DoctorReport(first.findings)
        outcome = await _apply_fixes(first)
    finally:
        if first.owned_context:
            first.ctx.close()
    second = await _checks(context, offline)
    try:
        return DoctorReport(_merge(first.findings, second.findings, outcome))
    finally:
        if second.owned_context:
            second.ctx.close()
