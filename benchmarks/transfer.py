"""Uploading many small files and one large file three ways, measured in the same run.

  per-file SFTP   one SFTP put per file over one SSH connection (the baseline)
  tar over SSH    one tar stream over one exec channel (`nexus workspace cp`'s common path)
  File API        the Daytona File API (`daytona.file.upload`), against the Daytona emulator

SFTP and tar are measured against a Docker workspace, and again against a sandbox of the Daytona
emulator next to the File API (so its ratio compares against a baseline on the same sandbox).
The File API column says n/a when that operation is not available. Each way runs once per data
set (10,000 files take a while per-file), in-process, each copy opening its own connection; the
copies are checked (file count, the large file's hash) before their times are shown.

Run alone: .venv/bin/python benchmarks/transfer.py [--quick]; or as the `transfer` row of run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import BenchHome, bench_home, exit_on_signals, start

REPO = Path(__file__).resolve().parent.parent
FILE_API_OP = "daytona.file.upload"
SMALL_SIZE = 1024  # bytes per small file
PER_FOLDER = 100


def progress(message: str) -> None:
    print(f".. {message}", file=sys.stderr, flush=True)


@dataclass
class DataSet:
    name: str  # "10,000 files"
    path: Path
    files: int
    bytes: int
    sha256: str | None = None  # of the one large file


@dataclass
class Result:
    """Seconds per way for one data set on one target; None: not measured (n/a)."""

    data: DataSet
    target: str
    times: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


WAYS = ("sftp", "tar", "file-api")
LABELS = {"sftp": "per-file SFTP", "tar": "tar over SSH", "file-api": "File API"}


# ---- data ---------------------------------------------------------------------------------------
def make_data(root: Path, files: int, big_mb: int) -> list[DataSet]:
    small = root / "small"
    for index in range(files):
        folder = small / f"d{index // PER_FOLDER:03d}"
        if index % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f"f{index:05d}.txt").write_bytes(os.urandom(SMALL_SIZE))
    big_dir = root / "big"
    big_dir.mkdir()
    digest = hashlib.sha256()
    with open(big_dir / "big.bin", "wb") as out:
        for _ in range(big_mb):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            out.write(chunk)
    return [
        DataSet(f"{files:,} files of 1 KB", small, files, files * SMALL_SIZE),
        DataSet(f"one {big_mb} MB file", big_dir / "big.bin", 1, big_mb << 20, digest.hexdigest()),
    ]


def warm(root: Path) -> None:
    """Written back and read once, untimed: no way pays for the others' page cache."""
    os.sync()
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as data:
                while data.read(1 << 20):
                    pass


# ---- measuring -----------------------------------------------------------------------------------
async def check_copy(service: Any, name: str, remote: str, data: DataSet) -> str | None:
    """Whether the copy arrived: the file count, or the large file's hash; None when it did."""
    out: list[bytes] = []
    script = (
        f"sha256sum {remote} | cut -d' ' -f1" if data.sha256 else f"find {remote} -type f | wc -l"
    )
    await service.exec(name, ["sh", "-c", script], stdout=out.append, stderr=lambda _: None)
    seen = b"".join(out).decode().strip()
    expected = data.sha256 or str(data.files)
    return None if seen == expected else f"expected {expected}, found {seen}"


async def measure_target(
    service: Any,
    name: str,
    data_sets: list[DataSet],
    file_api: Callable[[str, str], Awaitable[Any]] | None,
    label: str,
) -> list[Result]:
    from nexus.access.transfer import upload, upload_sftp_per_file

    workspace, conn = await service.running_connection(name)
    folder = workspace.remote_path  # where the File API works; a user's usual target too
    ways: dict[str, Callable[[str, str], Awaitable[Any]]] = {
        "sftp": lambda local, remote: upload_sftp_per_file(conn, local, remote),
        "tar": lambda local, remote: upload(conn, local, remote),
    }
    if file_api is not None:
        ways["file-api"] = file_api

    def quiet(_: bytes) -> None:
        pass

    results = []
    for data in data_sets:
        result = Result(data, label)
        for way in WAYS:
            if way not in ways:
                result.times[way] = None
                continue
            remote = f"{folder}/bench-{way}-{data.path.name}"
            # untimed: what the copy before wrote is on disk, so each starts alike (copies
            # are removed only at the end: a large delete slows the next copy down)
            await service.exec(name, ["sync"], stdout=quiet, stderr=quiet)
            progress(f"{label}: {data.name} via {LABELS[way]}")
            begin = time.perf_counter()
            await ways[way](str(data.path), remote)
            result.times[way] = time.perf_counter() - begin
            problem = await check_copy(service, name, remote, data)
            if problem:
                result.notes.append(f"{LABELS[way]}: {problem}")
        results.append(result)
    await service.exec(name, ["sh", "-c", f"rm -rf {folder}/bench-*"], stdout=quiet, stderr=quiet)
    return results


def in_home(home: BenchHome, work: Callable[[Any], Awaitable[list[Result]]]) -> list[Result]:
    """Run ``work(service)`` in this process, with the home's HOME and NEXUS_HOME."""
    with home.as_environment():
        from nexus.service.context import NexusContext
        from nexus.service.workspaces import WorkspaceService

        async def main() -> list[Result]:
            context = NexusContext()
            try:
                return await work(WorkspaceService(context))
            finally:
                context.close()

        return asyncio.run(main())


