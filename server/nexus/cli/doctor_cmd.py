"""`nexus doctor [--fix] [--json] [--offline]`: why something does not work, and the safe fixes.

Exit code 0 when no error finding remains (warnings do not count), 7 (ExitCode.STATE) otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .output import escape, print_json, stdout_console
from .runner import run as _run

if TYPE_CHECKING:
    from ..doctor.model import DoctorReport
    from ..service.workspaces import WorkspaceService

doctor_app = typer.Typer(
    subcommand_metavar="",
    help="Find what keeps Nexus from working (Docker, SSH, Mutagen, Daytona); --fix repairs it.",
)

_STYLE = {"ok": "green", "warning": "yellow", "error": "bold red"}
_MARK = {"ok": "✓", "warning": "!", "error": "✗"}


def _print_report(report: DoctorReport) -> None:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", expand=False, box=None, padding=(0, 1))
    table.add_column("", no_wrap=True)
    table.add_column("Code", no_wrap=True)
    table.add_column("Finding", overflow="fold")
    for finding in report.findings:
        severity = finding.severity.value
        style = _STYLE[severity]
        mark = "fixed" if finding.fixed else _MARK[severity]
        text = escape(finding.message)
        if finding.fix and severity != "ok":
            text += f"\n[dim]→ {escape(finding.fix)}[/]"
        table.add_row(f"[{style}]{mark}[/]", f"[{style}]{escape(finding.code)}[/]", text)
    stdout_console.print(table)
    summary = report.summary()
    line = f"{summary['ok']} ok, {summary['warnings']} warning(s), {summary['errors']} error(s)" + (
        f", {summary['fixed']} fixed" if summary["fixed"] else ""
    )
    if summary["fixable"]:
        line += f"; {summary['fixable']} can be fixed with `nexus doctor --fix`"
    stdout_console.print(line, highlight=False)


@doctor_app.callback(invoke_without_command=True)
def doctor(
    fix: bool = typer.Option(
        False, "--fix", help="Apply the safe fixes (never removes a workspace or user data)."
    ),
    offline: bool = typer.Option(False, "--offline", help="Do not ask the Daytona API."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (stable schema)."),
) -> None:
    """Check the installation; exit code 7 when an error remains."""
    from ..domain.errors import ExitCode
    from ..service.doctor import run_doctor

    async def work(service: WorkspaceService) -> DoctorReport:
        return await run_doctor(service.ctx, fix=fix, offline=offline)

    report = _run(work)
    if as_json:
        print_json(report.to_json_dict())
    else:
        _print_report(report)
    if not report.healthy:
        raise typer.Exit(int(ExitCode.STATE))
