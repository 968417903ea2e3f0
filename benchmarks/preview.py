"""The latency `nexus workspace preview` adds per request, against a plain `ssh -L` forward.

One Docker workspace serves a small file with a keep-alive HTTP/1.1 server (python3, installed
in the workspace from the Debian mirror, untimed). The same server is reached two ways, set up
once each and then measured in the same run, requests alternating:

  nexus preview   `nexus workspace preview ws PORT --background` (its own process, as a user
                  starts it), then GET through its local URL
  ssh -L          `ssh -F NEXUS_HOME/ssh/config -N -L P:127.0.0.1:PORT nexus-ws`, then GET
                  through the forwarded port

Each way uses one keep-alive HTTP client (httpx); every request's wall time is kept, after an
untimed warm-up, and p50/p99 are printed with their ratio and the added milliseconds.

Run alone: .venv/bin/python benchmarks/preview.py [--quick] [--requests N]; or as the `preview`
row of run.py.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from common import BenchHome, bench_home, exit_on_signals, free_port, need, output, start

PORT = 8400
WARMUP = 20
SERVER = (
    "import functools, http.server as h\n"
    "h.SimpleHTTPRequestHandler.protocol_version = 'HTTP/1.1'\n"
    # headers and body go in two writes: with Nagle on, each response would wait for a
    # delayed ACK (some 40 ms) on either path, and the rows would measure that
    "h.SimpleHTTPRequestHandler.disable_nagle_algorithm = True\n"
    "handler = functools.partial(h.SimpleHTTPRequestHandler, directory='/tmp/bench-site')\n"
    f"h.ThreadingHTTPServer(('127.0.0.1', {PORT}), handler).serve_forever()\n"
)


def progress(message: str) -> None:
    print(f".. {message}", file=sys.stderr, flush=True)


def exec_in(home: BenchHome, *argv: str, timeout: float = 900) -> str:
    result = subprocess.run(
        home.nexus("workspace", "exec", "ws", "--", *argv),
        env=home.env,
        cwd=home.project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed in the workspace: {result.stderr}")
    return result.stdout


def serve_in_workspace(home: BenchHome) -> None:
    progress("installing python3 in the workspace (untimed)")
    exec_in(
        home,
        "sh",
        "-c",
        "command -v python3 >/dev/null || (sudo apt-get update -qq && sudo "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 "
        ">/dev/null)",
    )
    script = (
        "mkdir -p /tmp/bench-site && head -c 1024 /dev/urandom > /tmp/bench-site/file && "
        f'(nohup python3 -c "{SERVER}" >/dev/null 2>&1 &)'
    )
    exec_in(home, "sh", "-c", script)
    probe = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{PORT}/file')"
    for _ in range(300):
        try:
            exec_in(home, "python3", "-c", probe, timeout=30)
            return
        except RuntimeError:
            time.sleep(0.1)
    raise RuntimeError("the HTTP server did not come up in the workspace")


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def measure(requests: int) -> dict[str, list[float]]:
    import httpx

    ssh = need("ssh")
    with bench_home("preview") as home:
        progress("creating the workspace `ws` (builds the image if needed)")
        home.run("workspace", "create", "ws", timeout=900)
        serve_in_workspace(home)
        started = json.loads(
            output(
                home.nexus(
                    "workspace",
                    "preview",
                    "ws",
                    str(PORT),
                    "--local-port",
                    "0",
                    "--background",
                    "--json",
                ),
                home.env,
            )
        )
        local = free_port()
        forward = start(
            [
                ssh,
                "-F",
                str(home.ssh_config),
                "-N",
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-L",
                f"127.0.0.1:{local}:127.0.0.1:{PORT}",
                "nexus-ws",
            ],
            home.env,
            home.project,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(local)
            urls = {"preview": f"{started['url']}file", "ssh": f"http://127.0.0.1:{local}/file"}
            clients = {way: httpx.Client(trust_env=False, timeout=30) for way in urls}
            times: dict[str, list[float]] = {way: [] for way in urls}
            try:
                for index in range(WARMUP + requests):
                    for way, url in urls.items():
                        begin = time.perf_counter()
                        response = clients[way].get(url)
                        elapsed = time.perf_counter() - begin
                        if response.status_code != 200 or len(response.content) != 1024:
                            raise RuntimeError(f"{way}: {response.status_code} from {url}")
                        if index >= WARMUP:
                            times[way].append(elapsed)
            finally:
                for client in clients.values():
                    client.close()
        finally:
            forward.terminate()
            forward.wait(10)
            subprocess.run(
                home.nexus("workspace", "preview", "stop", "ws", str(PORT)),
                env=home.env,
                capture_output=True,
            )
    return times


def summarize(times: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows = []
    count = len(times["preview"])
    for label, q in (("p50", 50), ("p99", 99)):
        nexus, base = percentile(times["preview"], q), percentile(times["ssh"], q)
        rows.append(
            {
                "name": f"preview GET {label} ({count} keep-alive requests, Docker)",
                "nexus": nexus,
                "baseline_name": f"ssh -L forward {label}",
                "baseline": base,
                "target": "",
                "limit": None,
                "note": f"adds {(nexus - base) * 1000:.2f} ms per request at {label}",
            }
        )
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        ratio = row["nexus"] / row["baseline"] if row["baseline"] else float("nan")
        print(
            f"{row['name']}: {row['nexus'] * 1000:.2f} ms vs {row['baseline_name']} "
            f"{row['baseline'] * 1000:.2f} ms ({ratio:.2f}x; {row['note']})"
        )


def run_rows(quick: bool) -> list[dict[str, Any]]:
    """The `preview` row of run.py (its ``Row`` fields, plus ``limit``: none here)."""
    rows = summarize(measure(50 if quick else 200))
    print_rows(rows)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, help="timed requests per way (default 200)")
    parser.add_argument("--quick", action="store_true", help="50 requests per way")
    args = parser.parse_args(argv)
    args.requests = args.requests or (50 if args.quick else 200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    try:
        rows = summarize(measure(args.requests))
    except KeyboardInterrupt:
        print("interrupted; containers removed", file=sys.stderr)
        return 130
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
