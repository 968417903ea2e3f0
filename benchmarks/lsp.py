"""Completion round trips through `nexus lsp` against pylsp spoken to directly over `ssh` stdio.

One Docker workspace with Debian's pylsp installed in it (untimed, as a user sets it up). Two
editor sessions stay open side by side, each initialized and with the same file open:

  nexus lsp     `nexus lsp lsp --language python` on stdio (the URI-rewriting proxy, its own
                SSH connection), the document under the local folder
  ssh stdio     `ssh -F <nexus ssh config> nexus-lsp pylsp`, the document under /workspace

After warm-up completions (jedi loads its caches on the first ones), the same completion is
asked N times of each, alternating, and the p50 (and p99) of each round trip is printed with
their ratio: the time the proxy adds.

Run alone: .venv/bin/python benchmarks/lsp.py [--requests N] [--quick]; or as the `lsp` row of
run.py.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    NEXUS,
    BenchHome,
    bench_home,
    exit_on_signals,
    need,
    read_frame,
    start,
    write_frame,
)

WORKSPACE = "lsp"
PROBE = "nexus_bench_probe"
MAIN_PY = f"import {PROBE}\n\n{PROBE}.ze\n"
WARMUP = 5


def progress(message: str) -> None:
    print(f".. {message}", file=sys.stderr, flush=True)


class LspSession:
    """A blocking LSP client over a process's stdio, as an editor starts one."""

    def __init__(self, argv: list[str], home: BenchHome) -> None:
        self.process = start(argv, home.env, home.project, stdin=subprocess.PIPE)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        write_frame(self.process.stdin, message)

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        message = read_frame(self.process.stdout)
        if message is None:
            err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            raise RuntimeError(f"the language server ended: {err.strip()[-500:]}")
        return message

    def call(self, method: str, params: Any = None) -> Any:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = self.read()
            if "method" in message and "id" in message:  # a request of the server's: no
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result")

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def open(self, root_uri: str) -> str:
        self.call("initialize", {"processId": None, "rootUri": root_uri, "capabilities": {}})
        self.notify("initialized", {})
        uri = f"{root_uri}/main.py"
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": MAIN_PY}},
        )
        return uri

    def complete(self, uri: str) -> float:
        line = MAIN_PY.splitlines()[2]
        begin = time.perf_counter()
        result = self.call(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": 2, "character": len(line)}},
        )
        elapsed = time.perf_counter() - begin
        items = result.get("items", []) if isinstance(result, dict) else result or []
        if not any(str(item.get("label", "")).startswith("zebra") for item in items):
            raise RuntimeError(f"the completion did not find the workspace's module: {result}")
        return elapsed

    def close(self) -> None:
        try:
            self.call("shutdown")
            self.notify("exit")
            self.process.wait(15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def prepare(home: BenchHome) -> None:
    (home.project / "main.py").write_text(MAIN_PY)
    home.run("workspace", "create", WORKSPACE, "--from", str(home.project), timeout=900)
    probe = "def zebra_crossing():\n    return 1\n"
    home.run(
        "workspace",
        "exec",
        WORKSPACE,
        "--",
        "set -e; sudo apt-get update -qq; sudo DEBIAN_FRONTEND=noninteractive apt-get install "
        "-y -qq --no-install-recommends python3-pylsp python3-setuptools >/dev/null; "
        "site=$(python3 -c 'import site; print(site.getsitepackages()[0])'); "
        f"sudo mkdir -p \"$site\"; printf '%s' '{probe}' | sudo tee \"$site/{PROBE}.py\" >/dev/null",
        timeout=900,
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(requests: int) -> dict[str, list[float]]:
    ssh = need("ssh")
    with bench_home("lsp") as home:
        progress("creating the workspace and installing pylsp in it (untimed)")
        prepare(home)
        proxy = LspSession([NEXUS, "lsp", WORKSPACE, "--language", "python"], home)
        direct = LspSession(
            [ssh, "-F", str(home.ssh_config), "-o", "BatchMode=yes", f"nexus-{WORKSPACE}", "pylsp"],
            home,
        )
        try:
            proxy_uri = proxy.open(home.project.as_uri())
            direct_uri = direct.open("file:///workspace")
            for _ in range(WARMUP):
                proxy.complete(proxy_uri)
                direct.complete(direct_uri)
            progress(f"{requests} completions through each")
            samples: dict[str, list[float]] = {"nexus": [], "ssh": []}
            for _ in range(requests):
                samples["nexus"].append(proxy.complete(proxy_uri))
                samples["ssh"].append(direct.complete(direct_uri))
        finally:
            for session in (proxy, direct):
                try:
                    session.close()
                except Exception as exc:
                    progress(f"closing a session: {exc}")
    return samples


def run_rows(quick: bool, requests: int | None = None) -> list[dict[str, Any]]:
    """The `lsp` row of run.py (its ``Row`` fields, plus ``limit``: none is set)."""
    count = requests or (20 if quick else 200)
    samples = measure(count)
    nexus, ssh = samples["nexus"], samples["ssh"]
    return [
        {
            "name": f"lsp completion round trip (p50 of {count})",
            "nexus": statistics.median(nexus),
            "baseline_name": "pylsp over ssh stdio",
            "baseline": statistics.median(ssh),
            "target": "",
            "limit": None,
            "note": f"p99 {percentile(nexus, 0.99) * 1000:.1f} ms through nexus lsp, "
            f"{percentile(ssh, 0.99) * 1000:.1f} ms over ssh",
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, help="completions per side (default 200)")
    parser.add_argument("--quick", action="store_true", help="20 completions per side")
    args = parser.parse_args(argv)
    exit_on_signals()
    try:
        (row,) = run_rows(args.quick, args.requests)
    except KeyboardInterrupt:
        print("interrupted; containers removed", file=sys.stderr)
        return 130
    nexus, ssh = row["nexus"], row["baseline"]
    print(f"{row['name']}")
    print(f"  nexus lsp          p50 {nexus * 1000:.2f} ms")
    print(f"  ssh stdio (pylsp)  p50 {ssh * 1000:.2f} ms")
    print(f"  ratio              {nexus / ssh:.2f}x  ({row['note']})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
