"""Sidecar benchmark: the `nexus/workspace/list` round trip with 100 workspaces in the store.

Baseline, measured in the same run: the same `WorkspaceService.list(...)` called in-process.
Both with `refresh=false` (store only: the cost of the protocol) and with the default
`refresh=true` (live statuses from the engine, as the CLI shows them).
Prints medians and ratios (sidecar / in-process). No thresholds.
Run: .venv/bin/python benchmarks/bench_sidecar_list.py [--rounds N] [--workspaces N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIDECAR = [sys.executable, "-m", "nexus.sidecar.main", "--stdio"]


class Client:
    """A minimal blocking JSON-RPC client over the sidecar's stdio."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            SIDECAR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.next_id = 0

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while (line := self.process.stdout.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return dict(json.loads(self.process.stdout.read(length)))

    def call(self, method: str, params: Any = None) -> Any:
        self.next_id += 1
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = self._read()
            if message.get("id") == self.next_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message["result"]

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def close(self) -> None:
        self.call("shutdown")
        self.notify("exit")
        self.process.wait(15)


def seed(count: int) -> None:
    from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
    from nexus.service.context import NexusContext

    context = NexusContext()
    try:
        for index in range(count):
            context.store.reserve(
                Workspace(
                    name=f"bench-{index:03d}",
                    backend=BackendType.DOCKER,
                    status=WorkspaceStatus.STOPPED,
                    ssh_host="127.0.0.1",
                    ssh_port=40000 + index,
                    ssh_user="nexus",
                    local_path="/tmp/project",
                    labels={"team": "bench"},
                )
            )
    finally:
        context.close()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def in_process(rounds: int, refresh: bool) -> list[float]:
    from nexus.service.context import NexusContext
    from nexus.service.workspaces import WorkspaceService

    async def run() -> list[float]:
        context = NexusContext()
        service = WorkspaceService(context)
        try:
            await service.list(refresh=refresh)  # warm up (imports, engine connection)
            samples = []
            for _ in range(rounds):
                start = time.perf_counter()
                [ws.public_dict() for ws in await service.list(refresh=refresh)]
                samples.append(time.perf_counter() - start)
            return samples
        finally:
            context.close()

    return asyncio.run(run())


def over_sidecar(client: Client, rounds: int, refresh: bool) -> list[float]:
    client.call("nexus/workspace/list", {"refresh": refresh})  # warm up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = client.call("nexus/workspace/list", {"refresh": refresh})
        samples.append(time.perf_counter() - start)
        assert len(result["workspaces"]) >= 1
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--workspaces", type=int, default=100)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    os.environ.update(HOME=str(home), NEXUS_HOME=str(home / ".nexus"))
    env = dict(os.environ)
    try:
        seed(args.workspaces)
        client = Client(env)
        client.call("initialize", {"processId": os.getpid(), "capabilities": {}})
        client.notify("initialized", {})
        try:
            rows = []
            for refresh in (False, True):
                baseline = median_ms(in_process(args.rounds, refresh))
                sidecar = median_ms(over_sidecar(client, args.rounds, refresh))
                rows.append((refresh, baseline, sidecar))
        finally:
            client.close()
        print(f"nexus/workspace/list, {args.workspaces} workspaces, {args.rounds} rounds (median)")
        print(f"{'refresh':<8} {'in-process ms':>14} {'sidecar ms':>11} {'ratio':>6}")
        for refresh, baseline, sidecar in rows:
            print(
                f"{str(refresh).lower():<8} {baseline:>14.2f} {sidecar:>11.2f} "
                f"{sidecar / baseline:>6.2f}"
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
