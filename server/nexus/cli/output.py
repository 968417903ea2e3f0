"""Human output (rich, on stderr for progress) and machine output (``--json`` on stdout).

rich is imported when human output is first printed, never for ``--json``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, cast

from ..domain.errors import NexusError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status


class _LazyConsole:
    """Stands for a rich ``Console`` and makes it on first use."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            # emoji=False: text such as ":smile:" in a path or message is printed as is, never
            # as an emoji. Markup stays on for Nexus's own styling; anything user-provided is
            # escaped or printed with markup=False.
            self._console = Console(
                stderr=self._stderr, highlight=False, soft_wrap=True, emoji=False
            )
        return getattr(self._console, name)


stdout_console = cast("Console", _LazyConsole(stderr=False))
stderr_console = cast("Console", _LazyConsole(stderr=True))


def escape(text: str) -> str:
    """``rich.markup.escape``: user-provided text printed with markup on."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def render_error(error: NexusError, as_json: bool) -> None:
    from ..redact import redact

    resolution = redact(error.resolution)
    if error.options and not as_json:
        from .flags import flags_of

        resolution = f"{resolution} ({', '.join(flags_of(error.options))})".lstrip()
    error = NexusError(error.code, redact(error.message), resolution, error.options)
    if as_json:
        print_json({"error": error.to_dict()})
        return
    stderr_console.print(f"[bold red]{error.code}[/]: {escape(error.message)}", markup=True)
    if error.resolution:
        stderr_console.print(f"  [dim]→ {escape(error.resolution)}[/]", markup=True)


class CliProgress:
    """Progress for the terminal: a live spinner on a TTY, plain lines otherwise, silence in --json."""

    def __init__(self, quiet: bool = False) -> None:
        self._quiet = quiet
        self._live = stderr_console.is_terminal and not quiet
        self._status: Status | None = None
        self._phase: str | None = None
        self._message = ""
        self._started = time.monotonic()

    def __enter__(self) -> CliProgress:
        if self._live:
            self._status = stderr_console.status("Working…")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()
        if exc[0] is None:
            self._finish_phase()

    def _finish_phase(self) -> None:
        if self._phase and not self._quiet:
            elapsed = time.monotonic() - self._started
            stderr_console.print(f"[green]✓[/] {escape(self._message)} [dim]({elapsed:.1f}s)[/]")

    def step(self, phase: str, message: str) -> None:
        self._finish_phase()
        self._phase, self._message, self._started = phase, message, time.monotonic()
        if self._status is not None:
            self._status.update(escape(message) + "…")
        elif not self._quiet:
            stderr_console.print(f"• {escape(message)}…")

    def detail(self, message: str, percent: int | None = None) -> None:
        if self._status is not None:
            self._status.update(f"{escape(self._message)}: [dim]{escape(message)}[/]")

    def warn(self, message: str) -> None:
        stderr_console.print(f"[yellow]warning:[/] {escape(message)}")
