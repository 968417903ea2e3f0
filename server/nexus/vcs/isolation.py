"""How a repository's git data is bound into a workspace so that nothing it writes runs on the host.

A workspace runs untrusted code. Git on the host executes what a repository's git data tells it
to: ``core.fsmonitor``, ``core.hooksPath``, ``core.pager``, ``diff.external``, ``filter.*`` and
``credential.helper`` in a config file, scripts in ``hooks/``, and a ``commondir`` or ``.git``
file can point git at another directory whose config it then honours. So the layout is:

* the common git dir is bound **read-only** as a whole (config, hooks, info, other worktrees'
  admin dirs, ``commondir`` and any file name git might read in the future stay out of reach);
* only the stores a commit writes are bound read-write over it: ``objects/`` (but
  ``objects/info``, whose ``alternates`` names folders to read, stays read-only) and ``refs/``;
* reflogs, which git on the host appends to (following symlinks), are the workspace's own: an
  empty folder of its own over ``logs/`` and over its admin dir's ``logs/``;
* the worktree's own admin dir (``worktrees/<name>``: HEAD, index, rebase state) is read-write,
  with its ``commondir``, ``gitdir`` and ``config.worktree`` bound read-only on top;
* the worktree's ``.git`` file is bound read-only, so it cannot be pointed elsewhere.

Bind-mount targets cannot be renamed or removed inside the container, so none of these can be
swapped out from under the read-only binds. The price: git inside the workspace cannot delete a
ref (``git branch -d``, dropping the last stash), because that rewrites ``packed-refs`` in the
read-only common dir; see docs/security.md.

Without a worktree (``--no-worktree``), every repository under the mounted folder (each
``.git``, and any bare repository) is read-only: git can read history there, not change it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .worktree import Worktree

if TYPE_CHECKING:
    from ..domain.models import BindMount

WRITABLE_STORES = ("objects", "refs")
# Reflogs are appended to by git on the host, following symlinks: the workspace keeps its own
# (a folder of its own over the repository's logs/ and its admin folder's logs/), never the host's.
PRIVATE_STORES = ("logs",)
PINNED_ADMIN_FILES = ("commondir", "gitdir", "config.worktree")
# git settings for the workspace user when a repository is bound in: housekeeping that would write
# to the read-only common dir is off (the host's own git does it).
WORKSPACE_GIT_SETTINGS = {"gc.auto": "0", "maintenance.auto": "false"}


def _ensure_owned(path: Path, owner: Path, *, directory: bool) -> None:
    """Create ``path`` (empty) with the owner of ``owner`` when it is missing."""
    if path.exists():
        return
    if directory:
        path.mkdir()
    else:
        path.touch()
    if os.geteuid() == 0:
        stat = owner.stat()
        os.chown(path, stat.st_uid, stat.st_gid)


def _alternates(objects: Path) -> list[Path]:
    """Object directories this repository borrows from (``git clone --reference``), read-only."""
    found: list[Path] = []
    listing = objects / "info" / "alternates"
    if not listing.is_file():
        return found
    for line in listing.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line) if Path(line).is_absolute() else objects / line
        if path.is_dir():
            found.append(path.resolve())
    return found


def worktree_mounts(tree: Worktree, workspace_root: str) -> list[BindMount]:
    """The binds for a worktree workspace (its folder itself is bound at ``workspace_root``)."""
    from ..domain.models import BindMount

    common, admin = tree.common_dir, tree.admin_dir
    for store in (*WRITABLE_STORES, *PRIVATE_STORES):
        _ensure_owned(common / store, common, directory=True)
    _ensure_owned(admin / "logs", admin, directory=True)
    # objects/info/alternates names folders later workspaces would get bound: the user's only
    _ensure_owned(common / "objects" / "info", common, directory=True)
    # Read only when extensions.worktreeConfig is on (the common config decides, and it is
    # read-only); pinned empty so the workspace cannot plant one for the day it is turned on.
    _ensure_owned(admin / "config.worktree", admin, directory=False)
    mounts = [BindMount(source=common, target=str(common), read_only=True)]
    mounts += [
        BindMount(source=common / store, target=str(common / store)) for store in WRITABLE_STORES
    ]
    mounts.append(
        BindMount(
            source=common / "objects" / "info",
            target=str(common / "objects" / "info"),
            read_only=True,
        )
    )
    mounts += [
        BindMount(source=path, target=str(path), read_only=True)
        for path in _alternates(common / "objects")
    ]
    mounts += [BindMount(source=None, target=str(common / store)) for store in PRIVATE_STORES]
    mounts.append(BindMount(source=admin, target=str(admin)))
    mounts.append(BindMount(source=None, target=str(admin / "logs")))
    mounts += [
        BindMount(source=admin / name, target=str(admin / name), read_only=True)
        for name in PINNED_ADMIN_FILES
        if (admin / name).exists()
    ]
    mounts.append(
        BindMount(source=tree.path / ".git", target=f"{workspace_root}/.git", read_only=True)
    )
    return mounts


def _is_bare_repository(names: set[str]) -> bool:
    """git treats a folder holding these as a repository of its own (``safe.bareRepository``)."""
    return {"HEAD", "objects", "refs"} <= names


def git_dirs_under(folder: Path) -> Iterator[Path]:
    """Every git directory in ``folder``: ``.git`` folders and gitlink files, and bare
    repositories (a folder with HEAD, objects/ and refs/), at any depth.

    The whole tree is walked (symlinks not followed, git directories not entered): one
    missed repository would be one whose config the workspace could write.
    """
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        if current != folder and _is_bare_repository({entry.name for entry in entries}):
            yield current
            continue
        for entry in entries:
            if entry.name == ".git":
                yield Path(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))


def folder_mounts(source: Path, workspace_root: str) -> list[BindMount]:
    """The binds for a plain folder: every repository's git data in it is read-only."""
    from ..domain.models import BindMount

    return [
        BindMount(
            source=git_dir,
            target=f"{workspace_root}/{git_dir.relative_to(source).as_posix()}",
            read_only=True,
        )
        for git_dir in sorted(git_dirs_under(source))
    ]


def planted_repositories(folder: Path, known: set[str]) -> list[Path]:
    """Repositories in ``folder`` that were not there when the workspace was made."""
    return sorted(
        path.parent if path.name == ".git" else path
        for path in git_dirs_under(folder)
        if str(path) not in known
    )
