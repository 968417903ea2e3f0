"""Nexus against the tools underneath it, each row measured as whole processes in one run.

Rows (select with --only):
  list      `nexus workspace list` (1 Docker workspace)     vs  `python -c pass`, same interpreter
  exec      `nexus workspace exec ws -- true`                vs  `ssh -F <nexus ssh config> nexus-ws true`
                                                                  (its own connection: ControlPath=none)
  create    `nexus workspace create` until SSH is ready      vs  `docker run -d -p 127.0.0.1:P:22 <same
                                                                  image>` until the sshd banner
  sidecar   `nexus/workspace/list`, 100 workspaces, p50      vs  the same service call in-process
  parallel  N parallel `nexus workspace create` (wall time)  vs  N parallel bare `docker run`s
  transfer  uploads (10,000 files, one 200 MB file) by tar   vs  per-file SFTP (File API too:
            over SSH                                              benchmarks/transfer.py)
  sync      `create --from` (2,000 files, 50 MB) until the     vs  an empty create + `rsync -a`;
            first sync, and a saved edit reaching the             the edit pushed by `rsync -a`
            sandbox (p50 of 20)                                   (Daytona emulator: benchmarks/sync.py)
  lsp       a completion round trip through `nexus lsp`     vs  pylsp spoken to directly over
            (pylsp in a Docker workspace), p50 of 200             `ssh nexus-ws pylsp` stdio (benchmarks/lsp.py)
  preview   GET through `nexus workspace preview`, p50     vs  the same server through a plain
            and p99 of 200 keep-alive requests                    `ssh -L` forward (benchmarks/preview.py)

Commands are started as a user starts them: the console scripts beside this interpreter
(`nexus`, `nexus-sidecar`), the OpenSSH client, the docker CLI. Single-command rows take the median
of --runs runs, Nexus and baseline alternating. The rows work in temporary HOME and NEXUS_HOME
folders (list, exec and create share one) and remove the containers they made, also on Ctrl-C or
failure. Prints a table; no threshold is enforced (the exit code says only whether it ran).

Run: .venv/bin/python benchmarks/run.py [--only list,exec] [--runs N] [--parallel N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import (
    INSTALLATION_LABEL,
    BenchHome,
    SidecarClient,
    bare_container,
    bare_run_argv,
    bench_home,
    exit_on_signals,
    finish,
    free_port,
    list_in_process,
    list_over_sidecar,
    median,
    need,
    output,
    remove_bare_containers,
    remove_containers,
    run,
    script_interpreter,
    seed_workspaces,
    start,
    timed,
    wait_banner,
)

ROWS = ("list", "exec", "create", "sidecar", "parallel", "transfer", "sync", "lsp", "preview")


@dataclass
class Row:
    name: str
    nexus: float | None  # seconds
    baseline_name: str
    baseline: float | None  # seconds
    target: str
    met: Callable[[Row], bool] | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.nexus is None or not self.baseline:
            return None
        return self.nexus / self.baseline


def ratio_at_most(limit: float) -> Callable[[Row], bool]:
    return lambda row: row.ratio is not None and row.ratio <= limit


def nexus_at_most(seconds: float) -> Callable[[Row], bool]:
    return lambda row: row.nexus is not None and row.nexus <= seconds


def progress(message: str) -> None:
    print(f".. {message}", file=sys.stderr, flush=True)


# ---- rows ---------------------------------------------------------------------------------------
def warm_workspace(home: BenchHome, name: str = "ws") -> str:
    """Create the workspace the list/exec rows use (this also builds the image once, untimed);
    return the workspace image's tag, read from the created workspace."""
    home.run("workspace", "create", name, timeout=900)
    return str(home.info(name)["image"])


def paired_medians(
    home: BenchHome, nexus_argv: list[str], base_argv: list[str], runs: int
) -> tuple[float, float]:
    """Median time of each command, run alternately after one untimed warm-up of each (bytecode,
    page cache, a control master if the config has one)."""
    timed(nexus_argv, home.env, home.project)
    timed(base_argv, home.env, home.project)
    nexus, base = [], []
    for _ in range(runs):
        nexus.append(timed(nexus_argv, home.env, home.project))
        base.append(timed(base_argv, home.env, home.project))
    return median(nexus), median(base)


def row_list(home: BenchHome, runs: int) -> Row:
    python = script_interpreter()
    nexus, base = paired_medians(
        home, home.nexus("workspace", "list"), [python, "-c", "pass"], runs
    )
    return Row(
        "nexus workspace list (1 ws)",
        nexus,
        "python -c pass",
        base,
        "<= 3x",
        ratio_at_most(3),
    )


