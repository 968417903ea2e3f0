"""``process execute``: a command through the Daytona Process API (PRD §4.2).

The daemon runs the command through a shell in the workspace folder and answers with its exit
code and its output (stdout and stderr together, in order). When the Process API cannot serve
the call, the same command runs over SSH (``sh -c``, stderr joined to stdout the same way).
"""

from __future__ import annotations

import shlex
from typing import Any

from pydantic import Field

from ....domain.kinds import BackendType
from ....domain.provider import OpContext, OpParams, OpResult, operation
from .toolbox import started_sandbox, toolbox_call, workspace_of

TIMEOUT_EXIT = 124  # what `timeout` answers, so a script can tell a timeout from a failure


class ProcessExecuteParams(OpParams):
    command: list[str] = Field(
        min_length=1,
        description="The command (one argument is a shell snippet; several are quoted as given).",
    )
    cwd: str | None = Field(
        default=None, description="Working folder (default: the workspace folder)."
    )
    timeout: int | None = Field(
        default=None, gt=0, description="Seconds before the command is killed (exit code 124)."
    )


def command_line(argv: list[str]) -> str:
    return argv[0] if len(argv) == 1 else shlex.join(argv)


def _result(exit_code: int, output: str, method: str) -> OpResult:
    return OpResult(data={"exitCode": exit_code, "stdout": output, "method": method}, output=output)


async def _over_ssh(ctx: OpContext, params: ProcessExecuteParams) -> OpResult:
    cwd = params.cwd or workspace_of(ctx).remote_path
    script = f"cd {shlex.quote(cwd)} || exit 1\nexec 2>&1\n{command_line(params.command)}"
    argv = ["sh", "-c", script]
    if params.timeout:
        argv = ["timeout", "--kill-after=2", str(params.timeout), *argv]
    code, out, err = await ctx.exec(argv)
    return _result(code, (out + err).decode(errors="replace"), "ssh")


@operation(
    BackendType.DAYTONA,
    "process",
    "execute",
    capability="supports_process_api",
    params=ProcessExecuteParams,
    summary="Run a command through the Daytona Process API (its exit code is the result).",
    fallback=_over_ssh,
    fallback_label="SSH exec",
)
async def execute(ctx: OpContext, params: ProcessExecuteParams) -> OpResult:
    sandbox = await started_sandbox(ctx)
    cwd = params.cwd or workspace_of(ctx).remote_path
    command = command_line(params.command)
    try:
        response = await toolbox_call(
            lambda: _exec(sandbox, command, cwd, params.timeout), "run the command"
        )
    except _Timeout:
        ctx.progress.warn(f"the command did not finish within {params.timeout} s; it was killed")
        return _result(TIMEOUT_EXIT, "", "process-api")
    return _result(int(response.exit_code), str(response.result or ""), "process-api")


class _Timeout(Exception):
    """The daemon killed the command at its timeout (408 PROCESS_EXECUTION_TIMEOUT)."""


def _exec(sandbox: Any, command: str, cwd: str, timeout: int | None) -> Any:
    import daytona

    try:
        return sandbox.process.exec(command, cwd=cwd, timeout=timeout)
    except daytona.DaytonaError as exc:
        if getattr(exc, "status_code", None) == 408 or getattr(exc, "code", None) == (
            "PROCESS_EXECUTION_TIMEOUT"
        ):
            raise _Timeout from None
        raise
