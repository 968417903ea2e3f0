"""A local folder kept in a Daytona sandbox by Nexus's sync (Mutagen), against `rsync -a` over the
same ssh alias, measured in the same run against the Daytona emulator.

  create   `nexus workspace create bench --backend daytona --from DATA` (2,000 files, 50 MB): it
           returns once the first sync cycle has completed (the whole folder is in the sandbox)
           vs  `nexus workspace create` of an empty workspace + `rsync -a DATA/ nexus-bench:COPY/`
           (each timed alone, in this run; their sum is the baseline)
  edit     one saved edit (a small file rewritten) until the sandbox shows it, p50 (and p90) of 20
           vs  the same edit pushed by hand: `rsync -a` of the whole folder over the same alias

The sandbox is read by one probe: a single ssh over the workspace's alias, running a loop in the
sandbox that polls the edited file's first line every 2 ms and answers when it holds the new
text. Both ways are timed from the local write to that answer, so both pay the same probe. The
Mutagen session is paused while rsync is measured (it would push the same edits at the same time).

rsync must be on this machine and in the sandbox: it is installed with apt-get where it is
missing (said on stderr). Nexus's Mutagen is the one beside this interpreter (env NEXUS_MUTAGEN).

Run alone: .venv/bin/python benchmarks/sync.py [--quick]; or as the `sync` row of run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import selectors
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BIN,
    BenchHome,
    bench_home,
    exit_on_signals,
    finish,
    median,
    need,
    output,
    run,
    start,
    timed,
)
from transfer import emulator

NAME = "bench"
ALIAS = f"nexus-{NAME}"
PER_FOLDER = 100
EDITED = "edit.txt"  # the file the edits rewrite (one of the data set's files)
EDIT_SIZE = 1024  # bytes of the edited file
EDIT_GAP = 0.25  # seconds between edits (untimed): each edit meets an idle sync, as a save does
PROBE_TIMEOUT = 60.0
RSYNC_COPY = "rsync-copy"  # the baseline's folder, beside the workspace folder in the sandbox


def progress(message: str) -> None:
    print(f".. {message}", file=sys.stderr, flush=True)


@dataclass
class Result:
    files: int
    megabytes: int
    edits: int
    create_from: float = 0.0  # create --from until the first completed cycle
    create_empty: float = 0.0  # create of an empty workspace
    rsync_full: float = 0.0  # rsync -a of the whole folder into the sandbox
    ssh_once: float = 0.0  # one `ssh ALIAS true` (each rsync starts one ssh over the alias)
    renew_once: float = 0.0  # the alias's token check, run by that ssh (`Match exec`)
    sync_edits: list[float] = field(default_factory=list)
    rsync_edits: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---- data ---------------------------------------------------------------------------------------
def make_data(root: Path, files: int, megabytes: int) -> Path:
    """``files`` files of random bytes totalling ``megabytes`` MB, 100 to a folder; one of them is
    the small text file the edits rewrite."""
    data = root / "data"
    data.mkdir()
    others = files - 1
    total = (megabytes << 20) - EDIT_SIZE
    size, extra = divmod(total, others)
    for index in range(others):
        folder = data / f"d{index // PER_FOLDER:03d}"
        if index % PER_FOLDER == 0:
            folder.mkdir()
        (folder / f"f{index:05d}.bin").write_bytes(os.urandom(size + (extra if index == 0 else 0)))
    write_edit(data / EDITED, "initial")
    os.sync()
    return data


def write_edit(path: Path, token: str, grow: int = 0) -> None:
    """A save: the file rewritten, its first line the token, then filler ``grow`` bytes longer
    than at first (each edit changes the size: rsync's quick check compares mtimes to the second,
    so a save of the same size within the second of the last push would not be sent)."""
    head = f"{token}\n".encode()
    path.write_bytes(head + b"x" * (EDIT_SIZE - len(head) - 1 + grow) + b"\n")


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


# ---- tools --------------------------------------------------------------------------------------
def mutagen_binary() -> Path:
    path = BIN / "mutagen"
    if not path.exists():
        raise SystemExit(f"no Mutagen at {path}: run scripts/setup.sh")
    return path


def ensure_local_rsync(notes: list[str]) -> str:
    found = shutil.which("rsync")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("the benchmark needs `rsync` on PATH (apt-get install rsync)")
    progress("rsync is not on this machine: installing it (apt-get install -y rsync)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "rsync"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    notes.append("rsync was installed on this machine for the baseline (apt-get)")
    found = shutil.which("rsync")
    if found is None:
        raise SystemExit("apt-get installed rsync, but it is not on PATH")
    return found


SANDBOX_RSYNC = (
    'S=; [ "$(id -u)" -eq 0 ] || S="sudo -n"; command -v rsync >/dev/null && exit 0; '
    "$S apt-get update -qq >/dev/null && "
    "$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >/dev/null"
)


# ---- the probe ----------------------------------------------------------------------------------
PROBE_SCRIPT = """echo ready
while read -r path want; do
  while :; do
    got=
    { IFS= read -r got < "$path"; } 2>/dev/null
    [ "$got" = "$want" ] && break
    sleep 0.002
  done
  echo ok
