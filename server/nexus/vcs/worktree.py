"""A git worktree per workspace: ``<repo>/.worktree/<name>`` on branch ``nexus/<name>``.

git runs as the owner of the repository (when Nexus itself runs as root), so the worktree's files
belong to the same user as the rest of the repository and no repository hook ever runs as root.

The worktree's files are written by the workspace, so git on the host treats them as untrusted:
Nexus never lets git discover a repository there (it names the worktree's git dir itself), never
recurses into submodules the workspace could have planted, and turns off ``core.fsmonitor``
(command-line settings outrank every config file and reach child git processes too).
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..domain.errors import ErrorCode, NexusError

WORKTREE_DIR = ".worktree"
BRANCH_PREFIX = "nexus/"


# Settings on every git command Nexus runs: nothing in a repository's config starts a program
# while Nexus looks at a worktree (hooks of the repository itself are the user's and still run).
SAFE_SETTINGS = ("core.fsmonitor=false", "submodule.recurse=false", "core.pager=cat")
# Variables from the caller's environment that would point git at another repository.
_REDIRECTING_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
)


GIT_TIMEOUT = 300  # a FIFO planted where git reads a ref must not hang Nexus forever


@dataclass(frozen=True)
class Worktree:
    repo_root: Path
    path: Path
    branch: str
    common_dir: Path
    base: str
    admin_dir: Path  # <common_dir>/worktrees/<id>: the worktree's own HEAD, index, ...


def _git_failed(args: list[str], detail: str) -> NexusError:
    return NexusError(
        ErrorCode.GIT_FAILED,
        f"git {' '.join(args)} failed: {detail.strip() or 'no output'}",
        "Check the repository with `git status`, then retry.",
    )


class Git:
    """Runs git in one repository, as the repository's owner when we are root."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        stat = cwd.stat()
        self._as_owner = os.geteuid() == 0 and stat.st_uid != 0
        self._uid, self._gid = stat.st_uid, stat.st_gid

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING_ENV}
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["GIT_OPTIONAL_LOCKS"] = "0"  # reads never write the index behind the workspace
        env["GIT_PAGER"] = "cat"
        if self._as_owner:
            try:
                env["HOME"] = pwd.getpwuid(self._uid).pw_dir
            except KeyError:
                env["HOME"] = str(self.cwd)
        return env

    def common_dir(self) -> Path:
        common = Path(self.run("rev-parse", "--git-common-dir").stdout.strip())
        return (common if common.is_absolute() else self.cwd / common).resolve()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            settings = [arg for setting in SAFE_SETTINGS for arg in ("-c", setting)]
            result = subprocess.run(
                ["git", *settings, *args],
                cwd=self.cwd,
                env=self._env(),
                capture_output=True,
                text=True,
                user=self._uid if self._as_owner else None,
                group=self._gid if self._as_owner else None,
                extra_groups=[] if self._as_owner else None,
                timeout=GIT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise _git_failed(list(args), f"no answer in {GIT_TIMEOUT} s") from None
        except FileNotFoundError:
            raise NexusError(
                ErrorCode.GIT_FAILED,
                "git is not installed",
                "Install git, or create the workspace outside a repository.",
            ) from None
        if check and result.returncode != 0:
            raise _git_failed(list(args), result.stderr or result.stdout)
        return result


def repo_root(path: Path) -> Path | None:
    """The top of the git work tree containing ``path``, or None outside a repository."""
    try:
        result = Git(path).run("rev-parse", "--show-toplevel", check=False)
    except NexusError:
        return None
    if result.returncode != 0:
        return None
    return Path(result.stdout.strip()).resolve()


def branch_name(name: str) -> str:
    return f"{BRANCH_PREFIX}{name}"


def _exclude_worktree_dir(git: Git, root: Path) -> None:
    """Keep ``.worktree/`` out of the main checkout's `git status` (info/exclude, not .gitignore)."""
    info = Path(git.run("rev-parse", "--git-path", "info/exclude").stdout.strip())
    info = info if info.is_absolute() else root / info
    existing = info.read_text() if info.exists() else ""
    entry = f"/{WORKTREE_DIR}/"
    if entry not in existing.splitlines():
        info.parent.mkdir(parents=True, exist_ok=True)
        with open(info, "a") as handle:
            handle.write(("" if existing.endswith("\n") or not existing else "\n") + entry + "\n")
        if git._as_owner:
            os.chown(info, git._uid, git._gid)


def check_shared_stores(common_dir: Path) -> None:
    """Refuse to let git write where a workspace may have planted a link.

    Workspaces write ``refs/`` and ``objects/`` of the repository. A symlink there (or a FIFO)
    would make git on this machine write, delete or hang outside the repository when it updates
    a ref or adds an object, so Nexus checks before it runs such a command.
    """
    planted: list[Path] = []
    for directory, dirs, files in os.walk(common_dir / "refs"):
        for entry in (*dirs, *files):
            path = Path(directory) / entry
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                planted.append(path)
    objects = common_dir / "objects"
    with os.scandir(objects) as entries:
        planted += [Path(e.path) for e in entries if e.is_symlink() or not e.is_dir()]
    pack = objects / "pack"
    if pack.is_dir():
        planted += [p for p in pack.iterdir() if p.is_symlink() or not p.is_file()]
    if planted:
        listed = ", ".join(str(p) for p in sorted(planted)[:10])
        raise NexusError(
            ErrorCode.GIT_UNTRUSTED_REPOSITORY,
            f"the repository's refs or objects hold links or special files git would follow "
            f"({listed}): a workspace made them",
            "Look at them and remove them (they are not git's own), then retry.",
        )


def create_worktree(root: Path, name: str, base: str | None) -> Worktree:
    git = Git(root)
    common_dir = git.common_dir()
    check_shared_stores(common_dir)
    branch = branch_name(name)
    path = root / WORKTREE_DIR / name
    base_ref = base or "HEAD"
    if git.run(
        "rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}", check=False
    ).returncode:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"base '{base_ref}' is not a commit in {root}",
            "Pass --base with a branch, tag or commit (a repository needs at least one commit).",
        )
    if (
        git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode
        == 0
    ):
        raise NexusError(
            ErrorCode.GIT_BRANCH_EXISTS,
            f"branch '{branch}' already exists in {root}",
            f"Delete it (`git branch -D {branch}`) or pick another workspace name.",
        )
    if path.exists():
        raise NexusError(
            ErrorCode.GIT_WORKTREE_EXISTS,
            f"worktree folder {path} already exists",
            f"Remove it (`git worktree remove {path}`) or pick another workspace name.",
        )
    (root / WORKTREE_DIR).mkdir(exist_ok=True)
    if git._as_owner:
        os.chown(root / WORKTREE_DIR, git._uid, git._gid)
    git.run("worktree", "add", "-b", branch, str(path), base_ref)
    _exclude_worktree_dir(git, root)
    admin_dir = admin_dir_of(common_dir, path)
    if admin_dir is None:
        raise _git_failed(["worktree", "add"], f"no admin folder for {path} in {common_dir}")
    return Worktree(root, path, branch, common_dir, base_ref, admin_dir)


