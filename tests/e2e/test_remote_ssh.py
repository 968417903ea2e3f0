"""Remote-SSH readiness with real containers and the real OpenSSH client, in a temp HOME."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sshconf

from tests.conftest import NexusEnv, UserAgent
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def user_ssh(
    env: NexusEnv, *args: str, ssh_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH as the user would run it (ssh reads ~/.ssh of the passwd entry, so name the file)."""
    return subprocess.run(
        ["ssh", "-F", str(env.home / ".ssh" / "config"), "-o", "BatchMode=yes", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env.env, **(ssh_env or {})},
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_system_ssh_connects_strictly_and_refuses_a_changed_key(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "pinned"))
    config = (nexus_env.home / ".ssh" / "config").read_text()
    assert config.count("Include") == 1
    assert stat.S_IMODE((nexus_env.home / ".ssh").stat().st_mode) == 0o700
    result = user_ssh(nexus_env, "nexus-pinned", "cat /etc/hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pinned"
    assert "Warning: Permanently added" not in result.stderr

    known_hosts = nexus_env.nexus_home / "ssh" / "known_hosts"
    original = known_hosts.read_text()
    from nexus.access.keys import generate_ed25519

    impostor = generate_ed25519("impostor").public_openssh.split()
    known_hosts.write_text(re.sub(r"ssh-ed25519 \S+", f"{impostor[0]} {impostor[1]}", original))
    # a new connection (the shared one was checked when it was made, and lives on)
    refused = user_ssh(
        nexus_env, "-o", "ControlMaster=no", "-o", "ControlPath=none", "nexus-pinned", "true"
    )
    assert refused.returncode == 255
    assert (
        "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
        or "Host key verification failed" in refused.stderr
    )
    # the asyncssh path refuses too, with a clear code (exec regenerates known_hosts from the store,
    # so tamper with the store's view instead: a different pinned key for this workspace)
    from nexus.store import StateStore

    store = StateStore(nexus_env.nexus_home / "state.db")
    store.update("pinned", host_key=" ".join(impostor[:2]))
    store.close()
    builtin = {"NEXUS_SSH_CLIENT": "builtin"}  # the system ssh reads known_hosts, checked above
    mismatch = nexus_env.run("workspace", "exec", "pinned", "--", "true", extra_env=builtin)
    assert mismatch.returncode == 255
    assert "HOST_KEY_MISMATCH" in mismatch.stderr


def test_deleted_workspaces_leave_no_stanza(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "keep"))
    ok(nexus_env.run("workspace", "create", "drop"))
    shown = ok(nexus_env.run("ssh-config", "show")).stdout
    assert "Host nexus-keep\n" in shown and "Host nexus-drop\n" in shown
    ok(nexus_env.run("workspace", "delete", "drop"))
    shown = ok(nexus_env.run("ssh-config", "show")).stdout
    assert "Host nexus-keep\n" in shown and "nexus-drop" not in shown
    assert "nexus-drop" not in (nexus_env.nexus_home / "ssh" / "known_hosts").read_text()
    assert user_ssh(nexus_env, "-G", "nexus-drop").stdout.count("hostname nexus-drop") == 1


def test_ssh_config_commands_dry_run_and_uninstall(nexus_env: NexusEnv) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    mine = "# my settings\r\nHost work\r\n  HostName work.example"
    (ssh_dir / "config").write_bytes(mine.encode())
    diff = ok(nexus_env.run("ssh-config", "install", "--dry-run")).stdout
    assert diff.startswith("---") and "+Include" in diff
    assert (ssh_dir / "config").read_bytes() == mine.encode()  # dry run wrote nothing
    ok(nexus_env.run("ssh-config", "install"))
    assert b"Include" in (ssh_dir / "config").read_bytes()
    removed = json.loads(ok(nexus_env.run("ssh-config", "uninstall", "--json")).stdout)
    assert removed["removed"] is True
    assert (ssh_dir / "config").read_bytes() == mine.encode()