done"""


class Probe:
    """One ssh over the workspace's alias, kept open: told `PATH TOKEN`, it answers `ok` once the
    file's first line in the sandbox is TOKEN."""

    def __init__(self, home: BenchHome) -> None:
        argv = ["ssh", "-F", str(home.ssh_config), ALIAS, PROBE_SCRIPT]
        self.process = start(argv, home.env, home.root, stdin=subprocess.PIPE, bufsize=0)
        assert self.process.stdout is not None
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        self.buffer = b""
        self._expect(b"ready")

    def _expect(self, line: bytes) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + PROBE_TIMEOUT
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise RuntimeError(f"the sandbox did not answer within {PROBE_TIMEOUT:.0f} s")
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the probe's ssh ended")
            self.buffer += chunk
        got, _, self.buffer = self.buffer.partition(b"\n")
        if got != line:
            raise RuntimeError(f"the probe answered {got!r}, not {line!r}")

    def wait(self, path: str, token: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{path} {token}\n".encode())
        self._expect(b"ok")

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        self.selector.close()
        with contextlib.suppress(Exception):
            finish(self.process, timeout=15)


# ---- measuring ----------------------------------------------------------------------------------
def ssh_argv(home: BenchHome, *command: str) -> list[str]:
    return ["ssh", "-F", str(home.ssh_config), ALIAS, *command]


def rsync_argv(rsync: str, home: BenchHome, data: Path, remote: str) -> list[str]:
    return [
        rsync,
        "-a",
        "-e",
        f"ssh -F {shlex.quote(str(home.ssh_config))}",
        f"{data}/",
        f"{ALIAS}:{remote}/",
    ]


STEP = re.compile(r"^\W*✓ (.+?) \((\d+(?:\.\d+)?)s\)$")


def timed_steps(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Like ``timed``, and the steps the command reported on stderr with their durations."""
    begin = time.perf_counter()
    code, err = finish(start(argv, env, cwd), timeout=900)
    elapsed = time.perf_counter() - begin
    if code != 0:
        raise RuntimeError(f"`{' '.join(argv)}` exited with {code}: {err}")
    steps = []
    for line in err.splitlines():
        match = STEP.match(line.strip())
        if match:
            label = match[1].split(" of ")[0].split(" nexus-")[0]
            steps.append(f"{label} {float(match[2]):.1f} s")
    return elapsed, ", ".join(steps) or "(none reported)"


def check_copy(home: BenchHome, remote: str, files: int, size: int) -> str | None:
    """Whether the sandbox folder holds the data set (file count and bytes); None when it does."""
    script = f"find {shlex.quote(remote)} -type f -printf '%s\\n' | awk '{{n++; s+=$1}} END {{print n+0, s+0}}'"
    seen = output(ssh_argv(home, script), home.env).split()
    expected = [str(files), str(size)]
    return None if seen == expected else f"expected {' '.join(expected)}, found {' '.join(seen)}"


def edit_latencies(
    probe: Probe, data: Path, remote_file: str, edits: range, push: Callable[[], None] | None
) -> list[float]:
    """Seconds from each saved edit to the probe seeing it; ``push`` (None for the sync) is what
    the user runs after saving. ``edits`` numbers them (each size differs from every other)."""
    samples = []
    for index in edits:
        token = f"edit-{index}-{uuid.uuid4().hex[:8]}"
        time.sleep(EDIT_GAP)
        begin = time.perf_counter()
        write_edit(data / EDITED, token, grow=index + 1)
        if push is not None:
            push()
        probe.wait(remote_file, token)
        samples.append(time.perf_counter() - begin)
    return samples


def measure(files: int, megabytes: int, edits: int) -> Result:
    result = Result(files, megabytes, edits)
    rsync = ensure_local_rsync(result.notes)
    mutagen = mutagen_binary()
    with emulator() as api, bench_home("sync") as home:
        home.env.update(api)
        home.env["NEXUS_MUTAGEN"] = str(mutagen)
        try:
            measure_in(home, rsync, result)
        finally:
            clean_up(home, mutagen)
    return result


def measure_in(home: BenchHome, rsync: str, result: Result) -> None:
    progress(f"making {result.files:,} files, {result.megabytes} MB")
    data = make_data(home.root, result.files, result.megabytes)
    create = ["workspace", "create", "--backend", "daytona"]

    progress("warm-up: an empty Daytona workspace (untimed)")
    home.run(*create, "warm", timeout=900)
    home.run("workspace", "delete", "warm", "--force")
    progress("create of an empty workspace (baseline)")
    result.create_empty = timed(home.nexus(*create, "empty"), home.env, home.project, 900)
    home.run("workspace", "delete", "empty", "--force")

    progress(f"create --from the data set until its first sync cycle ({NAME})")
    os.sync()
    argv = home.nexus(*create, NAME, "--from", str(data), "--no-worktree")
    result.create_from, steps = timed_steps(argv, home.env, home.project)
    result.notes.append(f"create --from, its own steps: {steps}")
    where = str(home.info(NAME)["remotePath"])
    problem = check_copy(home, where, result.files, folder_bytes(data))
    if problem:
        result.notes.append(f"the synced folder: {problem}")

    progress("rsync in the sandbox (installed with apt-get when missing; untimed)")
    home.run("workspace", "exec", NAME, "--", "sh", "-c", SANDBOX_RSYNC, timeout=600)

    probe = Probe(home)
    try:
        progress(f"{result.edits} saved edits through the sync")
        result.sync_edits = edit_latencies(
            probe, data, f"{where}/{EDITED}", range(result.edits), None
        )

        home.run("sync", "pause", NAME)  # from here on only rsync moves the edits
        copy = f"{Path(where).parent}/{RSYNC_COPY}"
        progress("rsync -a of the data set (baseline)")
        os.sync()
        result.rsync_full = timed(rsync_argv(rsync, home, data, copy), home.env, home.root, 900)
        problem = check_copy(home, copy, result.files, folder_bytes(data))
        if problem:
            result.notes.append(f"the rsync copy: {problem}")

        progress(f"{result.edits} saved edits pushed by rsync -a (baseline)")
        push_argv = rsync_argv(rsync, home, data, copy)

        def push() -> None:
            run(push_argv, home.env, home.root)

        result.rsync_edits = edit_latencies(
            probe, data, f"{copy}/{EDITED}", range(result.edits, 2 * result.edits), push
        )
        result.ssh_once = median(
            [timed(ssh_argv(home, "true"), home.env, home.root) for _ in range(5)]
        )
        renew = home.nexus("ssh-config", "renew", NAME)
        result.renew_once = median([timed(renew, home.env, home.root) for _ in range(5)])
    finally:
        probe.close()


def p90(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=10, method="inclusive")[8]


def clean_up(home: BenchHome, mutagen: Path) -> None:
    """The workspaces through Nexus (that ends their sync), then whatever of the Mutagen daemon is
    left (an interrupted delete); the home and the emulator go with their contexts."""
    names = [NAME]
    with contextlib.suppress(Exception):
        listed = json.loads(output(home.nexus("workspace", "list", "--json"), home.env))
        names = [str(ws["name"]) for ws in listed["workspaces"]]
    for name in names:
        with contextlib.suppress(Exception):
            run(home.nexus("workspace", "delete", name, "--force"), home.env, home.root, 120)
    data_dir = home.nexus_home / "sync" / "mutagen"
    if (data_dir / "daemon").exists():
        env = {**home.env, "MUTAGEN_DATA_DIRECTORY": str(data_dir)}
        with contextlib.suppress(Exception):
            subprocess.run(
                [str(mutagen), "daemon", "stop"], env=env, capture_output=True, timeout=30
            )


# ---- output -------------------------------------------------------------------------------------
def seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def table_rows(r: Result) -> list[dict[str, Any]]:
    """run.py's ``Row`` fields (plus ``limit``: None, the issue sets no target)."""
    data = f"{r.files:,} files, {r.megabytes} MB"
    return [
        {
            "name": f"create --from ({data}) -> first sync done",
            "nexus": r.create_from,
            "baseline_name": "create (empty) + rsync -a",
            "baseline": r.create_empty + r.rsync_full,
            "target": "",
            "limit": None,
            "note": f"baseline = empty create {seconds(r.create_empty)} + rsync -a "
            f"{seconds(r.rsync_full)}",
        },
        {
            "name": f"saved edit -> in the sandbox (p50 of {r.edits})",
            "nexus": median(r.sync_edits),
            "baseline_name": "rsync -a of the folder",
            "baseline": median(r.rsync_edits),
            "target": "",
            "limit": None,
            "note": f"p90: sync {seconds(p90(r.sync_edits))}, rsync {seconds(p90(r.rsync_edits))}",
        },
    ]


def print_table(r: Result) -> None:
    lines = [
        (
            f"create --from ({r.files:,} files, {r.megabytes} MB) -> first sync done",
            seconds(r.create_from),
            "create (empty) + rsync -a",
            seconds(r.create_empty + r.rsync_full),
            f"{r.create_from / (r.create_empty + r.rsync_full):.2f}x",
        ),
        (
            "  of which: rsync -a alone",
            "",
            "rsync -a -e 'ssh -F ...'",
            seconds(r.rsync_full),
            "",
        ),
        (
            f"saved edit -> in the sandbox, p50 of {r.edits}",
            seconds(median(r.sync_edits)),
            "rsync -a of the folder",
            seconds(median(r.rsync_edits)),
            f"{median(r.sync_edits) / median(r.rsync_edits):.2f}x",
        ),
        (
            f"saved edit -> in the sandbox, p90 of {r.edits}",
            seconds(p90(r.sync_edits)),
            "rsync -a of the folder",
            seconds(p90(r.rsync_edits)),
            f"{p90(r.sync_edits) / p90(r.rsync_edits):.2f}x",
        ),
    ]
    header = ("measure", "nexus sync", "baseline", "", "ratio")
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    for cells in [header, tuple("-" * w for w in widths), *lines]:
        print(
            "  ".join(
                c.rjust(w) if i in (1, 3, 4) else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
    print(
        f"Daytona emulator; ratio = nexus / baseline (lower is better); edits {EDIT_GAP:.2f} s "
        "apart, the sandbox polled every 2 ms over one ssh.\n"
        f"Each rsync starts one ssh over the alias: `ssh {ALIAS} true` takes {seconds(r.ssh_once)}"
        f" (p50 of 5), of which the alias's token check (`nexus ssh-config renew {NAME}`, the ssh "
        f"config's Match exec) {seconds(r.renew_once)}; the sync's ssh pays it once."
    )
    for note in r.notes:
        print(f"  {note}")


def run_rows(quick: bool) -> list[dict[str, Any]]:
    """The `sync` row of run.py: measure, print this benchmark's table, return run.py's rows."""
    args = parse_args(["--quick"] if quick else [])
    result = measure(args.files, args.mb, args.edits)
    print_table(result)
    return table_rows(result)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, help="files in the data set (default 2,000)")
    parser.add_argument("--mb", type=int, help="total size of the data set in MB (default 50)")
    parser.add_argument("--edits", type=int, help="saved edits timed each way (default 20)")
    parser.add_argument("--quick", action="store_true", help="200 files, 5 MB, 5 edits")
    args = parser.parse_args(argv)
    args.files = args.files or (200 if args.quick else 2000)
    args.mb = args.mb or (5 if args.quick else 50)
    args.edits = args.edits or (5 if args.quick else 20)
    if args.files < 2 or args.edits < 1:
        parser.error("--files must be at least 2 and --edits at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    for tool in ("docker", "ssh"):
        need(tool)
    try:
        result = measure(args.files, args.mb, args.edits)
    except KeyboardInterrupt:
        print("interrupted; workspaces deleted, emulator stopped", file=sys.stderr)
        return 130
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
