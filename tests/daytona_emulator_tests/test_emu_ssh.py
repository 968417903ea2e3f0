"""SSH access tokens and the SSH gateway, driven by the system ssh client and asyncssh."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest
from daytona import Daytona, Sandbox

from tests.daytona_emulator import EmulatorThread

pytestmark = pytest.mark.docker

SSH_OPTS = [
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "BatchMode=yes",
    "-o", "LogLevel=ERROR",
    "-F", "/dev/null",
]  # fmt: skip


def _ssh(ssh_command: str, remote: str) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(ssh_command)
    assert argv[0] == "ssh"
    return subprocess.run(
        ["ssh", *SSH_OPTS, *argv[1:], remote], capture_output=True, text=True, timeout=60
    )


def _split(ssh_command: str) -> tuple[str, int, str]:
    match = re.fullmatch(r"ssh -p (\d+) (\w+)@([\d.]+)", ssh_command)
    assert match, ssh_command
    return match.group(3), int(match.group(1)), match.group(2)


async def _connect(ssh_command: str) -> asyncssh.SSHClientConnection:
    host, port, token = _split(ssh_command)
    return await asyncssh.connect(
        host, port, username=token, known_hosts=None, client_keys=None, agent_path=None,
        config=None, password=None,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_system_ssh_runs_command_with_exit_code(
    shared_sandbox: Sandbox, emulator: EmulatorThread
) -> None:
    access = shared_sandbox.create_ssh_access(expires_in_minutes=10)
    assert access.ssh_command == f"ssh -p {emulator.ssh_port} {access.token}@127.0.0.1"
    assert access.sandbox_id == shared_sandbox.id
    assert len(access.token) == 32
    result = _ssh(access.ssh_command, "echo via-ssh; whoami; echo oops >&2; exit 7")
    assert result.returncode == 7, result.stderr
    assert result.stdout == "via-ssh\ndaytona\n"
    assert "oops" in result.stderr


@pytest.fixture
def gateway_mode(emulator: EmulatorThread) -> Iterator[Callable[[str], None]]:
    def use(mode: str) -> None:
        emulator.emulator.config.ssh_invalid_token = mode

    yield use
    use("close")


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        # the real gateway: any user name logs in, then a bad token gets the connection closed
        # (OpenSSH says so, or, when its own write loses the race with the close, "Broken pipe")
        ("close", "closed by remote host|Broken pipe"),
        ("refuse", "Permission denied"),
    ],
)
def test_expired_revoked_and_replaced_tokens_are_refused(
    shared_sandbox: Sandbox,
    emulator: EmulatorThread,
    gateway_mode: Callable[[str], None],
    mode: str,
    message: str,
) -> None:
    gateway_mode(mode)
    first = shared_sandbox.create_ssh_access(expires_in_minutes=10)
    assert shared_sandbox.validate_ssh_access(first.token).valid
    emulator.expire_ssh_tokens(shared_sandbox.id)
    refused = _ssh(first.ssh_command, "true")
    assert refused.returncode == 255
    assert any(text in refused.stderr for text in message.split("|")), refused.stderr
    assert not shared_sandbox.validate_ssh_access(first.token).valid

    second = shared_sandbox.create_ssh_access(expires_in_minutes=10)
    third = shared_sandbox.create_ssh_access(expires_in_minutes=10)  # revokes older tokens
    assert _ssh(second.ssh_command, "true").returncode == 255
    assert _ssh(third.ssh_command, "true").returncode == 0

    shared_sandbox.revoke_ssh_access(third.token)  # SDK bug: revokes all of the sandbox
    assert _ssh(third.ssh_command, "true").returncode == 255


def test_unknown_token_is_refused_and_stopped_sandbox_unreachable(
    daytona: Daytona, sandbox: Sandbox, emulator: EmulatorThread
) -> None:
    bogus = f"ssh -p {emulator.ssh_port} {'x' * 32}@127.0.0.1"
    assert _ssh(bogus, "true").returncode == 255
    access = sandbox.create_ssh_access(expires_in_minutes=10)
    sandbox.stop(timeout=60)
    assert _ssh(access.ssh_command, "true").returncode == 255


async def test_bad_token_logs_in_then_the_connection_closes(
    shared_sandbox: Sandbox, emulator: EmulatorThread
) -> None:
    """Like apps/ssh-gateway/main.go: NoClientAuth, then the token is validated and the TCP
    connection closed; the client never gets a session."""
    bogus = f"ssh -p {emulator.ssh_port} {'y' * 32}@127.0.0.1"
    logged_in = asyncio.Event()

    class Client(asyncssh.SSHClient):
        def auth_completed(self) -> None:
            logged_in.set()

    host, port, token = _split(bogus)
    conn, _ = await asyncssh.create_connection(
        Client, host, port, username=token, known_hosts=None, client_keys=None,
        agent_path=None, config=None, password=None,
    )  # fmt: skip
    try:
        assert logged_in.is_set()
        with pytest.raises((asyncssh.ChannelOpenError, asyncssh.ConnectionLost)):
            await conn.run("true")
        await asyncio.wait_for(conn.wait_closed(), 30)
    finally:
        conn.close()


async def test_exec_pty_signal_sftp_and_port_forward(
    shared_sandbox: Sandbox, tmp_path: Path
) -> None:
    access = shared_sandbox.create_ssh_access(expires_in_minutes=10)
    async with await _connect(access.ssh_command) as conn:
        result = await conn.run("cat; exit 4", input="piped stdin\n")
        assert result.exit_status == 4
        assert result.stdout == "piped stdin\n"

        with_pty = await conn.run("tty; echo cols=$(tput cols 2>/dev/null || stty size)",
                                  term_type="xterm", term_size=(123, 40))  # fmt: skip
        assert with_pty.exit_status == 0
        assert "/dev/pts/" in str(with_pty.stdout)

        # signal once the command runs: sshd drops a signal that arrives before it forked
        process = await conn.create_process("echo ready; exec sleep 30")
        assert await process.stdout.readline() == "ready\n"
        process.send_signal("KILL")
        killed = await process.wait(check=False)
        assert killed.exit_signal is not None or killed.exit_status != 0

        local = tmp_path / "local.txt"
        local.write_text("over sftp\n")
        remote = f"sftp-{uuid.uuid4().hex[:8]}.txt"
        async with conn.start_sftp_client() as sftp:
            await sftp.put(str(local), remote)
            await sftp.get(remote, str(tmp_path / "back.txt"))
        assert (tmp_path / "back.txt").read_text() == "over sftp\n"
        assert shared_sandbox.fs.download_file(remote) == b"over sftp\n"

        server = await conn.create_process(
            'python3 -c "import socket;s=socket.socket();'
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
            "s.bind(('127.0.0.1', 7777));s.listen();print('ready', flush=True);"
            'c,_=s.accept();c.sendall(c.recv(100).upper());c.close()"'
        )
        assert (await server.stdout.readline()).strip() == "ready"
        reader, writer = await conn.open_connection("localhost", 7777)
        writer.write(b"forwarded")
        writer.write_eof()
        assert await reader.read() == b"FORWARDED"
        writer.close()
        await server.wait()


@pytest.mark.skipif(shutil.which("ssh-agent") is None, reason="no ssh-agent")
async def test_agent_forwarding_passes_through(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if sock.exists():
                break
            await asyncio.sleep(0.05)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="forwarded-key")
        async with asyncssh.connect_agent(str(sock)) as agent_client:
            await agent_client.add_keys([key])
        access = shared_sandbox.create_ssh_access(expires_in_minutes=10)
        host, port, token = _split(access.ssh_command)
        async with asyncssh.connect(
            host, port, username=token, known_hosts=None, client_keys=None, config=None,
            agent_path=str(sock), agent_forwarding=True,
        ) as conn:  # fmt: skip
            listed = await conn.run("ssh-add -L")
        assert listed.exit_status == 0, listed.stderr
        assert "forwarded-key" in str(listed.stdout)
    finally:
        agent.terminate()
        agent.wait(timeout=10)