def docker_results(data_sets: list[DataSet]) -> list[Result]:
    with bench_home("transfer") as home:
        progress("creating a Docker workspace")
        home.run("workspace", "create", "xfer", timeout=900)
        return in_home(
            home, lambda service: measure_target(service, "xfer", data_sets, None, "docker")
        )


def file_api_available() -> bool:
    from nexus.domain.kinds import BackendType
    from nexus.service.backends import operations

    try:
        return FILE_API_OP in operations(BackendType.DAYTONA)
    except Exception as exc:  # a Daytona operation module that does not load
        progress(f"the Daytona operations did not load: {exc}")
        return False


@contextlib.contextmanager
def emulator() -> Iterator[dict[str, str]]:
    """The Daytona emulator as its own process; the env lines that point Nexus at it."""
    process = start(
        [sys.executable, "-m", "tests.daytona_emulator", "--port", "0", "--print-url"],
        {**os.environ},
        REPO,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        env: dict[str, str] = {}
        assert process.stdout is not None
        while len(env) < 2:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the Daytona emulator exited before it printed its URL")
            key, _, value = line.strip().partition("=")
            if key in ("DAYTONA_API_URL", "DAYTONA_API_KEY"):
                env[key] = value
        yield env
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def daytona_results(data_sets: list[DataSet]) -> list[Result]:
    with emulator() as api, bench_home("transfer-daytona") as home:
        home.env.update(api)
        progress("creating a Daytona workspace on the emulator")
        home.run("workspace", "create", "xfer", "--backend", "daytona", timeout=900)
        saved = {key: os.environ.get(key) for key in api}
        os.environ.update(api)
        try:

            async def work(service: Any) -> list[Result]:
                from nexus.service.provider import ProviderService

                async def file_api(local: str, remote: str) -> Any:
                    return await ProviderService(service).execute(
                        FILE_API_OP,
                        "xfer",
                        {"local_path": local, "remote_path": remote},
                        allow_fallback=False,
                    )

                return await measure_target(service, "xfer", data_sets, file_api, "daytona")

            results = in_home(home, work)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            home.run("workspace", "delete", "xfer", "--force")
        return results


def measure(files: int, big_mb: int) -> list[Result]:
    with bench_home("transfer-data") as scratch:
        progress(f"making {files:,} files of 1 KB and one {big_mb} MB file")
        data_sets = make_data(scratch.root, files, big_mb)
        warm(scratch.root)
        results = docker_results(data_sets)
        if file_api_available():
            results += daytona_results(data_sets)
        else:
            progress(f"{FILE_API_OP} is not available: the File API column is n/a")
        return results


# ---- output -------------------------------------------------------------------------------------
def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def speedup(base: float | None, value: float | None) -> str:
    return "n/a" if base is None or not value else f"{base / value:.1f}x"


def print_table(results: list[Result]) -> None:
    header = (
        "upload",
        "on",
        *(LABELS[way] for way in WAYS),
        "tar vs SFTP",
        "File API vs SFTP",
    )
    lines = [
        (
            r.data.name,
            r.target,
            *(seconds(r.times.get(way)) for way in WAYS),
            speedup(r.times.get("sftp"), r.times.get("tar")),
            speedup(r.times.get("sftp"), r.times.get("file-api")),
        )
        for r in results
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    for cells in [header, tuple("-" * w for w in widths), *lines]:
        print(
            "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
    print("speed-up = per-file SFTP time / that way's time; target: tar >= 5x on the small files")
    for r in results:
        for note in r.notes:
            print(f"  {r.data.name} on {r.target}: {note}")


def run_rows(quick: bool) -> list[dict[str, Any]]:
    """The `transfer` row of run.py: measure, print the three-way table, and return the rows
    (run.py's ``Row`` fields, plus ``limit``: the ratio the row must stay at or under)."""
    args = parse_args(["--quick"] if quick else [])
    results = measure(args.files, args.big_mb)
    print_table(results)
    out: list[dict[str, Any]] = []
    for r in results:
        for way in ("tar", "file-api"):
            if r.times.get(way) is None:
                continue  # not measured there: the three-way table says n/a
            small = r.data.sha256 is None
            target = way == "tar" and small
            out.append(
                {
                    "name": f"upload {r.data.name} ({r.target}): {LABELS[way]}",
                    "nexus": r.times[way],
                    "baseline_name": "per-file SFTP",
                    "baseline": r.times.get("sftp"),
                    "target": "<= 0.2x (5x faster)" if target else "",
                    "limit": 0.2 if target else None,
                    "note": "; ".join(r.notes),
                }
            )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, help="small files (default 10,000)")
    parser.add_argument("--big-mb", type=int, help="size of the large file in MB (default 200)")
    parser.add_argument("--quick", action="store_true", help="1,000 files and a 20 MB file")
    args = parser.parse_args(argv)
    args.files = args.files or (1000 if args.quick else 10_000)
    args.big_mb = args.big_mb or (20 if args.quick else 200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    try:
        results = measure(args.files, args.big_mb)
    except KeyboardInterrupt:
        print("interrupted; containers removed", file=sys.stderr)
        return 130
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
