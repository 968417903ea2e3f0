"""A workspace cannot make git on the host run anything: every vector tried from inside a real
container, then the host-side git command that would trigger it, asserting nothing ran.

The threat model is in docs/security.md.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NexusEnv
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Host-side git as the developer runs it (safe.directory only because the tests run as root)."""
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "GIT_PAGER": "", "PAGER": ""},
    )


def in_workspace(env: NexusEnv, name: str, script: str) -> subprocess.CompletedProcess[str]:
    return env.run("workspace", "exec", name, "--", "sh", "-c", script)


def marker_dir(env: NexusEnv) -> Path:
    """Where a payload that ran on the host would leave its mark (not mounted in the workspace)."""
    path = env.home / "marks"
    path.mkdir(exist_ok=True)
    path.chmod(0o777)
    return path


def payload(marks: Path, vector: str) -> str:
    return f"touch {marks}/{vector}; false"


def snapshot(common: Path) -> dict[str, bytes]:
    """Every file git reads for configuration or programs, byte for byte."""
    files: dict[str, bytes] = {}
    for rel in ("config", "config.worktree", "commondir", "info", "hooks", "worktrees"):
        path = common / rel
        if path.is_file():
            files[rel] = path.read_bytes()
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.name not in ("index", "HEAD", "ORIG_HEAD", "logs"):
                    if "/logs/" in str(child) or child.name.endswith(".lock"):
                        continue
                    files[str(child.relative_to(common))] = child.read_bytes()
    return files


