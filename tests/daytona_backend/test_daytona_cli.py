"""The Daytona user flow through the CLI, the unmodified SDK and the emulator's SSH gateway."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def outputs(*results: subprocess.CompletedProcess[str]) -> str:
    return "".join(r.stdout + r.stderr for r in results)


def test_user_flow(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    env = daytona_env
    created = ok(
        env.run(
            "workspace",
            "create",
            "api",
            "--backend",
            "daytona",
            "--cpu",
            "2",
            "--memory",
            "4",
            "--disk",
            "20",
            "--auto-stop",
            "30",
            "--region",
            "us",
            "--label",
            "team=core",
            "--json",
        )
    )
    ws = json.loads(created.stdout)
    assert ws["backend"] == "daytona" and ws["status"] == "running"
    assert ws["sshHost"] == "127.0.0.1" and ws["sshPort"] == emulator.ssh_port
    assert ws["remotePath"].endswith("/workspace")
    assert ws["sshUser"] is None  # the gateway user name is the access token: never shown
    tokens = [
        t for t, a in emulator.emulator.store.ssh_access.items() if a.sandbox_id == ws["backendId"]
    ]
    assert tokens

    answer = ok(env.run("workspace", "exec", "api", "--", "python3", "-c", "print(42)"))
    assert answer.stdout == "42\n"
    mixed = env.run("workspace", "exec", "api", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (mixed.returncode, mixed.stdout, mixed.stderr) == (3, "out\n", "err\n")
    where = ok(env.run("workspace", "exec", "api", "--", "pwd"))
    assert where.stdout.strip() == ws["remotePath"]

    # plain OpenSSH through the gateway, with the pinned gateway key and strict checking
    user_config = env.home / ".ssh" / "config"
    via_ssh = subprocess.run(
        [
            "ssh",
            "-F",
            str(user_config),
            "-o",
            "BatchMode=yes",
            "nexus-api",
            "echo",
            "hi-from-gateway",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert via_ssh.stdout.strip() == "hi-from-gateway", via_ssh.stderr

    opened = json.loads(ok(env.run("workspace", "open", "api", "--print", "--json")).stdout)
    assert opened["mode"] == "remote-ssh"
    assert opened["uri"] == f"vscode-remote://ssh-remote+nexus-api{ws['remotePath']}"

    listed = json.loads(
        ok(env.run("workspace", "list", "--backend-filter", "daytona", "--json")).stdout
    )
    assert [w["name"] for w in listed["workspaces"]] == ["api"]
    assert json.loads(
        ok(env.run("workspace", "list", "--backend-filter", "docker", "--json")).stdout
    ) == {"workspaces": []}
    info = json.loads(ok(env.run("workspace", "info", "api", "--json")).stdout)
    assert info["capabilities"]["supportsSnapshots"] and info["capabilities"]["supportsWebPreviews"]
    assert info["resources"] == {"cpu": 2.0, "memoryGb": 4.0, "diskGb": 20.0}
    assert info["labels"] == {"team": "core"}

    assert (
        json.loads(ok(env.run("workspace", "stop", "api", "--json")).stdout)["status"] == "stopped"
    )
    stopped = env.run("workspace", "exec", "api", "--", "true")
    assert stopped.returncode == 255
    assert "DAYTONA_SANDBOX_STOPPED" in stopped.stderr and "workspace start api" in stopped.stderr
    assert (
        json.loads(ok(env.run("workspace", "start", "api", "--json")).stdout)["status"] == "running"
    )
    assert ok(env.run("workspace", "exec", "api", "--", "echo", "back")).stdout == "back\n"

    ok(env.run("workspace", "delete", "api"))
    assert json.loads(ok(env.run("workspace", "list", "--json")).stdout) == {"workspaces": []}
    assert "nexus-api" not in (env.nexus_home / "ssh" / "config").read_text()
    state = emulator.emulator.store.all()
    assert all(s.labels.get("nexus.workspace") != "api" or s.state == "destroyed" for s in state)
    assert emulator.api_key not in outputs(created, answer, mixed, stopped)
    assert not any(token in outputs(created, answer, mixed, stopped) for token in tokens)


def test_clone_from_git_url_and_branch(daytona_env: NexusEnv) -> None:
    ok(
        daytona_env.run(
            "workspace",
            "create",
            "api2",
            "--backend",
            "daytona",
            "--from",
            "file:///mnt/repos/app.git",
            "--branch",
            "feature/x",
        )
    )
    seen = ok(
        daytona_env.run(
            "workspace",
            "exec",
            "api2",
            "--",
            "sh",
            "-c",
            "git branch --show-current; cat feature.txt",
        )
    )
    assert seen.stdout == "feature/x\non feature/x\n"


def test_ephemeral_is_deleted_on_stop(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    ok(daytona_env.run("workspace", "create", "tmp", "--backend", "daytona", "--ephemeral"))
    stopped = ok(daytona_env.run("workspace", "stop", "tmp"))
    assert "deleted on stop" in stopped.stdout
    assert json.loads(ok(daytona_env.run("workspace", "list", "--json")).stdout) == {
        "workspaces": []
    }


def test_expired_token_is_renewed_transparently(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    created = json.loads(
        ok(daytona_env.run("workspace", "create", "tok", "--backend", "daytona", "--json")).stdout
    )
    assert emulator.expire_ssh_tokens(created["backendId"]) >= 1
    assert (
        ok(daytona_env.run("workspace", "exec", "tok", "--", "echo", "still-here")).stdout
        == "still-here\n"
    )
    # the ssh config now carries the new token: plain ssh works again too
    via_ssh = subprocess.run(
        [
            "ssh",
            "-F",
            str(daytona_env.home / ".ssh" / "config"),
            "-o",
            "BatchMode=yes",
            "nexus-tok",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert via_ssh.returncode == 0, via_ssh.stderr


def test_bad_key_is_daytona_auth_failed(daytona_env: NexusEnv) -> None:
    bad = daytona_env.run(
        "workspace",
        "create",
        "nokey",
        "--backend",
        "daytona",
        extra_env={"DAYTONA_API_KEY": "dtn_wrong_key"},
    )
    assert bad.returncode == 5
    assert bad.stderr.startswith("DAYTONA_AUTH_FAILED:")
    assert "DAYTONA_API_KEY" in bad.stderr  # the resolution names what to fix
    assert "dtn_wrong_key" not in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    as_json = json.loads(
        daytona_env.run(
            "workspace",
            "create",
            "nokey",
            "--backend",
            "daytona",
            "--json",
            extra_env={"DAYTONA_API_KEY": "dtn_wrong_key"},
        ).stdout
    )
    assert as_json["error"]["code"] == "DAYTONA_AUTH_FAILED"
    assert json.loads(ok(daytona_env.run("workspace", "list", "--json")).stdout) == {
        "workspaces": []
    }


def test_rate_limit_burst_is_retried(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    emulator.faults.rate_limit(count=2, retry_after=1, method="POST", path=r"^/api/sandbox$")
    try:
        ok(daytona_env.run("workspace", "create", "burst", "--backend", "daytona"))
    finally:
        emulator.faults.clear()
    emulator.faults.rate_limit(count=50, retry_after=0, method="POST", path=r"^/api/sandbox$")
    try:
        limited = daytona_env.run("workspace", "create", "burst2", "--backend", "daytona")
    finally:
        emulator.faults.clear()
    assert limited.returncode == 5 and "DAYTONA_RATE_LIMITED" in limited.stderr


def test_quota_and_region_errors(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    emulator.faults.exceed_quota("cpu")
    try:
        quota = daytona_env.run("workspace", "create", "big", "--backend", "daytona")
    finally:
        emulator.faults.clear()
    assert quota.returncode == 5 and "DAYTONA_QUOTA_EXCEEDED" in quota.stderr
    region = daytona_env.run(
        "workspace", "create", "far", "--backend", "daytona", "--region", "mars"
    )
    assert region.returncode == 5 and "DAYTONA_REGION_UNAVAILABLE" in region.stderr
    assert json.loads(ok(daytona_env.run("workspace", "list", "--json")).stdout) == {
        "workspaces": []
    }


def test_api_key_never_appears_in_output(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    key = emulator.api_key
    debug = {"NEXUS_DEBUG": "1"}
    results = [
        daytona_env.run(
            "workspace", "create", "secret", "--backend", "daytona", "--json", extra_env=debug
        ),
        daytona_env.run("workspace", "info", "secret", "--json", extra_env=debug),
        daytona_env.run("workspace", "list", "--json", extra_env=debug),
        daytona_env.run("config", "list", "--json", extra_env=debug),
        daytona_env.run("config", "list"),
        daytona_env.run("config", "get", "backends.daytona.api_key"),
        daytona_env.run("workspace", "exec", "secret", "--", "true", extra_env=debug),
        daytona_env.run("workspace", "delete", "secret", "--json", extra_env=debug),
    ]
    for result in results:
        ok(result)
    assert key not in outputs(*results)
    for path in daytona_env.nexus_home.rglob("*"):
        if (
            path.is_file()
            and path.suffix != ".db"
            and "wal" not in path.name
            and "shm" not in path.name
        ):
            assert key not in path.read_text(errors="ignore"), path


def test_create_from_a_snapshot(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    snapshot = emulator.emulator.config.default_snapshot
    created = json.loads(
        ok(
            daytona_env.run(
                "workspace",
                "create",
                "snap",
                "--backend",
                "daytona",
                "--from-snapshot",
                snapshot,
                "--json",
            )
        ).stdout
    )
    assert created["image"] == snapshot
    sandbox = next(s for s in emulator.emulator.store.all() if s.id == created["backendId"])
    assert sandbox.snapshot == snapshot
    assert ok(daytona_env.run("workspace", "exec", "snap", "--", "echo", "ok")).stdout == "ok\n"
    missing = daytona_env.run(
        "workspace",
        "create",
        "nosnap",
        "--backend",
        "daytona",
        "--from-snapshot",
        "no-such-snapshot",
    )
    assert missing.returncode == 3, missing.stderr  # SNAPSHOT_NOT_FOUND
    assert "SNAPSHOT_NOT_FOUND" in missing.stderr
    assert "no-such-snapshot" in missing.stderr and "Traceback" not in missing.stderr


def test_daytona_only_options_are_refused_on_docker(nexus_env: NexusEnv) -> None:
    refused = nexus_env.run("workspace", "create", "d", "--region", "us", "--ephemeral")
    assert refused.returncode == 2
    assert "INVALID_ARGUMENT" in refused.stderr and "--region" in refused.stderr
    # a local folder on Daytona is synced: without Mutagen that fails first, before anything
    local = nexus_env.run(
        "workspace", "create", "d", "--backend", "daytona", "--from", str(nexus_env.project),
        extra_env={"NEXUS_MUTAGEN": str(nexus_env.home / "no-mutagen")},
    )  # fmt: skip
    assert local.returncode == 6 and "SYNC_FAILED" in local.stderr, local.stderr
    assert "Traceback" not in local.stderr
    half = nexus_env.run("workspace", "create", "d", "--backend", "daytona", "--cpu", "0.5")
    assert half.returncode == 2 and "whole numbers for cpu" in half.stderr
    assert "(--cpu)" in half.stderr  # the CLI names its flag; the service does not


def test_plain_ssh_renews_an_expiring_token_by_itself(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    """No Nexus command in between: ssh (and so VS Code Remote-SSH) renews the token itself."""
    from datetime import UTC, datetime, timedelta

    from nexus.store import StateStore

    created = json.loads(
        ok(
            daytona_env.run("workspace", "create", "longlived", "--backend", "daytona", "--json")
        ).stdout
    )
    generated = (daytona_env.nexus_home / "ssh" / "config").read_text()
    assert (
        "Match host nexus-longlived exec" in generated
        and "User " not in generated.split("Host nexus-longlived")[1]
    )
    # the token is about to expire (Nexus's record) and the server has expired it already
    store = StateStore(daytona_env.nexus_home / "state.db")
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    store.update_metadata("longlived", lambda m: m["ssh_token"].update(expires_at=soon))
    store.close()
    emulator.expire_ssh_tokens(created["backendId"])
    before = (daytona_env.nexus_home / "ssh" / "tokens" / "longlived.conf").read_text()
    via_ssh = subprocess.run(
        [
            "ssh",
            "-F",
            str(daytona_env.home / ".ssh" / "config"),
            "-o",
            "BatchMode=yes",
            "nexus-longlived",
            "echo",
            "renewed",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=daytona_env.env,
    )
    assert via_ssh.returncode == 0, via_ssh.stderr
    assert via_ssh.stdout == "renewed\n"  # nothing else on stdout
    assert (daytona_env.nexus_home / "ssh" / "tokens" / "longlived.conf").read_text() != before


def test_api_key_from_the_config_file_is_never_shown(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    key = emulator.api_key
    without_env = {"DAYTONA_API_KEY": ""}
    set_key = ok(
        daytona_env.run("config", "set", "backends.daytona.api_key", key, extra_env=without_env)
    )
    debug = {**without_env, "NEXUS_DEBUG": "1"}
    results = [
        set_key,
        daytona_env.run("workspace", "create", "cfgkey", "--backend", "daytona", extra_env=debug),
        daytona_env.run("workspace", "list", "--json", extra_env=debug),
        daytona_env.run("config", "get", "backends.daytona", "--json", extra_env=debug),
        daytona_env.run("workspace", "delete", "cfgkey", extra_env=debug),
    ]
    for result in results:
        ok(result)
    assert key not in outputs(*results)
