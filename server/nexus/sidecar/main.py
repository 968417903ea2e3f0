"""``nexus-sidecar`` / ``nexus sidecar``: serve the Nexus sidecar protocol on stdio.

Kept light: pygls is imported only when the server actually starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ..ownership import SIDECAR, set_role


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexus-sidecar",
        description="Nexus editor sidecar: JSON-RPC 2.0 (LSP base protocol) on stdin/stdout. "
        "See docs/sidecar.md.",
    )
    parser.add_argument(
        "--stdio",
        action="store_true",
        help="Serve on stdin/stdout (the default and only transport).",
    )
    parser.add_argument(
        "--log-level",
        choices=["error", "warning", "info", "debug"],
        default=None,
        help="Log level on stderr until the client sets one (default: info; NEXUS_DEBUG=1: debug).",
    )
    parser.add_argument("--version", action="version", version=f"nexus-sidecar {__version__}")
    return parser


def main(argv: list[str] | None = None) -> None:
    args, unknown = _parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    # what this process records as the owner of the operations it runs: a delete --force
    # elsewhere must not signal it (that would end every operation of the editor, not one)
    set_role(SIDECAR)
    level = args.log_level or ("debug" if os.environ.get("NEXUS_DEBUG") else "info")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("pygls").setLevel(logging.WARNING)
    from .. import redact

    for handler in logging.getLogger().handlers:
        redact.install(handler)
    redact.register_secret(os.environ.get("DAYTONA_API_KEY"))
    if unknown:  # clients may append transport flags we do not need (e.g. --clientProcessId=N)
        logging.getLogger("nexus.sidecar").info("ignoring arguments: %s", " ".join(unknown))

    from .server import run

    sys.exit(run())


if __name__ == "__main__":
    main()