def test_a_worktree_workspace_cannot_plant_anything_the_host_runs(
    nexus_env: NexusEnv, repo: Path
) -> None:
    marks = marker_dir(nexus_env)
    ok(nexus_env.run("workspace", "create", "iso"))
    common = repo / ".git"
    admin = common / "worktrees" / "iso"
    before = snapshot(common)

    config_vectors = {
        "fsmonitor": ("core.fsmonitor", payload(marks, "fsmonitor")),
        "hookspath": ("core.hooksPath", "/workspace/.hooks"),
        "pager": ("core.pager", payload(marks, "pager")),
        "editor": ("core.editor", payload(marks, "editor")),
        "sshcommand": ("core.sshCommand", payload(marks, "sshcommand")),
        "diffexternal": ("diff.external", payload(marks, "diffexternal")),
        "credential": ("credential.helper", f"!{payload(marks, 'credential')}"),
        "filter": ("filter.evil.clean", payload(marks, "filter")),
        "textconv": ("diff.evil.textconv", payload(marks, "textconv")),
        "alias": ("alias.st", f"!{payload(marks, 'alias')}"),
    }
    for vector, (key, value) in config_vectors.items():
        tried = in_workspace(nexus_env, "iso", f"git config {key} {shlex.quote(value)}")
        assert tried.returncode != 0, f"{vector}: the workspace could set {key}"
        # ... nor through the per-worktree config, nor by writing the files directly
        tried = in_workspace(
            nexus_env,
            "iso",
            f"printf '[core]\\n\\tfsmonitor = {payload(marks, vector)}\\n' >> {admin}/config.worktree",
        )
        assert tried.returncode != 0, f"{vector}: config.worktree is writable"

    hook_body = f"#!/bin/sh\\n{payload(marks, 'hook')}\\n"
    for target in (
        f"{common}/hooks/pre-commit",
        f"{common}/hooks/post-checkout",
        f"{common}/hooks/post-commit",
        f"{common}/info/attributes",
        f"{common}/commondir",
        f"{common}/config.worktree",
        f"{admin}/commondir",
        f"{admin}/gitdir",
        f"{common}/worktrees/other/commondir",
        f"{common}/objects/info/alternates",  # would name host folders for later workspaces
        "/workspace/.git",
    ):
        tried = in_workspace(nexus_env, "iso", f"printf '{hook_body}' > {target}")
        assert tried.returncode != 0, f"the workspace could write {target}"
    for swap in (
        "mv /workspace/.git /workspace/.git-old",
        "rm -f /workspace/.git",
        f"mv {admin}/commondir {admin}/commondir.old",
        f"mv {common}/config {common}/config.old",
        f"mv {admin} {admin}.old",
    ):
        tried = in_workspace(nexus_env, "iso", swap)
        assert tried.returncode != 0, f"the workspace could run: {swap}"

    # Reflogs, which git on the host appends to: a link planted there lands in the workspace's own
    # copy, never the repository's.
    ok(
        in_workspace(
            nexus_env,
            "iso",
            f"ln -sf {marks}/reflog {common}/logs/HEAD && ln -sf {marks}/reflog2 {admin}/logs/HEAD"
            f" && mkdir -p {common}/logs/refs/heads && ln -sf {marks}/reflog3"
            f" {common}/logs/refs/heads/main",
        )
    )
    assert not (common / "logs" / "HEAD").is_symlink()
    assert not (admin / "logs" / "HEAD").is_symlink()
    assert not (common / "logs" / "refs" / "heads" / "main").is_symlink()
    git(repo, "commit", "--allow-empty", "-qm", "appends to the reflogs")
    ok(
        in_workspace(
            nexus_env,
            "iso",
            f"rm {common}/logs/HEAD {admin}/logs/HEAD {common}/logs/refs/heads/main",
        )
    )

    # Everything the developer would run on the host afterwards, in the repository and the worktree.
    worktree = repo / ".worktree" / "iso"
    ok(in_workspace(nexus_env, "iso", "printf '* filter=evil diff=evil\\n' > .gitattributes"))
    ok(in_workspace(nexus_env, "iso", "echo data > data.txt && git add -A && git commit -qm attrs"))
    ok(in_workspace(nexus_env, "iso", "echo more >> data.txt"))
    for args in (
        ("status",),
        ("diff", "nexus/iso~1", "nexus/iso"),
        ("log", "-p", "-1", "nexus/iso"),
        ("commit", "--allow-empty", "-qm", "host commit"),
        ("checkout", "-q", "-b", "host-branch"),
        ("fetch", "--quiet", str(repo), "main"),
        ("worktree", "list"),
    ):
        git(repo, *args, check=False)
    for args in (("status",), ("diff",), ("add", "-A", "--dry-run"), ("commit", "-qam", "host")):
        git(worktree, *args, check=False)
    assert sorted(p.name for p in marks.iterdir()) == []

    # A repository the workspace makes inside its folder (registered as a submodule in the index
    # it may write) has a config it chose: Nexus's own git on the host must never run it, and an
    # editor is not opened on the folder locally while it is there.
    ok(
        in_workspace(
            nexus_env,
            "iso",
            "git init -q sub && cd sub && git config user.email a@b && git config user.name a && "
            f"git config core.fsmonitor {shlex.quote(payload(marks, 'nested-fsmonitor'))} && "
            f"git config filter.evil.clean {shlex.quote(payload(marks, 'nested-filter'))} && "
            "printf '* filter=evil\\n' > .gitattributes && echo x > x && git add -A && "
            "git commit -qm sub && cd .. && git add sub 2>/dev/null && echo x >> data.txt",
        )
    )

    opened = nexus_env.run("workspace", "open", "iso", "--mode", "local", "--print", "--json")
    assert opened.returncode == 4, opened.stdout + opened.stderr
    assert json.loads(opened.stdout)["error"]["code"] == "GIT_UNTRUSTED_REPOSITORY"
    assert str(worktree / "sub") in json.loads(opened.stdout)["error"]["message"]
    # a bare repository deep in a folder tools usually skip is found too
    ok(in_workspace(nexus_env, "iso", "rm -rf sub/.git && git init -q --bare node_modules/x/y/z/r"))
    opened = nexus_env.run("workspace", "open", "iso", "--mode", "local", "--print", "--json")
    assert opened.returncode == 4, opened.stdout + opened.stderr
    message = json.loads(opened.stdout)["error"]["message"]
    assert str(worktree / "node_modules/x/y/z/r") in message
    assert str(worktree / "sub") not in message
    git(repo, "status", check=False)
    refused = nexus_env.run("workspace", "delete", "iso")  # Nexus's own dirty check on the host
    assert refused.returncode == 4 and "GIT_WORKTREE_DIRTY" in refused.stderr, refused.stderr
    ok(nexus_env.run("workspace", "delete", "iso", "--force"))

    assert sorted(p.name for p in marks.iterdir()) == []
    after = snapshot(common)
    assert {k: v for k, v in after.items() if not k.startswith("worktrees/iso")} == {
        k: v for k, v in before.items() if not k.startswith("worktrees/iso")
    }
    assert (
        git(
            repo,
            "config",
            "--local",
            "--get-regexp",
            "fsmonitor|hookspath|pager|external",
            check=False,
        ).stdout
        == ""
    )


