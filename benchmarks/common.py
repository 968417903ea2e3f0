"""What the benchmarks share: a throwaway Nexus home, whole-process timing, the bare-container
baseline, the sshd banner wait, a minimal sidecar client, and the cleanup of every container made.

Every command is started as a user starts it: the console scripts next to this interpreter
(`nexus`, `nexus-sidecar`), the docker CLI, the OpenSSH client.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
NEXUS = str(BIN / "nexus")
NEXUS_SIDECAR = str(BIN / "nexus-sidecar")
RUN_ID = uuid.uuid4().hex[:12]
BARE_LABEL = f"nexus-bench.run={RUN_ID}"  # on every bare container this run makes
INSTALLATION_LABEL = "nexus.installation"  # what the Docker backend labels its containers with

_live: set[subprocess.Popen[Any]] = set()  # processes still running, ended on cleanup
_live_lock = threading.Lock()


def script_interpreter(script: str = NEXUS) -> str:
    """The interpreter a console script runs with (its shebang), for the `python -c pass` baseline."""
    first = Path(script).read_text().splitlines()[0]
    return first.removeprefix("#!").split()[0] if first.startswith("#!") else sys.executable


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise SystemExit(f"the benchmark needs `{tool}` on PATH")
    return found


# ---- processes ---------------------------------------------------------------------------------
def start(
    argv: list[str], env: dict[str, str], cwd: str | Path, **kwargs: Any
) -> subprocess.Popen[Any]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    process = subprocess.Popen(argv, env=env, cwd=cwd, **kwargs)
    with _live_lock:
        _live.add(process)
    return process


def finish(process: subprocess.Popen[Any], timeout: float = 180) -> tuple[int, str]:
    """Wait for a started process; its exit code and stderr (the tail, for an error message)."""
    _, err = process.communicate(timeout=timeout)  # on an interrupt it stays live, to be ended
    with _live_lock:
        _live.discard(process)
    text = err.decode(errors="replace") if isinstance(err, bytes) else (err or "")
    return process.returncode, text.strip()[-2000:]


def run(argv: list[str], env: dict[str, str], cwd: str | Path, timeout: float = 180) -> None:
    """Run a command to completion; raise with its stderr when it fails."""
    code, err = finish(start(argv, env, cwd), timeout)
    if code != 0:
        raise RuntimeError(f"`{' '.join(argv)}` exited with {code}: {err}")


def timed(argv: list[str], env: dict[str, str], cwd: str | Path, timeout: float = 180) -> float:
    """Wall time of one whole process, from spawn to exit; it must succeed."""
    begin = time.perf_counter()
    run(argv, env, cwd, timeout)
    return time.perf_counter() - begin


def output(argv: list[str], env: dict[str, str] | None = None) -> str:
    return subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout


def end_live_processes() -> None:
    with _live_lock:
        processes = list(_live)
        _live.clear()
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def median(samples: list[float]) -> float:
    return statistics.median(samples)


# ---- network -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_banner(port: int, timeout: float = 60, interval: float = 0.01) -> None:
    """Until sshd on 127.0.0.1:port sends its `SSH-` banner (the port is published before sshd
    listens: the proxy accepts and closes, so a connect alone proves nothing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.settimeout(1)
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"no sshd banner on 127.0.0.1:{port} after {timeout:.0f}s")


# ---- the bare-container baseline ---------------------------------------------------------------
def bare_run_argv(image: str, port: int, host_key: Path) -> list[str]:
    """`docker run -d -p 127.0.0.1:P:22 <image>`; the workspace image's sshd needs a host key,
    bind-mounted read-only (Nexus copies its own in before the start)."""
    return [
        "docker",
        "run",
        "-d",
        "--label",
        BARE_LABEL,
        "-p",
        f"127.0.0.1:{port}:22",
        "-v",
        f"{host_key}:/etc/ssh/nexus/ssh_host_ed25519_key:ro",
        image,
    ]


def bare_container(image: str, host_key: Path, env: dict[str, str], cwd: Path) -> float:
    """Seconds from `docker run -d` to the sshd banner on its port; the container is removed."""
    port = free_port()
    begin = time.perf_counter()
    run(bare_run_argv(image, port, host_key), env, cwd)
    wait_banner(port)
    return time.perf_counter() - begin


def remove_containers(*label_filters: str) -> None:
    """`docker rm -f` every container carrying one of these labels (key=value)."""
    ids: list[str] = []
    for label in label_filters:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            ids += output(["docker", "ps", "-aq", "--filter", f"label={label}"]).split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


def remove_bare_containers() -> None:
    remove_containers(BARE_LABEL)


