"""URI rewriting between the editor's folder and the workspace's, both ways."""

from __future__ import annotations

from nexus.lsp.uris import UriMapper

LOCAL = "/home/dev/project/.worktree/api"
REMOTE = "/workspace"


def mapper() -> UriMapper:
    return UriMapper(LOCAL, REMOTE)


def test_a_document_uri_moves_to_the_workspace_and_back() -> None:
    m = mapper()
    local = f"file://{LOCAL}/src/app.py"
    assert m.to_remote({"textDocument": {"uri": local}}) == {
        "textDocument": {"uri": "file:///workspace/src/app.py"}
    }
    assert m.to_local({"uri": "file:///workspace/src/app.py"}) == {"uri": local}


def test_every_field_and_the_keys_of_workspace_edit_changes() -> None:
    m = mapper()
    result = {
        "changes": {"file:///workspace/a.py": [{"newText": "x"}]},
        "documentChanges": [{"textDocument": {"uri": "file:///workspace/b.py", "version": 2}}],
        "targetUri": "file:///workspace/c.py",
        "items": [{"location": {"uri": "file:///workspace"}}],
    }
    assert m.to_local(result) == {
        "changes": {f"file://{LOCAL}/a.py": [{"newText": "x"}]},
        "documentChanges": [{"textDocument": {"uri": f"file://{LOCAL}/b.py", "version": 2}}],
        "targetUri": f"file://{LOCAL}/c.py",
        "items": [{"location": {"uri": f"file://{LOCAL}"}}],
    }


def test_initialize_roots_and_folders() -> None:
    m = mapper()
    params = {
        "rootUri": f"file://{LOCAL}",
        "rootPath": LOCAL,
        "workspaceFolders": [{"uri": f"file://{LOCAL}", "name": "api"}],
    }
    assert m.to_remote(params) == {
        "rootUri": "file:///workspace",
        "rootPath": "/workspace",
        "workspaceFolders": [{"uri": "file:///workspace", "name": "api"}],
    }


def test_paths_outside_the_root_and_look_alikes_stay() -> None:
    m = mapper()
    untouched = {
        "a": "file:///usr/lib/python3/dist-packages/jedi/__init__.py",
        "b": "file:///workspace-other/x.py",  # shares a prefix, not the folder
        "c": "file:///workspacex",
        "d": "untitled:Untitled-1",
        "text": f"see file://{LOCAL}/a.py",  # document text is never rewritten
        "n": 3,
        "none": None,
    }
    assert m.to_local(untouched) == untouched
    assert m.to_remote({"uri": f"file://{LOCAL}-copy/a.py"}) == {"uri": f"file://{LOCAL}-copy/a.py"}


def test_percent_encoded_folders_keep_the_editor_spelling() -> None:
    m = UriMapper("/home/dev/my project~", REMOTE)
    editor_root = "file:///home/dev/my%20project%7E"  # VS Code encodes ~ too
    assert m.to_remote({"rootUri": editor_root}) == {"rootUri": "file:///workspace"}
    assert m.to_remote(f"{editor_root}/a%20b.py") == "file:///workspace/a%20b.py"
    # answers come back in the editor's own spelling, the rest of the path as the server wrote it
    assert m.to_local("file:///workspace/a%20b.py") == f"{editor_root}/a%20b.py"


def test_default_spelling_before_the_editor_spoke() -> None:
    m = UriMapper("/home/dev/my project", REMOTE)
    assert m.to_local("file:///workspace/x.py") == "file:///home/dev/my%20project/x.py"
    assert m.to_remote("file:///home/dev/my%20project/x.py") == "file:///workspace/x.py"


def test_a_climb_out_of_the_root_is_not_moved_under_the_other() -> None:
    m = mapper()
    climbing = "file:///workspace/../../home/dev/.bashrc"
    assert m.to_local({"uri": climbing}) == {"uri": climbing}
    assert m.to_local("file:///workspace/a/../b.py") == f"file://{LOCAL}/a/../b.py"


def test_edits_outside_the_editor_folder_are_named() -> None:
    m = mapper()
    inside = f"file://{LOCAL}/a.py"
    edit = {
        "changes": {inside: [], "file:///home/dev/.bashrc": []},
        "documentChanges": [
            {"textDocument": {"uri": inside, "version": 1}, "edits": []},
            {"kind": "create", "uri": "file:///etc/cron.d/x"},
            {"kind": "rename", "oldUri": inside, "newUri": f"file://{LOCAL}/../.profile"},
        ],
    }
    assert sorted(m.foreign_edits({"edit": edit})) == sorted(
        [f"file://{LOCAL}/../.profile", "file:///etc/cron.d/x", "file:///home/dev/.bashrc"]
    )
    assert m.foreign_edits([{"edit": {"changes": {inside: []}}}, {"title": "x"}]) == []
