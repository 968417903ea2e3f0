"""Toolbox fidelity: exec, files, git and sessions really happen inside the container."""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path

import pytest
from daytona import (
    DaytonaError,
    DaytonaNotFoundError,
    DaytonaProcessExecutionTimeoutError,
    FileUpload,
    Sandbox,
    SessionExecuteRequest,
)

pytestmark = pytest.mark.docker


def test_exec_echo(shared_sandbox: Sandbox) -> None:
    result = shared_sandbox.process.exec("echo hi")
    assert result.exit_code == 0
    assert result.result == "hi\n"


def test_exec_exit_code_and_combined_output(shared_sandbox: Sandbox) -> None:
    result = shared_sandbox.process.exec("echo out; echo err >&2; exit 3")
    assert result.exit_code == 3
    assert result.result == "out\nerr\n"


def test_exec_env_cwd_and_user(shared_sandbox: Sandbox) -> None:
    shared_sandbox.process.exec("mkdir -p ~/work/sub")
    result = shared_sandbox.process.exec(
        'echo "$GREETING $(whoami) $(pwd)"', cwd="work/sub", env={"GREETING": "hello"}
    )
    assert result.result.strip() == "hello daytona /home/daytona/work/sub"
    assert shared_sandbox.get_work_dir() == "/home/daytona"
    assert shared_sandbox.get_user_home_dir() == "/home/daytona"


def test_exec_timeout(shared_sandbox: Sandbox) -> None:
    with pytest.raises(DaytonaProcessExecutionTimeoutError):
        shared_sandbox.process.exec("sleep 10", timeout=1)


def test_upload_download_round_trip(shared_sandbox: Sandbox) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    name = f"up-{uuid.uuid4().hex[:8]}/nested/blob.bin"
    shared_sandbox.fs.upload_file(payload, name)
    assert shared_sandbox.fs.download_file(name) == payload
    # the bytes really are in the container
    size = shared_sandbox.process.exec(f"stat -c %s {name}").result.strip()
    assert int(size) == len(payload)
    owner = shared_sandbox.process.exec(f"stat -c %U {name}").result.strip()
    assert owner == "daytona"


def test_upload_many_and_absolute_paths(shared_sandbox: Sandbox) -> None:
    base = f"/tmp/many-{uuid.uuid4().hex[:8]}"
    shared_sandbox.fs.upload_files(
        [
            FileUpload(source=b"one", destination=f"{base}/1.txt"),
            FileUpload(source=b"two", destination=f"{base}/2.txt"),
        ]
    )
    assert shared_sandbox.process.exec(f"cat {base}/1.txt {base}/2.txt").result == "onetwo"


def test_download_missing_file(shared_sandbox: Sandbox) -> None:
    with pytest.raises(DaytonaNotFoundError):
        shared_sandbox.fs.download_file("does/not/exist.txt")


def test_folder_list_info_delete(shared_sandbox: Sandbox) -> None:
    folder = f"dir-{uuid.uuid4().hex[:8]}"
    shared_sandbox.fs.create_folder(folder, "750")
    shared_sandbox.fs.upload_file(b"12345", f"{folder}/five.txt")
    listing = {f.name: f for f in shared_sandbox.fs.list_files(folder)}
    assert set(listing) == {"five.txt"}
    assert listing["five.txt"].size == 5 and not listing["five.txt"].is_dir
    info = shared_sandbox.fs.get_file_info(folder)
    assert info.is_dir and info.permissions == "0750" and info.owner == "daytona"
    shared_sandbox.fs.delete_file(f"{folder}/five.txt")
    assert shared_sandbox.fs.list_files(folder) == []
    shared_sandbox.fs.delete_file(folder, recursive=True)
    with pytest.raises(DaytonaNotFoundError):
        shared_sandbox.fs.get_file_info(folder)


def test_git_clone_local_bare_repo(shared_sandbox: Sandbox) -> None:
    dest = f"clones/{uuid.uuid4().hex[:8]}"
    shared_sandbox.git.clone("file:///mnt/repos/demo.git", dest)
    readme = shared_sandbox.process.exec(f"cat {dest}/README.md")
    assert readme.result == "hello from the emulator repo\n"
    status = shared_sandbox.git.status(dest)
    assert status.current_branch == "main"
    assert status.file_status == []

    feature = f"{dest}-feature"
    shared_sandbox.git.clone("file:///mnt/repos/demo.git", feature, branch="feature")
    assert shared_sandbox.process.exec(f"cat {feature}/feature.txt").result == "feature branch\n"

    shared_sandbox.process.exec(f"echo change >> {dest}/README.md; touch {dest}/new.txt")
    changed = {f.name: f for f in shared_sandbox.git.status(dest).file_status}
    assert set(changed) == {"README.md", "new.txt"}


def test_git_clone_missing_repo(shared_sandbox: Sandbox) -> None:
    with pytest.raises(DaytonaError):
        shared_sandbox.git.clone("file:///mnt/repos/missing.git", "clones/missing")


def test_sessions_keep_shell_state(shared_sandbox: Sandbox) -> None:
    session = f"s-{uuid.uuid4().hex[:8]}"
    shared_sandbox.process.create_session(session)
    try:
        shared_sandbox.process.execute_session_command(
            session, SessionExecuteRequest(command="cd /tmp && export MARK=kept")
        )
        result = shared_sandbox.process.execute_session_command(
            session, SessionExecuteRequest(command="echo $MARK $(pwd); echo oops >&2; false")
        )
        assert result.exit_code == 1
        assert result.stdout == "kept /tmp\n"
        assert result.stderr == "oops\n"

        started = shared_sandbox.process.execute_session_command(
            session, SessionExecuteRequest(command="sleep 0.5; echo later", run_async=True)
        )
        assert started.cmd_id
        logs = None
        for _ in range(50):
            command = shared_sandbox.process.get_session_command(session, started.cmd_id)
            if command.exit_code is not None:
                logs = shared_sandbox.process.get_session_command_logs(session, started.cmd_id)
                break
            time.sleep(0.1)
        assert logs is not None and logs.stdout == "later\n"
        ids = [c.id for c in shared_sandbox.process.get_session(session).commands]
        assert started.cmd_id in ids
    finally:
        shared_sandbox.process.delete_session(session)


def test_streamed_upload_and_download_with_local_paths(
    shared_sandbox: Sandbox, tmp_path: Path
) -> None:
    payload = os.urandom(512 * 1024)
    local = tmp_path / "src.bin"
    local.write_bytes(payload)
    remote = f"stream-{uuid.uuid4().hex[:8]}.bin"
    shared_sandbox.fs.upload_file_stream(io.BytesIO(payload), remote)  # chunked request body
    assert b"".join(shared_sandbox.fs.download_file_stream(remote)) == payload
    remote2 = f"path-{uuid.uuid4().hex[:8]}.bin"
    shared_sandbox.fs.upload_file(str(local), remote2)
    shared_sandbox.fs.download_file(remote2, str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == payload
