"""Docker backend benchmark: Nexus against the bare engine and the system ssh client.

1. create → SSH-ready: `nexus workspace create` vs a bare container of the same image
   (create + keys + start, until sshd sends its banner).
2. exec: `nexus workspace exec ws -- true` vs `ssh -F <nexus config> nexus-ws true`.

Prints medians and ratios (Nexus / baseline), both measured in this run. No thresholds.
Run: .venv/bin/python benchmarks/bench_docker.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEXUS = str(Path(sys.executable).parent / "nexus")


def wait_banner(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"no sshd banner on port {port}")


def bare_container(image: str, keys_tar: bytes, port: int) -> float:
    import docker

    client = docker.from_env()
    start = time.perf_counter()
    container = client.containers.create(image, ports={"22/tcp": ("127.0.0.1", port)}, detach=True)
    try:
        container.put_archive("/", keys_tar)
        container.start()
        wait_banner(port)
        return time.perf_counter() - start
    finally:
        container.remove(force=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def report(label: str, nexus: list[float], base: list[float]) -> None:
    n, b = statistics.median(nexus), statistics.median(base)
    print(
        f"{label:<28} nexus {n * 1000:8.1f} ms   baseline {b * 1000:8.1f} ms   ratio {n / b:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from nexus.access.keys import generate_ed25519
    from nexus.backends.docker.backend import _tar_of

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        project = home / "project"
        project.mkdir()
        env = {**os.environ, "HOME": str(home), "NEXUS_HOME": str(home / ".nexus")}
        env.pop("SSH_AUTH_SOCK", None)
        # warm-up: builds the image once, outside the measurement
        subprocess.run(
            [NEXUS, "workspace", "create", "warm"],
            env=env,
            cwd=project,
            check=True,
            capture_output=True,
        )
        image = subprocess.run(
            [NEXUS, "workspace", "info", "warm", "--json"],
            env=env,
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        import json

        tag = json.loads(image)["image"]
        host = generate_ed25519("bench")
        keys_tar = _tar_of(
            [("/etc/ssh/nexus/ssh_host_ed25519_key", host.private_openssh.encode(), 0o600, 0)]
        )

        creates, bares = [], []
        for i in range(args.rounds):
            creates.append(timed([NEXUS, "workspace", "create", f"bench-{i}"], env, str(project)))
            bares.append(bare_container(tag, keys_tar, free_port()))
        report("create -> SSH ready", creates, bares)

        execs, sshs = [], []
        config = str(home / ".nexus" / "ssh" / "config")
        ssh = shutil.which("ssh") or "ssh"
        for _ in range(args.rounds * 4):
            execs.append(
                timed([NEXUS, "workspace", "exec", "warm", "--", "true"], env, str(project))
            )
            sshs.append(timed([ssh, "-F", config, "nexus-warm", "true"], env, str(project)))
        report("exec true", execs, sshs)

        for i in range(args.rounds):
            subprocess.run(
                [NEXUS, "workspace", "delete", f"bench-{i}"],
                env=env,
                cwd=project,
                capture_output=True,
            )
        subprocess.run(
            [NEXUS, "workspace", "delete", "warm"], env=env, cwd=project, capture_output=True
        )


if __name__ == "__main__":
    main()