def test_read_only_user_config_does_not_block_create(nexus_env: NexusEnv) -> None:
    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "config").write_text("Host work\n  HostName work.example\n")
    os.chmod(ssh_dir / "config", 0o444)
    created = nexus_env.run("workspace", "create", "ro")
    assert created.returncode == 0, created.stderr
    assert "ssh -F" in created.stderr and "remote.SSH.configFile" in created.stderr
    assert (ssh_dir / "config").read_text() == "Host work\n  HostName work.example\n"
    nexus_config = nexus_env.nexus_home / "ssh" / "config"
    direct = subprocess.run(
        ["ssh", "-F", str(nexus_config), "-o", "BatchMode=yes", "nexus-ro", "hostname"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert direct.stdout.strip() == "ro", direct.stderr
    info = json.loads(
        ok(
            nexus_env.run("workspace", "open", "ro", "--mode", "remote-ssh", "--print", "--json")
        ).stdout
    )
    assert info["uri"] == "vscode-remote://ssh-remote+nexus-ro/workspace"


def test_open_print_and_a_recording_code(nexus_env: NexusEnv, tmp_path: Path) -> None:
    ok(nexus_env.run("workspace", "create", "ide"))
    printed = ok(
        nexus_env.run("workspace", "open", "ide", "--mode", "remote-ssh", "--print")
    ).stdout.splitlines()
    assert printed[0] == "vscode-remote://ssh-remote+nexus-ide/workspace"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    fake = bin_dir / "code"
    fake.write_text(
        f'#!/bin/sh\npython3 -c \'import json,sys; json.dump(sys.argv[1:], open("{record}", "w"))\' "$@"\n'
    )
    fake.chmod(0o755)
    path_env = {"PATH": f"{bin_dir}:{nexus_env.env['PATH']}"}
    ok(
        nexus_env.run(
            "workspace", "open", "ide", "--mode", "remote-ssh", "--new-window", extra_env=path_env
        )
    )
    for _ in range(50):
        if record.exists() and record.read_text():
            break
        import time

        time.sleep(0.1)
    assert json.loads(record.read_text()) == [
        "--new-window",
        "--folder-uri=vscode-remote://ssh-remote+nexus-ide/workspace",
    ]
    # default mode for docker is the local folder
    ok(nexus_env.run("config", "set", "workspace.ide", "code"))
    local = json.loads(
        ok(
            nexus_env.run("workspace", "open", "ide", "--print", "--json", extra_env=path_env)
        ).stdout
    )
    assert local["mode"] == "local" and local["localPath"] == str(nexus_env.project)
    # a missing IDE is a clear error naming what to install
    missing = nexus_env.run(
        "workspace", "open", "ide", "--ide", "cursor", extra_env={"PATH": "/usr/bin:/bin"}
    )
    assert missing.returncode == 2
    assert "IDE_NOT_FOUND" in missing.stderr and "cursor" in missing.stderr


def test_worktree_commit_in_container_lands_on_the_branch(nexus_env: NexusEnv, repo: Path) -> None:
    created = json.loads(ok(nexus_env.run("workspace", "create", "feat", "--json")).stdout)
    worktree = repo / ".worktree" / "feat"
    assert created["branch"] == "nexus/feat"
    assert created["localPath"] == str(worktree)
    assert worktree.stat().st_uid == 1000 if os.geteuid() == 0 else True
    status = ok(
        nexus_env.run("workspace", "exec", "feat", "--", "git", "status", "--short", "--branch")
    )
    assert status.stdout.startswith("## nexus/feat")
    ok(
        nexus_env.run(
            "workspace",
            "exec",
            "feat",
            "--",
            "sh",
            "-c",
            "echo change > new.txt && git add new.txt && git commit -qm 'made in the workspace'",
        )
    )
    log = git(repo, "log", "--format=%s|%an", "nexus/feat")
    assert log.splitlines()[0] == "made in the workspace|Dev Person"
    assert git(repo, "status", "--porcelain") == ""  # .worktree/ is excluded from the main checkout
    hook = nexus_env.run(
        "workspace",
        "exec",
        "feat",
        "--",
        "sh",
        "-c",
        f"echo evil > {repo}/.git/hooks/post-checkout",
    )
    assert hook.returncode != 0 and not (repo / ".git" / "hooks" / "post-checkout").exists()
    taken = nexus_env.run("workspace", "create", "feat2", "--base", "no-such-ref")
    assert taken.returncode == 2 and "INVALID_ARGUMENT" in taken.stderr
    git(repo, "branch", "nexus/clash")
    clash = nexus_env.run("workspace", "create", "clash")
    assert clash.returncode == 4 and "GIT_BRANCH_EXISTS" in clash.stderr
    assert (
        json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)["workspaces"][0]["name"]
        == "feat"
    )

    ok(nexus_env.run("workspace", "exec", "feat", "--", "sh", "-c", "echo wip > wip.txt"))
    dirty = nexus_env.run("workspace", "delete", "feat")
    assert dirty.returncode == 4 and "GIT_WORKTREE_DIRTY" in dirty.stderr
    assert worktree.exists()
    ok(nexus_env.run("workspace", "exec", "feat", "--", "rm", "wip.txt"))
    deleted = ok(nexus_env.run("workspace", "delete", "feat"))
    assert not worktree.exists()
    assert "kept branch nexus/feat" in deleted.stderr  # it has a commit on no other branch
    assert "nexus/feat" in git(repo, "branch", "--list", "nexus/feat")

    ok(nexus_env.run("workspace", "create", "tmp", "--base", "main"))
    ok(nexus_env.run("workspace", "delete", "tmp"))
    assert (
        git(repo, "branch", "--list", "nexus/tmp") == ""
    )  # nothing on it: removed with the worktree
    ok(nexus_env.run("workspace", "create", "kept"))
    ok(nexus_env.run("workspace", "delete", "kept", "--keep-branch"))
    assert "nexus/kept" in git(repo, "branch", "--list", "nexus/kept")


# What a process in the workspace sees of an agent: the socket variable, then what ssh-add lists.
PROBE = 'echo "sock=${SSH_AUTH_SOCK:-none}"; ssh-add -l; echo "rc=$?"'


def forward_agent_of(env: NexusEnv, alias: str) -> str:
    config = sshconf.read_ssh_config(str(env.nexus_home / "ssh" / "config"))
    return str(config.host(alias)["forwardagent"])


def test_agent_forwarding_with_a_real_agent(nexus_env: NexusEnv, user_agent: UserAgent) -> None:
    agent_env, public_key = user_agent
    created = json.loads(
        ok(nexus_env.run("workspace", "create", "agent", "--forward-agent", "--json")).stdout
    )
    assert created["forwardAgent"] is True
    assert forward_agent_of(nexus_env, "nexus-agent") == "yes"
    info = json.loads(ok(nexus_env.run("workspace", "info", "agent", "--json")).stdout)
    assert info["forwardAgent"] is True
    human = ok(nexus_env.run("workspace", "info", "agent")).stdout
    assert "ssh-agent forwarding: on — processes in the workspace can use your keys" in human

    listed = ok(
        nexus_env.run("workspace", "exec", "agent", "--", "ssh-add", "-l", extra_env=agent_env)
    )
    assert "user@laptop" in listed.stdout
    via_ssh = user_ssh(nexus_env, "nexus-agent", "ssh-add -l", ssh_env=agent_env)
    assert "user@laptop" in via_ssh.stdout, via_ssh.stderr
    via_nexus_ssh = nexus_env.run(
        "workspace", "ssh", "agent", "--", "ssh-add", "-l", extra_env=agent_env
    )
    assert "user@laptop" in via_nexus_ssh.stdout, via_nexus_ssh.stderr
    no_agent = nexus_env.run("workspace", "exec", "agent", "--", "sh", "-c", PROBE)
    assert "rc=2" in no_agent.stdout  # no agent forwarded without SSH_AUTH_SOCK

    # git push over SSH with the forwarded key (PRD 6.1), to a real sshd account that accepts
    # only the user's key: the workspace has no key of its own, so only the agent can sign
    setup = (
        "set -e; sudo useradd --create-home --shell /bin/sh git; sudo usermod -p '*' git; "
        "sudo tee /etc/ssh/nexus/authorized_keys/git >/dev/null; "
        "sudo -u git git init -q --bare /home/git/remote.git; "
        "git init -q /tmp/src; cd /tmp/src; echo pushed > file; git add file; "
        "git -c user.name=Dev -c user.email=dev@example.com commit -qm 'over the agent'"
    )
    ok(
        nexus_env.run(
            "workspace", "exec", "agent", "--", "sh", "-c", setup, input=public_key.read_text()
        )
    )
    push = (
        "cd /tmp/src && GIT_SSH_COMMAND='ssh -o BatchMode=yes -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null' git push -q git@127.0.0.1:remote.git HEAD:main"
    )
    refused = nexus_env.run("workspace", "exec", "agent", "--", "sh", "-c", push)
    assert refused.returncode != 0  # without the agent the workspace cannot authenticate
    assert "Permission denied" in refused.stderr, refused.stderr
    ok(nexus_env.run("workspace", "exec", "agent", "--", "sh", "-c", push, extra_env=agent_env))
    log = ok(
        nexus_env.run(
            "workspace",
            "exec",
            "agent",
            "--",
            "sudo",
            "-u",
            "git",
            "git",
            "-C",
            "/home/git/remote.git",
            "log",
            "--format=%s",
            "main",
        )
    )
    assert log.stdout.strip() == "over the agent"


def test_agent_is_not_forwarded_unless_asked(nexus_env: NexusEnv, user_agent: UserAgent) -> None:
    agent_env, _ = user_agent
    created = json.loads(ok(nexus_env.run("workspace", "create", "plain", "--json")).stdout)
    assert created["forwardAgent"] is False
    assert forward_agent_of(nexus_env, "nexus-plain") == "no"
    listed = json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)
    assert [ws["forwardAgent"] for ws in listed["workspaces"]] == [False]
    assert "ssh-agent forwarding" not in ok(nexus_env.run("workspace", "info", "plain")).stdout

    # the user's agent is running and SSH_AUTH_SOCK is set: still nothing reaches the workspace
    via_exec = ok(
        nexus_env.run("workspace", "exec", "plain", "--", "sh", "-c", PROBE, extra_env=agent_env)
    )
    assert "sock=none" in via_exec.stdout and "rc=2" in via_exec.stdout, via_exec.stdout
    assert "user@laptop" not in via_exec.stdout
    via_ssh = user_ssh(nexus_env, "nexus-plain", PROBE, ssh_env=agent_env)
    assert via_ssh.returncode == 0, via_ssh.stderr
    assert "sock=none" in via_ssh.stdout and "rc=2" in via_ssh.stdout, via_ssh.stdout
    # `nexus workspace ssh` too (it runs the system ssh with the generated config)
    via_nexus_ssh = nexus_env.run(
        "workspace", "ssh", "plain", "--", "sh", "-c", shlex.quote(PROBE), extra_env=agent_env
    )
    assert "sock=none" in via_nexus_ssh.stdout and "rc=2" in via_nexus_ssh.stdout, (
        via_nexus_ssh.stdout + via_nexus_ssh.stderr
    )

    # the config value is the default of create; the flag overrides it either way
    ok(nexus_env.run("config", "set", "ssh.forward_agent", "true"))
    on = json.loads(ok(nexus_env.run("workspace", "create", "by-config", "--json")).stdout)
    assert on["forwardAgent"] is True
    assert forward_agent_of(nexus_env, "nexus-by-config") == "yes"
    assert forward_agent_of(nexus_env, "nexus-plain") == "no"  # earlier choices are kept


