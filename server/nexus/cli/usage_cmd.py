"""`nexus usage`: resource-hours and estimated cost per workspace, the month and the budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .output import escape, print_json, stdout_console
from .runner import run as _run

if TYPE_CHECKING:
    from ..service.usage import UsageReport, UsageRow
    from ..service.workspaces import WorkspaceService

usage_app = typer.Typer(
    help="Running hours, CPU-, memory- and disk-hours and estimated cost; the monthly budget.",
    invoke_without_command=True,
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output (stable schema).")


def _hours(value: float, unknown: bool) -> str:
    if unknown:
        return "unknown" if value == 0 else f"≥{value:.2f}"
    return f"{value:.2f}"


def _money(value: float, currency: str) -> str:
    # cents, or more digits for amounts below a cent (a few hours of a small sandbox)
    return f"{value:.2f} {currency}" if value == 0 or value >= 0.01 else f"{value:.4f} {currency}"


def _cells(row: UsageRow) -> list[str]:
    return [
        f"{row.running_hours:.2f}",
        _hours(row.cpu_hours, "cpu" in row.unknown),
        _hours(row.memory_gb_hours, "memory" in row.unknown),
        _hours(row.disk_gb_hours, "disk" in row.unknown),
        _money(row.cost, row.currency),
    ]


def _print_report(report: UsageReport) -> None:
    from rich.table import Table

    out = stdout_console
    since = report.since.strftime("%Y-%m-%d %H:%M")
    until = report.until.strftime("%Y-%m-%d %H:%M")
    out.print(f"Usage from {since} to {until} UTC (estimates)", highlight=False)
    if not report.workspaces:
        out.print("  No workspace existed in this window.")
    else:
        table = Table(box=None, pad_edge=False)
        for column in ("NAME", "BACKEND", "STATUS", "RUNNING H", "CPU-H", "MEM-GB-H", "DISK-GB-H"):
            table.add_column(column)
        table.add_column("EST. COST", justify="right")
        for row in report.workspaces:
            table.add_row(escape(row.name or ""), row.backend, row.status or "-", *_cells(row))
        for total in report.backends:
            table.add_row("[bold]total[/]", total.backend, "", *_cells(total))
        out.print(table)
    month = report.month
    out.print(
        f"\nThis month (from {month.start:%Y-%m-%d}): {_money(month.cost, month.currency)} so far, "
        f"forecast to the end of the month {_money(month.forecast, month.currency)}",
        highlight=False,
    )
    budget = month.budget
    if budget.monthly is None or budget.used_percent is None:
        out.print("Budget: none set (budget.monthly)", highlight=False)
    else:
        style = {"exceeded": "bold red", "warn": "yellow"}.get(budget.state, "green")
        out.print(
            f"Budget: {_money(budget.monthly, month.currency)} a month, "
            f"[{style}]{budget.used_percent:.0f} % used ({budget.state})[/]",
            highlight=False,
        )
    for note in report.notes:
        out.print(f"[dim]note: {escape(note)}[/]", highlight=False)


@usage_app.callback()
def usage(
    since: str | None = typer.Option(
        None, "--since", help="24h, 7d, 2w or YYYY-MM-DD (UTC); default: the start of the month."
    ),
    workspace: str | None = typer.Option(None, "--workspace", help="Only this workspace."),
    as_json: bool = JSON_OPTION,
) -> None:
    """What each workspace used and what it is estimated to cost (rates: backends.*.rates)."""
    from ..service.usage import usage_report

    async def work(service: WorkspaceService) -> UsageReport:
        return await usage_report(service, since, workspace=workspace)

    report = _run(work)
    if as_json:
        print_json(report.to_json_dict())
        return
    _print_report(report)
