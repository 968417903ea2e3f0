"""The system OpenSSH client: connection sharing, and running a command through it.

Every workspace stanza of the generated ssh config names a control socket, so the first
connection (``nexus workspace exec``, plain ``ssh nexus-<name>``, an editor's Remote-SSH) becomes
a master that later ones reuse for ``ControlPersist`` seconds: a warm exec is one local socket
round trip instead of a TCP handshake, a key exchange and a login.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# sun_path holds 108 bytes with the NUL; ssh first binds "<ControlPath>.<16 random chars>"
_SOCKET_PATH_MAX = 107 - 17
_SOCKET_NAME_LENGTH = 16
CLIENT_ENV = "NEXUS_SSH_CLIENT"  # "builtin": never the system ssh (asyncssh only)
BANNER_TIMEOUT = 3.0


def control_dir(ssh_dir: Path) -> Path:
    return ssh_dir / "cm"


def control_path(ssh_dir: Path, alias: str) -> Path | None:
    """The control socket of ``alias``; None when the path would not fit a unix socket address
    (a very deep ``NEXUS_HOME``), and then connections are simply not shared."""
    name = hashlib.sha256(alias.encode()).hexdigest()[:_SOCKET_NAME_LENGTH]
    path = control_dir(ssh_dir) / name
    return path if len(os.fsencode(path)) <= _SOCKET_PATH_MAX else None


def system_ssh() -> str | None:
    """The OpenSSH client to run, unless ``NEXUS_SSH_CLIENT=builtin`` asks for none."""
    if os.environ.get(CLIENT_ENV, "").strip().lower() == "builtin":
        return None
    return shutil.which("ssh")


def master_alive(path: Path | None) -> bool:
    """A master listens on ``path`` (a leftover socket file of a dead one does not count)."""
    if path is None:
        return False
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            return False
    return True


def banner_answers(host: str, port: int, timeout: float = BANNER_TIMEOUT) -> bool:
    """An SSH server answers on ``host:port`` (it sent its ``SSH-`` banner).

    A published Docker port accepts TCP while the container runs even before sshd listens, so
    only the banner tells that a login can work."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            received = b""
            while b"\n" not in received and len(received) < 512:
                chunk = conn.recv(256)
                if not chunk:
                    return False
                received += chunk
    except OSError:
        return False
    return any(line.startswith(b"SSH-") for line in received.split(b"\n"))


def stanza_port(config_text: str, alias: str) -> int | None:
    """The ``Port`` the generated config gives ``alias`` (None when it has no stanza)."""
    inside = False
    for line in config_text.splitlines():
        words = line.split()
        if not words:
            inside = False
            continue
        if words[0] == "Host":
            inside = words[1:] == [alias]
        elif inside and words[0] == "Port" and len(words) == 2 and words[1].isdigit():
            return int(words[1])
    return None


def command_argv(
    ssh: str,
    config_file: Path,
    alias: str,
    remote: Sequence[str],
    *,
    forward_agent: bool,
    stdin: bool,
    tty: bool = False,
) -> list[str]:
    """``ssh`` run against Nexus's own config only (never ``~/.ssh/config``); the agent is
    forwarded when the workspace allows it and there is one to forward."""
    forward = forward_agent and bool(os.environ.get("SSH_AUTH_SOCK"))
    argv = [ssh, "-F", str(config_file), "-o", f"ForwardAgent={'yes' if forward else 'no'}"]
    if tty:
        argv.append("-t")
    if not stdin:
        argv.append("-n")  # EOF on stdin, as with a terminal: the remote command never waits on it
    return [*argv, "--", alias, *remote]


def close_master(path: Path | None, ssh: str | None = None) -> None:
    """End the master on ``path`` and the sessions it carries (stop, delete), if there is one."""
    if path is None or not os.path.lexists(path):
        return
    ssh = ssh or shutil.which("ssh")
    if not master_alive(path):
        with contextlib.suppress(OSError):  # a dead master's socket file
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        return
    if ssh is None:
        return
    import subprocess

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [ssh, "-F", "none", "-o", f"ControlPath={path}", "-O", "exit", "nexus-master"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )


class Cancelled(Exception):
    """A signal ended the command (``signum``); ssh was stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def run_command(argv: Sequence[str]) -> int:
    """Run ``ssh`` for one command; its exit code (128+N when a signal N ended it).

    stdin and stdout are ssh's own. stderr goes through a pipe this process relays: a shared
    connection keeps the session's stderr open until the remote command ends, even after the
    ssh that asked for it has gone, so whoever waits for this process's stderr to close (a
    timeout that kills it, a pipeline) would wait for the remote command too. SIGINT, SIGTERM
    and SIGHUP stop ssh and raise :class:`Cancelled` at once, without waiting for that.
    """
    import signal

    read_end, write_end = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, write_end, 2), (os.POSIX_SPAWN_CLOSE, read_end)]
    pid = os.posix_spawn(argv[0], list(argv), os.environ, file_actions=actions)
    os.close(write_end)

    def stop(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        raise Cancelled(signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        while chunk := os.read(read_end, 65536):
            _write_all(2, chunk)
        _, status = os.waitpid(pid, 0)
    except Cancelled:
        for signum in handled:  # one signal is enough; a second must not interrupt the cleanup
            signal.signal(signum, signal.SIG_IGN)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        _relay_pending(read_end)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read_end)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` whole; if nobody reads it any more, drop it (ssh must never block on it)."""
    view = memoryview(data)
    with contextlib.suppress(OSError):
        while view:
            view = view[os.write(fd, view) :]


def _relay_pending(fd: int) -> None:
    """What is already in the pipe (ssh's last words), without waiting for more."""
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 65536):
            _write_all(2, chunk)


def exec_ssh(argv: Sequence[str]) -> NoReturn:
    """Replace this process with ``ssh``: the terminal, signals and the exit code are its own."""
    os.execv(argv[0], list(argv))