def test_git_keeps_working_inside_a_worktree_workspace(nexus_env: NexusEnv, repo: Path) -> None:
    ok(nexus_env.run("workspace", "create", "work"))
    script = " && ".join(
        [
            "git status --short --branch | grep -q '## nexus/work'",
            "echo one > one.txt && git add one.txt && git commit -qm one",
            "git branch side && git branch --list side | grep -q side",
            'echo wip >> one.txt && git stash -q && test -z "$(git status --porcelain)"',
            "echo wip2 >> README.md && git stash -q && git stash list | wc -l | grep -q 2",
            "git stash pop -q && git stash list | wc -l | grep -q 1",
            "git checkout -q README.md",
            # a remote the workspace can reach: a bare clone inside the container, one commit ahead
            "git clone -q --bare /workspace /tmp/upstream.git",
            "git clone -q /tmp/upstream.git /tmp/other && cd /tmp/other && "
            "git -c user.name=o -c user.email=o@e commit -q --allow-empty -m upstream && "
            "git push -q origin HEAD && cd /workspace",
            "git fetch -q /tmp/upstream.git nexus/work:refs/remotes/upstream/work",
            "git log --format=%s -1 refs/remotes/upstream/work | grep -q upstream",
            "git log --format=%s | head -1 | grep -q one",
            "git switch -q side && git switch -q nexus/work",
        ]
    )
    ok(in_workspace(nexus_env, "work", "set -ex; " + script))
    assert (
        git(repo, "log", "--format=%s|%an", "-1", "nexus/work").stdout.strip() == "one|Dev Person"
    )
    assert git(repo, "rev-parse", "--verify", "-q", "side").returncode == 0
    assert git(repo, "rev-parse", "--verify", "-q", "refs/remotes/upstream/work").returncode == 0
    # the stash itself is shared (refs/stash); its older entries live in the workspace's reflog
    assert git(repo, "rev-parse", "--verify", "-q", "refs/stash").returncode == 0

    # Deleting a ref rewrites packed-refs in the read-only common dir: refused, nothing lost.
    refused = in_workspace(nexus_env, "work", "git branch -D side")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert git(repo, "rev-parse", "--verify", "-q", "side").returncode == 0
    assert git(repo, "fsck", "--no-progress").returncode == 0