# ---- a throwaway Nexus home --------------------------------------------------------------------
class BenchHome:
    """A temp HOME and NEXUS_HOME (never the user's ~/.nexus or ~/.ssh) with a project folder.

    ``close()`` ends the ssh control masters of its workspaces, removes every container of this
    home's installation, and deletes the folder.
    """

    def __init__(self, tag: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"nexus-bench-{tag}-"))
        self.nexus_home = self.root / ".nexus"
        self.project = self.root / "project"
        self.project.mkdir()
        self.env = {**os.environ, "HOME": str(self.root), "NEXUS_HOME": str(self.nexus_home)}
        for name in ("SSH_AUTH_SOCK", "NEXUS_DEBUG"):
            self.env.pop(name, None)

    @property
    def ssh_config(self) -> Path:
        return self.nexus_home / "ssh" / "config"

    def nexus(self, *args: str) -> list[str]:
        return [NEXUS, *args]

    def run(self, *args: str, timeout: float = 180) -> None:
        run(self.nexus(*args), self.env, self.project, timeout)

    def timed(self, *args: str) -> float:
        return timed(self.nexus(*args), self.env, self.project)

    def info(self, name: str) -> dict[str, Any]:
        text = output(self.nexus("workspace", "info", name, "--json"), self.env)
        return dict(json.loads(text))

    def host_key(self) -> Path:
        """A host key for the bare containers (made once per home)."""
        key = self.root / "bare_host_key"
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)],
                check=True,
                capture_output=True,
            )
        return key

    def installation_id(self) -> str | None:
        try:
            value = (self.nexus_home / "installation-id").read_text().strip()
        except OSError:
            return None
        return value if value.isalnum() else None

    @contextlib.contextmanager
    def as_environment(self) -> Iterator[None]:
        """This home as the process's own HOME/NEXUS_HOME (for in-process calls)."""
        saved = {name: os.environ.get(name) for name in ("HOME", "NEXUS_HOME")}
        os.environ.update(HOME=self.env["HOME"], NEXUS_HOME=self.env["NEXUS_HOME"])
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _close_masters(self) -> None:
        try:
            config = self.ssh_config.read_text()
        except OSError:
            return
        if "ControlPath" not in config or shutil.which("ssh") is None:
            return
        for line in config.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "Host":
                subprocess.run(
                    ["ssh", "-F", str(self.ssh_config), "-O", "exit", words[1]],
                    env=self.env,
                    capture_output=True,
                    timeout=10,
                )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._close_masters()
        installation = self.installation_id()
        if installation:
            remove_containers(f"{INSTALLATION_LABEL}={installation}")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def bench_home(tag: str) -> Iterator[BenchHome]:
    home = BenchHome(tag)
    try:
        yield home
    finally:
        end_live_processes()
        home.close()


def exit_on_signals() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every `finally` removes what it made."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


# ---- the sidecar -------------------------------------------------------------------------------
def write_frame(stream: Any, message: dict[str, Any]) -> None:
    """One JSON-RPC message with its LSP ``Content-Length`` header, flushed."""
    body = json.dumps(message).encode()
    stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stream.flush()


def read_frame(stream: Any) -> dict[str, Any] | None:
    """The next framed message; None when the stream ended."""
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if not length:
        return None
    return dict(json.loads(stream.read(length)))


class SidecarClient:
    """A minimal blocking JSON-RPC client over the stdio of `nexus-sidecar` (as editors start it)."""

    def __init__(self, env: dict[str, str], cwd: str | Path) -> None:
        self.process = start(
            [NEXUS_SIDECAR, "--stdio"],
            env,
            cwd,
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.next_id = 0

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        write_frame(self.process.stdin, message)

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        message = read_frame(self.process.stdout)
        if message is None:
            raise RuntimeError("the sidecar closed its output")
        return message

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

    def initialize(self) -> None:
        self.call("initialize", {"processId": os.getpid(), "capabilities": {}})
        self.notify("initialized", {})

    def close(self) -> None:
        try:
            self.call("shutdown")
            self.notify("exit")
            self.process.wait(15)
        finally:
            with _live_lock:
                _live.discard(self.process)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def seed_workspaces(home: BenchHome, count: int) -> None:
    """Records of stopped Docker workspaces written straight into the home's store."""
    with home.as_environment():
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
                        local_path=str(home.project),
                        labels={"team": "bench"},
                    )
                )
        finally:
            context.close()


def list_in_process(home: BenchHome, rounds: int, refresh: bool) -> list[float]:
    """The same `WorkspaceService.list` the sidecar answers with, called in this process."""
    import asyncio

    with home.as_environment():
        from nexus.service.context import NexusContext
        from nexus.service.workspaces import WorkspaceService

        async def measure() -> list[float]:
            context = NexusContext()
            service = WorkspaceService(context)
            try:
                await service.list(refresh=refresh)  # warm up (imports, engine connection)
                samples = []
                for _ in range(rounds):
                    begin = time.perf_counter()
                    [ws.public_dict() for ws in await service.list(refresh=refresh)]
                    samples.append(time.perf_counter() - begin)
                return samples
            finally:
                context.close()

        return asyncio.run(measure())


def list_over_sidecar(
    client: SidecarClient, rounds: int, refresh: bool, expect: int
) -> list[float]:
    client.call("nexus/workspace/list", {"refresh": refresh})  # warm up
    samples = []
    for _ in range(rounds):
        begin = time.perf_counter()
        result = client.call("nexus/workspace/list", {"refresh": refresh})
        samples.append(time.perf_counter() - begin)
        if len(result["workspaces"]) < expect:
            raise RuntimeError(f"the sidecar listed {len(result['workspaces'])} of {expect}")
    return samples
