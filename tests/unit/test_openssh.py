"""Connection sharing in the generated ssh config, and the fast exec path's own decisions."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from nexus.access import openssh
from nexus.access.ssh_config import render_config
from nexus.cli.openssh_exec import _plain_exec, _plain_ssh
from nexus.paths import NexusPaths
from nexus.store import StateStore
from nexus.store.peek import AccessRecord, access_record
from tests.factories import running_docker_workspace
from tests.unit.test_forward_agent import v2_store


def rendered(home: Path, persist: int, **fields: object) -> str:
    return render_config(
        [running_docker_workspace("one", 32801, **fields)],
        NexusPaths(home),
        server_alive_interval=30,
        server_alive_count_max=4,
        control_persist=persist,
    )


def test_each_stanza_shares_its_connection(tmp_path: Path) -> None:
    config = rendered(tmp_path, 300)
    path = openssh.control_path(tmp_path / "ssh", "nexus-one")
    assert path is not None and path.parent == tmp_path / "ssh" / "cm"
    assert "  ControlMaster auto\n" in config
    assert f"  ControlPath {path}\n" in config
    assert "  ControlPersist 300\n" in config
    # one socket per alias, never another workspace's
    assert openssh.control_path(tmp_path / "ssh", "nexus-two") != path


@pytest.mark.parametrize(
    ("persist", "fields"), [(0, {}), (300, {"forward_agent": True})], ids=["off", "agent"]
)
def test_no_sharing_when_turned_off_or_forwarding_an_agent(
    tmp_path: Path, persist: int, fields: dict[str, object]
) -> None:
    assert "Control" not in rendered(tmp_path, persist, **fields)


def test_no_sharing_when_the_socket_path_would_not_fit(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    assert openssh.control_path(deep / "ssh", "nexus-one") is None
    assert "Control" not in rendered(deep, 300)


def test_stanza_port_reads_only_that_alias(tmp_path: Path) -> None:
    config = "Host nexus-a\n  Port 1\n\nHost nexus-ab\n  Port 2\n"
    assert openssh.stanza_port(config, "nexus-a") == 1
    assert openssh.stanza_port(config, "nexus-ab") == 2
    assert openssh.stanza_port(config, "nexus-b") is None


def test_plain_forms_of_exec_and_ssh() -> None:
    assert _plain_exec(["ws", "--", "ls", "-l"]) == ("ws", None, ["ls", "-l"])
    assert _plain_exec(["ws", "-w", "/tmp", "--", "pwd"]) == ("ws", "/tmp", ["pwd"])
    assert _plain_exec(["ws", "--workdir=/a b", "--", "pwd"]) == ("ws", "/a b", ["pwd"])
    # anything else is typer's to parse (help, --json, unknown options, a missing command)
    for args in (["ws", "--json", "--", "ls"], ["--help"], ["ws", "--"], ["ws", "ls"], ["-w", "x"]):
        assert _plain_exec(args) is None, args
    assert _plain_ssh(["ws"]) == ("ws", None)
    assert _plain_ssh(["ws", "--", "id"]) == ("ws", ["id"])
    assert _plain_ssh(["--help"]) is None and _plain_ssh(["ws", "id"]) is None


def test_access_record_matches_the_store(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = StateStore(db)
    store.reserve(running_docker_workspace("one", 32801, forward_agent=True))
    record = access_record(db, "one")
    assert record == AccessRecord.of(store.get("one"))
    assert record is not None and record.reachable_directly and record.forward_agent
    store.update("one", metadata={"ssh_token": True})
    gateway = access_record(db, "one")
    assert gateway is not None and gateway.uses_token and not gateway.reachable_directly
    store.close()
    assert access_record(db, "other") is None
    assert access_record(tmp_path / "none.db", "one") is None


def test_access_record_leaves_an_older_store_to_the_full_path(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    v2_store(db)
    assert access_record(db, "old") is None


def test_banner_probe_tells_a_server_from_a_silent_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer(greeting: bytes) -> None:
            conn, _ = server.accept()
            conn.sendall(greeting)
            conn.close()

        for greeting, expected in ((b"SSH-2.0-OpenSSH_9.2\r\n", True), (b"", False)):
            thread = threading.Thread(target=answer, args=(greeting,))
            thread.start()
            assert openssh.banner_answers("127.0.0.1", port, timeout=5) is expected
            thread.join()
    assert openssh.banner_answers("127.0.0.1", port, timeout=5) is False  # nothing listens


def test_run_command_relays_stderr_and_the_exit_code(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.write('to stderr'); print('to stdout'); sys.exit(3)"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from nexus.access.openssh import run_command; "
            f"sys.exit(run_command([sys.executable, '-c', {script!r}]))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (child.returncode, child.stdout, child.stderr) == (3, "to stdout\n", "to stderr")
