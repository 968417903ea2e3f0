"""Rewriting document locations between the editor's folder and the workspace's.

The editor speaks of files under the workspace's local folder (its worktree), the language
server of the same files under the workspace path (``/workspace``). Every string value that is
a ``file://`` URI under one root, in any field and as any object key (``WorkspaceEdit.changes``),
is moved to the other root; ``rootPath`` (a plain path) too. Nothing else is touched: document
text that happens to contain a path stays as it is.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote, unquote

FILE_SCHEME = "file://"
PATH_KEYS = frozenset({"rootPath"})


def _normal(root: str) -> str:
    root = posixpath.normpath(root)
    return root if root != "//" else "/"


def _uri_prefix(root: str) -> str:
    """``file://`` plus the root, percent-encoded the way pathlib and most editors spell it."""
    return FILE_SCHEME + quote(root, safe="/~!$&'()*+,;=:@")


class _Side:
    """One root: its plain path and the spelling of its URI prefix."""

    def __init__(self, root: str) -> None:
        self.root = _normal(root)
        self.prefix = _uri_prefix(self.root)

    def split_uri(self, uri: str) -> tuple[str, str] | None:
        """``uri`` as (its spelling of this root, the encoded rest: "" or "/…"); None if it is
        not under this root."""
        if not uri.startswith(FILE_SCHEME):
            return None
        if uri.startswith(self.prefix):
            rest = uri[len(self.prefix) :]
            if rest == "" or rest[0] in "/?#":
                return self.prefix, rest
        # another spelling of the same root (%7E for ~, lower-case hex, localhost): decode it
        path = uri[len(FILE_SCHEME) :]
        host = "localhost" if path.startswith("localhost/") else ""
        path = path[len(host) :]
        if "%" not in path and not host:
            return None
        for end in range(1, len(path) + 1):
            if (end == len(path) or path[end] in "/?#") and unquote(path[:end]) == self.root:
                return uri[: len(FILE_SCHEME) + len(host) + end], path[end:]
        return None

    def split_path(self, path: str) -> str | None:
        if path == self.root:
            return ""
        if path.startswith(self.root.rstrip("/") + "/"):
            return path[len(self.root.rstrip("/")) :]
        return None


class UriMapper:
    """Moves URIs between the editor's (local) root and the workspace's (remote) root."""

    def __init__(self, local_root: str, remote_root: str) -> None:
        self.local = _Side(local_root)
        self.remote = _Side(remote_root)

    def to_remote(self, value: Any) -> Any:
        """An editor message's value as the language server must see it."""
        return self._walk(value, self.local, self.remote, learn=True)

    def to_local(self, value: Any) -> Any:
        """A server message's value as the editor must see it."""
        return self._walk(value, self.remote, self.local, learn=False)

    def _move(self, text: str, source: _Side, target: _Side, learn: bool) -> str:
        split = source.split_uri(text)
        if split is None or _escapes(split[1]):
            return text  # not under the root (a `..` out of it is not either)
        spelling, rest = split
        if learn:  # the editor spells its root its own way: answer in that spelling
            source.prefix = spelling
        return target.prefix + rest

    def _walk(self, value: Any, source: _Side, target: _Side, learn: bool) -> Any:
        if isinstance(value, str):
            return self._move(value, source, target, learn) if value.startswith("file:") else value
        if isinstance(value, list):
            return [self._walk(item, source, target, learn) for item in value]
        if isinstance(value, dict):
            moved: dict[str, Any] = {}
            for key, item in value.items():
                if key in PATH_KEYS and isinstance(item, str):
                    rest = source.split_path(item)
                    moved[key] = item if rest is None else target.root.rstrip("/") + rest or "/"
                    continue
                new_key = self._move(key, source, target, learn) if key.startswith("file:") else key
                moved[new_key] = self._walk(item, source, target, learn)
            return moved
        return value

    def foreign_edits(self, value: Any) -> list[str]:
        """The targets of every ``WorkspaceEdit`` in ``value`` (a server message already moved
        to the editor's side) that are not files inside the editor's folder: a language server
        in the workspace must not have the editor change files elsewhere on this machine."""
        found: list[str] = []
        self._edit_targets(value, found)
        return [uri for uri in found if not self._inside_local(uri)]

    def _inside_local(self, uri: str) -> bool:
        split = self.local.split_uri(uri)
        return split is not None and not _escapes(split[1])

    def _edit_targets(self, value: Any, found: list[str]) -> None:
        if isinstance(value, list):
            for item in value:
                self._edit_targets(item, found)
            return
        if not isinstance(value, dict):
            return
        changes = value.get("changes")
        if isinstance(changes, dict):
            found.extend(str(uri) for uri in changes)
        document_changes = value.get("documentChanges")
        if isinstance(document_changes, list):
            for change in document_changes:
                if not isinstance(change, dict):
                    continue
                document = change.get("textDocument")
                if isinstance(document, dict):
                    found.append(str(document.get("uri", "")))
                for key in ("uri", "oldUri", "newUri"):  # create, rename, delete
                    if key in change:
                        found.append(str(change[key]))
        for item in value.values():
            self._edit_targets(item, found)


def _escapes(rest: str) -> bool:
    """The encoded rest of a path under a root climbs out of it (``/../..``)."""
    path = unquote(rest.split("?", 1)[0].split("#", 1)[0]).lstrip("/")
    if not path:
        return False
    relative = posixpath.normpath(path)
    return relative == ".." or relative.startswith("../")
