"""The host-side checks of nexus.vcs.isolation and nexus.vcs.worktree, on real git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
from nexus.service.workspaces import WorkspaceService
from nexus.vcs import isolation, worktree


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(
        path,
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@b",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "i",
    )
    return path


def test_every_repository_is_found_at_any_depth(tmp_path: Path) -> None:
    deep = tmp_path / "node_modules" / "a" / "b" / "c" / "d" / "e" / "f"
    deep.mkdir(parents=True)
    git(deep, "init", "-q")
    git(tmp_path, "init", "-q", "--bare", "vendor/backup.git")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".git").write_text("gitdir: ../elsewhere\n")
    (tmp_path / "link").symlink_to(deep)  # not followed: found once, where it is
    found = set(isolation.git_dirs_under(tmp_path))
    assert found == {deep / ".git", tmp_path / "vendor" / "backup.git", tmp_path / "sub" / ".git"}
    known = {str(deep / ".git")}
    assert isolation.planted_repositories(tmp_path, known) == [
        tmp_path / "sub",
        tmp_path / "vendor" / "backup.git",
    ]


def test_links_planted_in_refs_or_objects_stop_nexus_git(repo: Path) -> None:
    worktree.check_shared_stores(repo / ".git")
    outside = repo.parent / "outside"
    outside.mkdir()
    (repo / ".git" / "refs" / "heads" / "nexus").symlink_to(outside)
    with pytest.raises(NexusError) as refused:
        worktree.create_worktree(repo, "ws", None)
    assert refused.value.code == ErrorCode.GIT_UNTRUSTED_REPOSITORY
    assert list(outside.iterdir()) == []
    (repo / ".git" / "refs" / "heads" / "nexus").unlink()
    os.mkfifo(repo / ".git" / "objects" / "ab")
    with pytest.raises(NexusError):
        worktree.check_shared_stores(repo / ".git")


def _local(path: Path, metadata: dict[str, object]) -> Workspace:
    return Workspace(
        name="ws",
        backend=BackendType.DOCKER,
        status=WorkspaceStatus.RUNNING,
        local_path=str(path),
        metadata=metadata,
    )


def test_open_locally_is_checked_without_recorded_git_dirs(repo: Path) -> None:
    """A record rebuilt by `recover` (or made before git_dirs) is still checked: a worktree's own
    .git is known from its record, and a plain folder fails closed."""
    check = WorkspaceService._refuse_planted_repositories
    tree = repo / ".worktree" / "ws"
    tree.mkdir(parents=True)
    (tree / ".git").write_text("gitdir: x\n")
    record = {"worktree": {"path": str(tree), "repo": str(repo), "branch": "nexus/ws"}}
    check(None, _local(tree, record), tree)  # type: ignore[arg-type]
    git(tree, "init", "-q", "planted")
    with pytest.raises(NexusError) as refused:
        check(None, _local(tree, record), tree)  # type: ignore[arg-type]
    assert str(tree / "planted") in refused.value.message
    with pytest.raises(NexusError):  # a plain folder with a repository, nothing recorded
        check(None, _local(repo, {}), repo)  # type: ignore[arg-type]
    check(
        None,
        _local(
            repo,
            {"git_dirs": [str(repo / ".git"), str(tree / ".git"), str(tree / "planted" / ".git")]},
        ),
        repo,
    )  # type: ignore[arg-type]