def row_exec(home: BenchHome, runs: int) -> Row:
    ssh = need("ssh")
    nexus_argv = home.nexus("workspace", "exec", "ws", "--", "true")
    # plain ssh as the issue measured it: a connection of its own each time (the generated
    # config now shares one; that sharing is what Nexus brings, so the baseline goes without)
    base_argv = [
        ssh,
        "-F",
        str(home.ssh_config),
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "nexus-ws",
        "true",
    ]
    nexus, base = paired_medians(home, nexus_argv, base_argv, runs)
    return Row(
        "nexus workspace exec ws -- true",
        nexus,
        "ssh -F <nexus config> nexus-ws true",
        base,
        "<= 0.7x",
        ratio_at_most(0.7),
    )


def row_create(home: BenchHome, runs: int, image: str) -> Row:
    host_key = home.host_key()
    nexus, base = [], []
    try:
        for index in range(runs):
            name = f"c{index}"
            nexus.append(home.timed("workspace", "create", name))
            home.run("workspace", "delete", name)
            base.append(bare_container(image, host_key, home.env, home.project))
            remove_bare_containers()
    finally:
        remove_bare_containers()
    return Row(
        "nexus workspace create -> SSH ready",
        median(nexus),
        "docker run -d -p ... <image> -> banner",
        median(base),
        "<= 1.5x",
        ratio_at_most(1.5),
    )


def rows_sidecar(rounds: int, workspaces: int) -> list[Row]:
    rows = []
    with bench_home("sidecar") as home:
        seed_workspaces(home, workspaces)
        client = SidecarClient(home.env, home.project)
        try:
            client.initialize()
            for refresh in (True, False):
                base = median(list_in_process(home, rounds, refresh))
                sidecar = median(list_over_sidecar(client, rounds, refresh, workspaces))
                rows.append(
                    Row(
                        f"sidecar workspace/list ({workspaces} ws"
                        + (")" if refresh else ", refresh=false)"),
                        sidecar,
                        "the same call in-process",
                        base,
                        "p50 <= 5 ms" if refresh else "",
                        nexus_at_most(0.005) if refresh else None,
                    )
                )
        finally:
            client.close()
    return rows


def row_parallel(count: int) -> Row:
    with bench_home("parallel") as home:
        # an initialized home and a cached image, as a user has them; untimed
        image = warm_workspace(home, "warm")
        home.run("workspace", "delete", "warm")
        host_key = home.host_key()

        progress(f"{count} parallel nexus workspace create")
        begin = time.perf_counter()
        processes = [
            start(home.nexus("workspace", "create", f"p{i}"), home.env, home.project)
            for i in range(count)
        ]
        results = [finish(process, timeout=600) for process in processes]
        nexus_wall = time.perf_counter() - begin
        failed = [(code, err) for code, err in results if code != 0]
        note = check_parallel(home, count) if not failed else ""
        if failed:
            last = (failed[0][1].splitlines() or ["(no output)"])[-1]
            note = f"{len(failed)}/{count} creates failed; first: {last}"
        installation = home.installation_id()
        if installation:
            remove_containers(f"{INSTALLATION_LABEL}={installation}")

        progress(f"{count} parallel docker run")
        try:
            base_wall = parallel_bare(image, host_key, home, count)
        finally:
            remove_bare_containers()
    return Row(
        f"{count} parallel creates (wall)",
        nexus_wall if not failed else None,
        f"{count} parallel docker run -> banner",
        base_wall,
        "<= 1.5x",
        ratio_at_most(1.5),
        note,
    )


def check_parallel(home: BenchHome, count: int) -> str:
    """No port, name or ssh-config collision among the parallel creates."""
    listed = json.loads(output(home.nexus("workspace", "list", "--json"), home.env))
    items = listed if isinstance(listed, list) else listed.get("workspaces", [])
    names = {f"p{i}" for i in range(count)}
    ours = [ws for ws in items if ws.get("name") in names]
    ports = {ws.get("sshPort") for ws in ours}
    running = [ws for ws in ours if ws.get("status") == "running"]
    config = home.ssh_config.read_text()
    hosts = {name for name in names if f"Host nexus-{name}\n" in config}
    problems = []
    if len(ours) != count or len(running) != count:
        problems.append(f"{len(running)}/{count} running")
    if len(ports) != len(ours):
        problems.append("port collision")
    if len(hosts) != count:
        problems.append(f"{len(hosts)}/{count} in ssh config")
    return (
        "; ".join(problems) if problems else f"{count} running, distinct ports, all in ssh config"
    )


