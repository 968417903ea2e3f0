"""Delete: the worktree and its branch go when nothing would be lost, work is never dropped
silently, what Nexus did not make is left alone, and a backend that cannot delete keeps the record."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.kinds import WorkspaceStatus
from nexus.service.workspaces import WorkspaceService

from .conftest import (
    RecordingProgress,
    branches,
    git,
    host_key_file,
    options,
    ports_of,
    ssh_config,
)
from .fake_backend import FakeBackend


def tree_of(repo: Path) -> Path:
    return repo / ".worktree" / "web"


def commit_in(tree: Path, name: str) -> None:
    (tree / name).write_text(f"{name}\n")
    git(tree, "add", name)
    git(tree, "commit", "-qm", f"add {name}")


def assert_gone(service: WorkspaceService, docker: FakeBackend) -> None:
    assert service.ctx.store.find("web") is None and ports_of(service, "web") == []
    assert "web" not in docker.resources and docker.called("delete") == ["web"]
    assert not host_key_file(service, "web").exists()
    assert "nexus-web" not in ssh_config(service)


@pytest.fixture
async def created(service: WorkspaceService, docker: FakeBackend, repo: Path) -> Path:
    """Workspace 'web' made from the repository: its worktree."""
    await service.create(options("web", repo))
    assert tree_of(repo).is_dir() and "nexus/web" in branches(repo)
    return tree_of(repo)


async def test_delete_removes_the_worktree_and_its_merged_branch(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    commit_in(created, "feature.txt")
    git(repo, "merge", "-q", "--ff-only", "nexus/web")  # its work is on main now
    progress = RecordingProgress()

    await service.delete("web", progress)

    assert not created.exists() and "nexus/web" not in branches(repo)
    assert (repo / "feature.txt").read_text() == "feature.txt\n"
    assert progress.warnings == []
    assert_gone(service, docker)


async def test_a_branch_with_unmerged_commits_is_kept(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    commit_in(created, "feature.txt")
    progress = RecordingProgress()

    await service.delete("web", progress)

    assert not created.exists()  # clean: the worktree goes, the commit stays on its branch
    assert "nexus/web" in branches(repo)
    assert git(repo, "show", "nexus/web:feature.txt").stdout == "feature.txt\n"
    assert len(progress.warnings) == 1
    assert "kept branch nexus/web: it has 1 commit(s) on no other branch" in progress.warnings[0]
    assert_gone(service, docker)


async def test_force_deletes_a_branch_with_unmerged_commits(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    commit_in(created, "feature.txt")

    await service.delete("web", force=True)

    assert not created.exists() and "nexus/web" not in branches(repo)
    assert_gone(service, docker)


async def test_keep_branch_keeps_even_a_merged_branch(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    await service.delete("web", keep_branch=True)

    assert not created.exists() and "nexus/web" in branches(repo)
    assert_gone(service, docker)


async def test_a_dirty_worktree_refuses_delete_without_force(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    (created / "notes.txt").write_text("not committed\n")

    with pytest.raises(NexusError) as raised:
        await service.delete("web")

    assert raised.value.code == ErrorCode.GIT_WORKTREE_DIRTY
    assert raised.value.options == ("force",) and "--" not in raised.value.resolution
    # nothing was touched: not the backend, not the record, not the work
    assert docker.called("delete") == [] and "web" in docker.resources
    assert service.ctx.store.get("web").status is WorkspaceStatus.RUNNING
    assert (created / "notes.txt").read_text() == "not committed\n"

    await service.delete("web", force=True)

    assert not created.exists() and "nexus/web" not in branches(repo)
    assert_gone(service, docker)


async def test_a_worktree_nexus_did_not_make_is_left_alone(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    # a record pointing at the user's own worktree and branch (as a rebuilt record could)
    theirs = repo.parent / "theirs"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(theirs))
    commit_in(theirs, "mine.txt")
    git(repo, "merge", "-q", "--ff-only", "feature")  # merged: Nexus would delete its own
    service.ctx.store.update_metadata(
        "web",
        lambda data: data["worktree"].update({"path": str(theirs), "branch": "feature"}),
    )
    progress = RecordingProgress()

    await service.delete("web", progress, force=True)

    assert (theirs / "mine.txt").read_text() == "mine.txt\n" and "feature" in branches(repo)
    assert str(theirs) in git(repo, "worktree", "list").stdout
    assert any("not the worktree Nexus makes for 'web'" in w for w in progress.warnings)
    assert_gone(service, docker)


async def test_a_dirty_worktree_nexus_did_not_make_does_not_block_delete(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    """Uncommitted changes in a worktree the record names but Nexus did not make: delete (no
    force) goes on and leaves that worktree, changes and all, instead of asking for a force
    that would not discard anything anyway."""
    theirs = repo.parent / "theirs"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(theirs))
    (theirs / "draft.txt").write_text("work in progress\n")
    service.ctx.store.update_metadata(
        "web",
        lambda data: data["worktree"].update({"path": str(theirs), "branch": "feature"}),
    )
    progress = RecordingProgress()

    await service.delete("web", progress)

    assert (theirs / "draft.txt").read_text() == "work in progress\n"
    assert any("not the worktree Nexus makes for 'web'" in w for w in progress.warnings)
    assert_gone(service, docker)


async def test_a_branch_nexus_did_not_name_is_left_alone(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    git(repo, "branch", "release")
    service.ctx.store.update_metadata("web", lambda data: data["worktree"].update(branch="release"))
    progress = RecordingProgress()

    await service.delete("web", progress, force=True)

    assert "release" in branches(repo)
    assert created.is_dir() and "nexus/web" in branches(repo)  # the record no longer names them
    assert any("kept worktree" in w and "branch release" in w for w in progress.warnings)
    assert_gone(service, docker)


async def test_a_backend_that_cannot_delete_keeps_the_record(
    service: WorkspaceService, docker: FakeBackend, repo: Path, created: Path
) -> None:
    docker.fail("delete", NexusError(ErrorCode.DOCKER_ERROR, "engine refused", "Retry later."))
    backend_id = docker.resources["web"].backend_id

    with pytest.raises(NexusError) as raised:
        await service.delete("web")

    error = raised.value
    assert error.code == ErrorCode.DOCKER_ERROR
    assert f"its container {backend_id} may still exist" in error.message
    assert error.options == ("forget",) and "--" not in error.resolution
    record = service.ctx.store.get("web")  # settled to what the backend says
    assert record.status is WorkspaceStatus.RUNNING and record.owner is None
    assert created.is_dir() and "nexus/web" in branches(repo)
    assert "Host nexus-web\n" in ssh_config(service)

    # forget drops the record and says what is left to remove by hand
    result = await service.delete("web", forget=True)

    assert result.left_behind == [
        {
            "backend": "docker",
            "kind": "container",
            "id": backend_id,
            "name": "fake-web",
            "command": f"fake-engine rm {backend_id}",
            "reason": "DOCKER_ERROR: engine refused",
        }
    ]
    assert service.ctx.store.find("web") is None and "web" in docker.resources
    assert not created.exists() and "nexus/web" not in branches(repo)
    assert "nexus-web" not in ssh_config(service)
