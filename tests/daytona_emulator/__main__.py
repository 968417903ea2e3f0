"""Run the emulator standalone: ``python -m tests.daytona_emulator --port 0 --print-url``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .app import Emulator
from .config import EmulatorConfig


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.daytona_emulator")
    parser.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (0 = free)")
    parser.add_argument("--ssh-port", type=int, default=0, help="SSH gateway port (0 = free)")
    parser.add_argument("--api-key", help="API key clients must send (random if omitted)")
    parser.add_argument("--print-url", action="store_true", help="print env lines and keep running")
    parser.add_argument("--region", action="append", help="available region (repeatable)")
    parser.add_argument("--transition-delay", type=float, default=0.0)
    parser.add_argument(
        "--minute-seconds",
        type=float,
        default=60.0,
        help="length of an API 'minute' (auto-stop etc.) in seconds",
    )
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="HOST:CONTAINER",
        help="read-only bind mount into every sandbox (repeatable)",
    )
    parser.add_argument(
        "--ssh-invalid-token",
        choices=["close", "refuse"],
        default="close",
        help="gateway answer to a bad token: close after login (like the real one) or refuse it",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    config = EmulatorConfig(
        transition_delay=args.transition_delay,
        minute_seconds=args.minute_seconds,
        ssh_invalid_token=args.ssh_invalid_token,
    )
    if args.region:
        config.regions = tuple(args.region)
        config.default_region = args.region[0]
    binds = dict(item.split(":", 1) for item in args.bind)
    async with Emulator(
        api_key=args.api_key,
        config=config,
        port=args.port,
        ssh_port=args.ssh_port,
        bind_mounts=binds,
    ) as emu:
        if args.print_url:
            print(f"DAYTONA_API_URL={emu.api_url}")
            print(f"DAYTONA_API_KEY={emu.api_key}")
            print(f"DAYTONA_EMULATOR_SSH=127.0.0.1:{emu.ssh_port}")
            sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