def test_ten_processes_leave_a_config_that_matches_the_store(nexus_env: NexusEnv) -> None:
    names = [f"swarm-{i}" for i in range(10)]

    def churn(name: str) -> None:
        ok(nexus_env.run("workspace", "create", name))
        if name[-1] in "02468":
            ok(nexus_env.run("workspace", "delete", name))

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(churn, names))
    live = {
        w["name"]: w
        for w in json.loads(ok(nexus_env.run("workspace", "list", "--json")).stdout)["workspaces"]
    }
    assert sorted(live) == [n for n in names if n[-1] in "13579"]
    generated = (nexus_env.nexus_home / "ssh" / "config").read_text()
    assert sorted(re.findall(r"^Host nexus-(\S+)$", generated, re.M)) == sorted(live)
    parsed = sshconf.read_ssh_config(str(nexus_env.nexus_home / "ssh" / "config"))
    assert sorted(parsed.hosts()) == sorted(f"nexus-{name}" for name in live)
    for name, ws in live.items():
        assert int(parsed.host(f"nexus-{name}")["port"]) == ws["sshPort"]
    user_config = (nexus_env.home / ".ssh" / "config").read_text()
    assert user_config.count("Include") == 1
    for name, ws in live.items():
        resolved = user_ssh(nexus_env, "-G", f"nexus-{name}").stdout
        assert f"port {ws['sshPort']}\n" in resolved
    sample = next(iter(live))
    assert user_ssh(nexus_env, f"nexus-{sample}", "hostname").stdout.strip() == sample


def test_broken_markers_are_reported_not_fatal_and_never_fixed(nexus_env: NexusEnv) -> None:
    from nexus.access.user_ssh_config import BEGIN_MARKER

    ssh_dir = nexus_env.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    broken = f"Host work\n  HostName work.example\n{BEGIN_MARKER}\n"
    (ssh_dir / "config").write_text(broken)
    created = nexus_env.run("workspace", "create", "marks")
    assert created.returncode == 0, created.stderr
    assert "SSH_CONFIG_CONFLICT" not in created.stderr and "markers" in created.stderr
    assert ok(nexus_env.run("workspace", "exec", "marks", "--", "echo", "fine")).stdout == "fine\n"
    refused = nexus_env.run("ssh-config", "install")
    assert refused.returncode == 4 and "SSH_CONFIG_CONFLICT" in refused.stderr
    assert (ssh_dir / "config").read_text() == broken
