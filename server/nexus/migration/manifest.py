"""``manifest.json``: what an export holds, validated field by field (it comes from a file the
user passes, written from a workspace: nothing in it is trusted)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import ErrorCode, NexusError

FORMAT_NAME = "nexus-workspace-export"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
BUNDLE_NAME = "repo.bundle"
WORKTREE_NAME = "worktree.tar"
MAX_MANIFEST_BYTES = 1 << 20
MAX_ENTRIES = 256  # labels, env variables
MAX_TEXT = 4096  # one label or env value

_HEX = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")  # SHA-1 or SHA-256 object ids
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
_LABEL_KEY = re.compile(r"^[^=\x00-\x1f\x7f]{1,255}$")  # what `--label KEY=VALUE` takes
# a conservative subset of `git check-ref-format --branch`
_BRANCH = re.compile(
    r"^(?!/)(?!.*(?:\.\.|//|@\{|/\.|\.lock(?:/|$)))[A-Za-z0-9._/+-]{1,255}(?<![./])$"
)
_BACKENDS = ("docker", "daytona")


def invalid(message: str) -> NexusError:
    return NexusError(
        ErrorCode.EXPORT_INVALID,
        f"not a valid Nexus workspace export: {message}",
        "Export the workspace again (`nexus workspace export`) and import that file; "
        "see docs/migration.md.",
    )


def valid_branch(name: str) -> bool:
    return bool(_BRANCH.match(name)) and not name.startswith("-")


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass
class Manifest:
    """Version 1 of the format (docs/migration.md has every field)."""

    source_name: str
    source_backend: str
    tree: str  # git tree id of the working copy's non-ignored files
    repo: bool  # the source folder is the top of a git repository
    branch: str | None = None  # None: detached HEAD, or no repository
    head: str | None = None  # None: no commit yet, or no repository
    target_backend: str | None = None  # `export --format`
    resources: dict[str, float | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    nexus_version: str = ""
    created_at: str = ""

    @property
    def has_bundle(self) -> bool:
        return self.repo and self.head is not None

    def expected_members(self) -> list[str]:
        return [BUNDLE_NAME, WORKTREE_NAME] if self.has_bundle else [WORKTREE_NAME]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "nexus_version": self.nexus_version,
            "created_at": self.created_at,
            "target_backend": self.target_backend,
            "source": {
                "name": self.source_name,
                "backend": self.source_backend,
                "repo": self.repo,
                "branch": self.branch,
                "head": self.head,
            },
            "tree": self.tree,
            "resources": self.resources,
            "labels": self.labels,
            "env": self.env,
            "members": [m.to_dict() for m in self.members],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode() + b"\n"


def parse(data: bytes) -> Manifest:
    """The manifest in ``data``; EXPORT_VERSION_UNSUPPORTED for a newer version, EXPORT_INVALID
    for anything else that is not exactly version 1's shape."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise invalid(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise invalid(f"{MANIFEST_NAME} is not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise invalid(f"{MANIFEST_NAME} does not name the format {FORMAT_NAME!r}")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise invalid("the format version is not a positive whole number")
    if version > FORMAT_VERSION:
        raise NexusError(
            ErrorCode.EXPORT_VERSION_UNSUPPORTED,
            f"this export has format version {version}; this Nexus reads version "
            f"{FORMAT_VERSION} and older",
            "Upgrade Nexus on this machine (or export with the Nexus version that imports it).",
        )
    source = _obj(raw, "source")
    repo = _bool(source, "repo")
    branch = _opt_str(source, "branch")
    head = _opt_str(source, "head")
    if branch is not None and not valid_branch(branch):
        raise invalid(f"the branch name {branch!r} is not one Nexus accepts")
    if head is not None and not _HEX.match(head):
        raise invalid("the head commit is not a git object id")
    if not repo and (branch is not None or head is not None):
        raise invalid("a branch or commit without a repository")
    tree = _str(raw, "tree")
    if not _HEX.match(tree):
        raise invalid("the tree hash is not a git object id")
    manifest = Manifest(
        source_name=_str(source, "name", limit=63),
        source_backend=_choice(source, "backend"),
        tree=tree,
        repo=repo,
        branch=branch,
        head=head,
        target_backend=_choice(raw, "target_backend", optional=True),
        resources=_resources(_obj(raw, "resources")),
        labels=_mapping(raw, "labels", _LABEL_KEY),
        env=_mapping(raw, "env", _ENV_KEY),
        members=_members(raw),
        nexus_version=_str(raw, "nexus_version", limit=64),
        created_at=_str(raw, "created_at", limit=64),
    )
    names = [m.name for m in manifest.members]
    if names != manifest.expected_members():
        raise invalid(f"the members are {names}, expected {manifest.expected_members()}")
    return manifest


def _obj(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise invalid(f"{key!r} is missing or not an object")
    return value


def _str(raw: dict[str, Any], key: str, *, limit: int = MAX_TEXT) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(f"{key!r} is missing or not a short text")
    return value


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    if raw.get(key) is None:
        return None
    return _str(raw, key)


def _bool(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise invalid(f"{key!r} is missing or not true/false")
    return value


def _choice(raw: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = raw.get(key)
    if value is None and optional:
        return None
    if value not in _BACKENDS:
        raise invalid(f"{key!r} is not one of {', '.join(_BACKENDS)}")
    return value


def _resources(raw: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in ("cpu", "memory_gb", "disk_gb"):
        value = raw.get(key)
        if value is None:
            out[key] = None
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise invalid(f"resources.{key} is not a positive number")
        out[key] = float(value)
    if set(raw) - set(out):
        raise invalid(f"unknown resources: {sorted(set(raw) - set(out))}")
    return out


def _mapping(raw: dict[str, Any], key: str, pattern: re.Pattern[str]) -> dict[str, str]:
    value = _obj(raw, key)
    if len(value) > MAX_ENTRIES:
        raise invalid(f"more than {MAX_ENTRIES} {key}")
    for name, text in value.items():
        if not pattern.match(name) or not isinstance(text, str) or len(text) > MAX_TEXT:
            raise invalid(f"{key} entry {name[:64]!r} is not valid")
    return dict(value)


def _members(raw: dict[str, Any]) -> list[Member]:
    value = raw.get("members")
    if not isinstance(value, list) or len(value) > 2:
        raise invalid("'members' is missing or not a list of at most two entries")
    members = []
    for entry in value:
        if not isinstance(entry, dict):
            raise invalid("a member is not an object")
        size = entry.get("size")
        digest = _str(entry, "sha256", limit=64)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise invalid("a member's size is not a whole number")
        if not _SHA256.match(digest):
            raise invalid("a member's sha256 is not a hex digest")
        members.append(Member(_str(entry, "name", limit=64), size, digest))
    return members