def parallel_bare(image: str, host_key: Path, home: BenchHome, count: int) -> float:
    ports = [free_port() for _ in range(count)]
    errors: list[BaseException] = []

    def one(port: int) -> None:
        try:
            run(bare_run_argv(image, port, host_key), home.env, home.project)
            wait_banner(port, timeout=300)
        except BaseException as exc:
            errors.append(exc)

    begin = time.perf_counter()
    threads = [threading.Thread(target=one, args=(port,), daemon=True) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    if errors:
        raise RuntimeError(f"{len(errors)}/{count} bare containers failed: {errors[0]}")
    return wall


# ---- output -------------------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "failed"
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms" if ms >= 1000 else f"{ms:.1f} ms"


def print_table(rows: list[Row]) -> None:
    header = ("row", "nexus", "baseline", "", "ratio", "target", "met")
    lines = [
        (
            row.name,
            duration(row.nexus),
            row.baseline_name,
            duration(row.baseline),
            f"{row.ratio:.2f}x" if row.ratio is not None else "-",
            row.target or "-",
            ("yes" if row.met(row) else "no") if row.met else "",
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    right = {1, 3, 4}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(fmt(header))
    print("  ".join("-" * width for width in widths))
    for cells in lines:
        print(fmt(cells))
    for row in rows:
        if row.note:
            print(f"  {row.name}: {row.note}")


# ---- main ---------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        default=",".join(ROWS),
        help=f"comma-separated rows to measure (default: all of {','.join(ROWS)})",
    )
    parser.add_argument(
        "--runs", type=int, help="runs per single-command row, median taken (default 10)"
    )
    parser.add_argument("--parallel", type=int, help="creates in the parallel row (default 20)")
    parser.add_argument(
        "--sidecar-rounds", type=int, help="sidecar list calls per variant (default 200)"
    )
    parser.add_argument(
        "--workspaces", type=int, default=100, help="workspaces in the sidecar's store"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run: 3 runs, 4 parallel creates, 20 sidecar rounds",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(ROWS))
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    args.runs = args.runs or (3 if args.quick else 10)
    args.parallel = args.parallel or (4 if args.quick else 20)
    args.sidecar_rounds = args.sidecar_rounds or (20 if args.quick else 200)
    return args


def compile_nexus() -> None:
    """Byte-compile the nexus package first, as installing a package does: with
    PYTHONDONTWRITEBYTECODE set (or an edited tree) every run would compile its sources again."""
    import compileall

    import nexus

    compileall.compile_dir(str(Path(nexus.__file__).parent), quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    for tool in ("docker", "ssh", "ssh-keygen"):
        need(tool)
    compile_nexus()
    rows: list[Row] = []
    try:
        if {"list", "exec", "create"} & set(args.only):
            with bench_home("cli") as home:
                progress("creating the workspace `ws` (builds the image if needed)")
                image = warm_workspace(home)
                if "list" in args.only:
                    progress(f"list: {args.runs} runs")
                    rows.append(row_list(home, args.runs))
                if "exec" in args.only:
                    progress(f"exec: {args.runs} runs")
                    rows.append(row_exec(home, args.runs))
                if "create" in args.only:
                    progress(f"create: {args.runs} runs ({image})")
                    rows.append(row_create(home, args.runs, image))
        if "sidecar" in args.only:
            progress(f"sidecar: {args.workspaces} workspaces, {args.sidecar_rounds} calls")
            rows.extend(rows_sidecar(args.sidecar_rounds, args.workspaces))
        if "parallel" in args.only:
            rows.append(row_parallel(args.parallel))
        if "transfer" in args.only:
            from transfer import run_rows

            for item in run_rows(args.quick):
                limit = item.pop("limit")
                rows.append(Row(**item, met=ratio_at_most(limit) if limit else None))
        if "sync" in args.only:
            from sync import run_rows as sync_rows

            for item in sync_rows(args.quick):
                limit = item.pop("limit")
                rows.append(Row(**item, met=ratio_at_most(limit) if limit else None))
        if "lsp" in args.only:
            from lsp import run_rows as lsp_rows

            for item in lsp_rows(args.quick):
                limit = item.pop("limit")
                rows.append(Row(**item, met=ratio_at_most(limit) if limit else None))
        if "preview" in args.only:
            from preview import run_rows as preview_rows

            for item in preview_rows(args.quick):
                limit = item.pop("limit")
                rows.append(Row(**item, met=ratio_at_most(limit) if limit else None))
    except KeyboardInterrupt:
        print("interrupted; containers removed", file=sys.stderr)
        if rows:
            print_table(rows)
        return 130
    finally:
        remove_bare_containers()
    summary = [f"median of {args.runs} runs per single-command row"]
    if "sidecar" in args.only:
        summary.append(f"sidecar: p50 of {args.sidecar_rounds} calls")
    if "parallel" in args.only:
        summary.append(f"parallel: {args.parallel} creates, one wall time each")
    print("; ".join(summary))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
