"""The shell scripts git and tar run in, inside a workspace (never on this machine).

Each runs in the workspace's folder as ``sh -c SCRIPT nexus-migrate ARGS...``. The tree hash is
git's tree id of every non-ignored file of the working copy (content, executable bit, symlinks),
computed with a temporary index and a temporary object folder, so the workspace's own index and
objects are left as they were (and a read-only repository works too). A folder that is not the
top of a repository is hashed the same way with a temporary repository of its own.
"""

from __future__ import annotations

import re

EXIT_NO_GIT = 90
EXIT_NO_TAR = 91
EXIT_NOT_EMPTY = 92
EXIT_WRONG_HEAD = 93

_PREAMBLE = f"""set -eu
command -v git >/dev/null 2>&1 || {{ echo "there is no git in the workspace" >&2; exit {EXIT_NO_GIT}; }}
command -v tar >/dev/null 2>&1 || {{ echo "there is no tar in the workspace" >&2; exit {EXIT_NO_TAR}; }}
"""

# sets $repo (true/false) and $tree; leaves $d/index naming exactly the hashed files
_TREE = """nexus_tree() {
  d=$1
  top=$(git rev-parse --show-toplevel 2>/dev/null || true)
  if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ]; then
    objects=$(cd "$(git rev-parse --git-path objects)" && pwd -P)
    mkdir -p "$d/objects"
    GIT_OBJECT_DIRECTORY="$d/objects"
    GIT_ALTERNATE_OBJECT_DIRECTORIES="$objects"
    export GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    repo=true
  else
    git init -q --bare "$d/git"
    GIT_DIR="$d/git"
    GIT_WORK_TREE=$(pwd -P)
    export GIT_DIR GIT_WORK_TREE
    repo=false
  fi
  GIT_INDEX_FILE="$d/index"
  export GIT_INDEX_FILE
  git add -A . >/dev/null
  tree=$(git write-tree)
}
"""

# export: snapshot the working copy and the branch into a temporary folder; print what was made
EXPORT = (
    _PREAMBLE
    + _TREE
    + """d=$(mktemp -d "${TMPDIR:-/tmp}/nexus-export.XXXXXXXX")
printf 'dir=%s\\n' "$d"
nexus_tree "$d"
git ls-files -z | tar --null --no-recursion -T - -cf "$d/worktree.tar"
branch=
head=
if $repo; then
  ref=$(git symbolic-ref -q HEAD || true)
  case "$ref" in refs/heads/*) branch=${ref#refs/heads/} ;; esac
  head=$(git rev-parse -q --verify 'HEAD^{commit}' || true)
  if [ -n "$head" ]; then
    if [ -n "$branch" ]; then ref="refs/heads/$branch"; else ref=HEAD; fi
    unset GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_INDEX_FILE
    git bundle create "$d/repo.bundle" "$ref" 2>"$d/bundle.log" || { cat "$d/bundle.log" >&2; exit 1; }
  fi
fi
printf 'repo=%s\\nbranch=%s\\nhead=%s\\ntree=%s\\n' "$repo" "$branch" "$head" "$tree"
"""
)

CAT = 'exec cat "$1/$2"'
REMOVE = 'rm -rf "$1"'

# import: the folder must be empty; a temporary folder receives the bundle
PREPARE = (
    _PREAMBLE
    + f"""[ -z "$(ls -A .)" ] || {{ echo "$(pwd) is not empty" >&2; exit {EXIT_NOT_EMPTY}; }}
d=$(mktemp -d "${{TMPDIR:-/tmp}}/nexus-import.XXXXXXXX")
printf 'dir=%s\\n' "$d"
"""
)

RECEIVE = 'exec cat > "$1/$2"'

# args: temp dir, branch ("" for detached), head ("" for no commit)
UNPACK_REPO = f"""set -eu
d=$1 branch=$2 head=$3
if [ ${{#head}} -eq 64 ]; then git init -q --object-format=sha256 .; else git init -q .; fi
if [ -n "$head" ]; then
  if [ -n "$branch" ]; then
    git fetch -q --update-head-ok "$d/repo.bundle" "refs/heads/$branch:refs/heads/$branch"
  else
    git fetch -q "$d/repo.bundle" HEAD
  fi
fi
if [ -n "$branch" ]; then
  git symbolic-ref HEAD "refs/heads/$branch"
else
  git update-ref --no-deref HEAD "$head"
fi
if [ -n "$head" ]; then
  got=$(git rev-parse -q --verify 'HEAD^{{commit}}' || true)
  [ "$got" = "$head" ] || {{ echo "the bundle's branch is at ${{got:-nothing}}, not $head" >&2; exit {EXIT_WRONG_HEAD}; }}
  git read-tree HEAD
fi
rm -f "$d/repo.bundle"
"""

EXTRACT = "exec tar -xf - --no-same-owner"

# args: temp dir; prints tree=<id>
VERIFY = (
    _PREAMBLE
    + _TREE
    + """nexus_tree "$1/hash"
printf 'tree=%s\\n' "$tree"
"""
)

_TEMP = re.compile(r"^/[A-Za-z0-9._/-]*/nexus-(?:export|import)\.[A-Za-z0-9]{8}$")


def temp_dir(value: str) -> bool:
    """A folder name the scripts above print (the workspace could print anything)."""
    return bool(_TEMP.match(value)) and "/../" not in value


def parse_output(data: bytes) -> dict[str, str]:
    """``key=value`` lines a script printed (the last of each key wins)."""
    values: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            values[key] = value
    return values