def test_without_a_worktree_the_repository_is_read_only(nexus_env: NexusEnv, repo: Path) -> None:
    marks = marker_dir(nexus_env)
    nested = repo / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q", "-b", "main")
    # deep, under a folder tools usually skip, and a bare repository: all repositories all the same
    deep = repo / "node_modules" / "a" / "b" / "c" / "d" / "e" / "pkg"
    deep.mkdir(parents=True)
    git(deep, "init", "-q", "-b", "main")
    git(repo, "init", "-q", "--bare", "backup.git")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(repo)], check=True)
    before = snapshot(repo / ".git")
    ok(nexus_env.run("workspace", "create", "plain", "--no-worktree"))
    ok(
        in_workspace(
            nexus_env, "plain", "git log --oneline | grep -q initial && git status --short"
        )
    )
    ok(in_workspace(nexus_env, "plain", "echo edited > notes.txt"))  # the folder itself is writable
    for attempt in (
        f"git config core.fsmonitor {shlex.quote(payload(marks, 'fsmonitor'))}",
        f"printf '#!/bin/sh\\n{payload(marks, 'hook')}\\n' > .git/hooks/pre-commit",
        "echo /tmp > .git/commondir",
        "mv .git .git-old",
        "rm -rf .git",
        f"git -C vendor/lib config core.fsmonitor {shlex.quote(payload(marks, 'nested'))}",
        "mv vendor/lib/.git vendor/lib/.git-old",
        f"git -C {deep.relative_to(repo)} config core.fsmonitor {shlex.quote(payload(marks, 'deep'))}",
        f"git -C backup.git config core.fsmonitor {shlex.quote(payload(marks, 'bare'))}",
        "echo x > backup.git/hooks/post-update",
    ):
        tried = in_workspace(nexus_env, "plain", attempt)
        assert tried.returncode != 0, f"the workspace could run: {attempt}"
    git(repo, "status", check=False)
    git(nested, "status", check=False)
    git(deep, "status", check=False)
    git(repo / "backup.git", "log", check=False)
    assert "core.fsmonitor" not in git(deep, "config", "--list").stdout
    assert "core.fsmonitor" not in git(repo / "backup.git", "config", "--list").stdout
    git(repo, "commit", "--allow-empty", "-qm", "host", check=False)
    assert list(marks.iterdir()) == []
    after = snapshot(repo / ".git")
    assert after == before
    assert (repo / "notes.txt").read_text() == "edited\n"


def test_a_folder_with_a_colon_in_its_path_mounts(nexus_env: NexusEnv) -> None:
    odd = nexus_env.home / "proj:with,odd=chars"
    odd.mkdir()
    (odd / "hello.txt").write_text("colon ok\n")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(odd)], check=True)
    created = json.loads(
        ok(nexus_env.run("workspace", "create", "colon", "--from", str(odd), "--json")).stdout
    )
    assert created["localPath"] == str(odd)
    out = ok(nexus_env.run("workspace", "exec", "colon", "--", "cat", "/workspace/hello.txt"))
    assert out.stdout == "colon ok\n"


def test_nexus_never_follows_a_link_planted_in_the_shared_refs(
    nexus_env: NexusEnv, repo: Path
) -> None:
    """refs/ and objects/ are the workspace's to write: a link there would make git on the host
    write or delete outside the repository when Nexus adds or removes a branch. Nexus refuses."""
    marks = marker_dir(nexus_env)
    (marks / "keep").write_text("precious\n")
    ok(nexus_env.run("workspace", "create", "links"))
    common = repo / ".git"
    ok(in_workspace(nexus_env, "links", f"ln -s {marks} {common}/refs/heads/planted"))
    refused = nexus_env.run("workspace", "create", "next")
    assert refused.returncode == 4 and "GIT_UNTRUSTED_REPOSITORY" in refused.stderr, refused.stderr
    assert str(common / "refs" / "heads" / "planted") in refused.stderr
    deleted = nexus_env.run("workspace", "delete", "links", "--force")
    assert "GIT_UNTRUSTED_REPOSITORY" not in deleted.stdout
    assert "kept worktree" in deleted.stderr and "links or special files" in deleted.stderr
    assert sorted(p.name for p in marks.iterdir()) == ["keep"]
    assert (marks / "keep").read_text() == "precious\n"
    # once the link is gone, Nexus cleans up as usual
    (common / "refs" / "heads" / "planted").unlink()
    ok(nexus_env.run("workspace", "create", "next"))
    ok(nexus_env.run("workspace", "delete", "next"))