def admin_dir_of(common_dir: Path, path: Path) -> Path | None:
    """The ``worktrees/<id>`` folder of the worktree at ``path``, found from the common dir.

    Read from each admin folder's ``gitdir`` file (which the workspace cannot change), never
    from the worktree's own ``.git`` file.
    """
    target = str(path / ".git")
    admin_root = common_dir / "worktrees"
    if not admin_root.is_dir():
        return None
    for admin in sorted(admin_root.iterdir()):
        try:
            if (admin / "gitdir").read_text(errors="replace").strip() == target:
                return admin
        except OSError:
            continue
    return None


def is_dirty(path: Path, common_dir: Path) -> bool:
    """Uncommitted or untracked changes; a git failure raises (never read as "clean").

    The worktree's git dir is named explicitly (found from ``common_dir``): a ``.git`` the
    workspace wrote into the folder is never followed, nor a submodule it registered there.
    """
    if not path.exists():
        return False
    args = ["status", "--porcelain", "--ignore-submodules=all"]
    admin = admin_dir_of(common_dir, path)
    if admin is None:
        raise _git_failed(args, f"{path} is no longer a worktree of {common_dir}")
    return bool(Git(path).run(f"--git-dir={admin}", f"--work-tree={path}", *args).stdout.strip())


def unmerged_commits(root: Path, branch: str) -> int:
    """Commits on ``branch`` that are on no other branch: deleting it would lose them."""
    git = Git(root)
    if git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode:
        return 0
    result = git.run("rev-list", "--count", branch, "--not", f"--exclude={branch}", "--branches")
    return int(result.stdout.strip())


def remove_worktree(root: Path, path: Path, *, force: bool) -> None:
    git = Git(root)
    check_shared_stores(git.common_dir())
    if path.exists():
        args = ["worktree", "remove", str(path)]
        if force:
            args.insert(2, "--force")
        git.run(*args)
    git.run("worktree", "prune", check=False)


def delete_branch(root: Path, branch: str) -> None:
    git = Git(root)
    check_shared_stores(git.common_dir())
    git.run("branch", "-D", branch)


def identity(path: Path) -> dict[str, str]:
    """The user's git identity as seen from ``path`` (user.name / user.email), for the workspace.

    ``path`` is the repository root (the main worktree), not a folder the workspace writes to.
    """
    git = Git(path)
    found = {}
    for key in ("user.name", "user.email"):
        value = git.run("config", "--get", key, check=False).stdout.strip()
        if value:
            found[key] = value
    return found
