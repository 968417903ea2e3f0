"""`nexus workspace export | import | migrate` between the real Docker engine and the Daytona
emulator: history, uncommitted and untracked changes move, ignored files do not, the working
tree hash matches, and a failure leaves the source as it was and no half-made target."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

from tests.conftest import NEXUS_BIN, NexusEnv
from tests.daytona_emulator import EmulatorThread

from .conftest import (
    TREE,
    Project,
    containers_named,
    error_of,
    git,
    ok,
    sandboxes_named,
    sh,
)

CHANGES = (
    "echo committed > committed.txt && git add committed.txt && git commit -qm 'in the workspace'"
    " && echo 'edited in the workspace' >> README.md"
    " && echo untracked > notes.txt"
    " && printf '#!/bin/sh\\necho run\\n' > run.sh && chmod +x run.sh"
    " && ln -s notes.txt link"
    " && echo ignored > build.log"
)


def source_with_changes(project: Project, name: str = "src") -> str:
    """A Docker workspace (a worktree of the project) with a commit, an uncommitted edit, an
    untracked file, a script, a symlink and an ignored file; returns its tree hash."""
    env = project.env
    ok(env.run("workspace", "create", name, "--backend", "docker"))
    sh(env, name, CHANGES)
    return sh(env, name, TREE).strip()


def check_moved(env: NexusEnv, name: str, tree: str, branch: str) -> None:
    """Everything the source had is in workspace ``name``, on ``branch``, with ``tree``."""
    assert sh(env, name, "git symbolic-ref --short HEAD").strip() == branch
    log = sh(env, name, "git log --format=%s").split("\n")
    assert log[:2] == ["in the workspace", "initial"]
    assert sh(env, name, "cat committed.txt notes.txt") == "committed\nuntracked\n"
    assert sh(env, name, "tail -n1 README.md") == "edited in the workspace\n"
    assert sh(env, name, "test -x run.sh && readlink link").strip() == "notes.txt"
    assert sh(env, name, "test -e build.log && echo there || echo absent").strip() == "absent"
    status = sh(env, name, "git status --porcelain").split("\n")
    assert " M README.md" in status and "?? notes.txt" in status
    assert sh(env, name, TREE).strip() == tree


def test_docker_to_daytona_moves_history_changes_and_untracked(project: Project) -> None:
    env = project.env
    tree = source_with_changes(project)
    result = json.loads(
        ok(env.run("workspace", "migrate", "src", "--to-backend", "daytona", "--json")).stdout
    )
    assert result["workspace"]["name"] == "src-daytona"
    assert result["workspace"]["backend"] == "daytona"
    assert (result["branch"], result["tree"], result["verified"]) == ("nexus/src", tree, True)
    assert result["source"] == {"name": "src", "backend": "docker", "stopped": True}
    check_moved(env, "src-daytona", tree, "nexus/src")
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    status = {ws["name"]: ws["status"] for ws in listed}
    assert status == {"src": "stopped", "src-daytona": "running"}
    # the source's worktree on this machine is as it was: nothing was committed or removed there
    worktree = Path(next(ws["localPath"] for ws in listed if ws["name"] == "src"))
    assert (worktree / "build.log").exists() and (worktree / "notes.txt").exists()


def test_keep_source_leaves_it_running(project: Project) -> None:
    env = project.env
    tree = source_with_changes(project)
    ok(
        env.run(
            "workspace",
            "migrate",
            "src",
            "--to-backend",
            "daytona",
            "--name",
            "moved",
            "--keep-source",
        )
    )
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert {ws["name"]: ws["status"] for ws in listed} == {"src": "running", "moved": "running"}
    assert sh(env, "src", TREE).strip() == tree == sh(env, "moved", TREE).strip()


def test_daytona_to_docker(daytona_env: NexusEnv) -> None:
    env = daytona_env
    ok(
        env.run(
            "workspace",
            "create",
            "cloud",
            "--backend",
            "daytona",
            "--from",
            "file:///mnt/repos/app.git",
            "--branch",
            "feature/x",
        )
    )
    sh(env, "cloud", "printf '*.log\\n' > .gitignore && " + CHANGES)
    tree = sh(env, "cloud", TREE).strip()
    target = env.home / "moved-here"
    result = json.loads(
        ok(
            env.run(
                "workspace",
                "migrate",
                "cloud",
                "--to-backend",
                "docker",
                "--name",
                "local",
                "--folder",
                str(target),
                "--json",
            )
        ).stdout
    )
    assert result["workspace"]["localPath"] == str(target)
    assert sh(env, "local", "git symbolic-ref --short HEAD").strip() == "feature/x"
    assert sh(env, "local", "git log --format=%s").split("\n")[:3] == [
        "in the workspace",
        "feature",
        "initial",
    ]
    assert sh(env, "local", TREE).strip() == tree
    # the files are in the new folder on this machine (read here as plain files, never with git)
    assert (target / "notes.txt").read_text() == "untracked\n"
    assert not (target / "build.log").exists()
    assert (target / "run.sh").stat().st_mode & 0o111
    assert result["source"]["stopped"] is True


def test_export_and_import_through_a_file_and_a_pipe(project: Project) -> None:
    env = project.env
    tree = source_with_changes(project)
    export = env.home / "src.nexus"
    exported = json.loads(
        ok(
            env.run(
                "workspace", "export", "src", "--format", "daytona", "-o", str(export), "--json"
            )
        ).stdout
    )
    assert (exported["branch"], exported["tree"], exported["targetBackend"]) == (
        "nexus/src",
        tree,
        "daytona",
    )
    with tarfile.open(export) as tar:
        assert tar.getnames() == ["manifest.json", "repo.bundle", "worktree.tar"]
    # the export's --format chooses the backend
    imported = json.loads(
        ok(env.run("workspace", "import", "copy", "-i", str(export), "--json")).stdout
    )
    assert imported["workspace"]["backend"] == "daytona"
    check_moved(env, "copy", tree, "nexus/src")
    # export to stdout, import from stdin, as a pipe between two processes
    pipe = subprocess.run(
        f"{NEXUS_BIN} workspace export copy | {NEXUS_BIN} workspace import again --backend docker",
        shell=True,
        cwd=env.project,
        env=env.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ok(pipe)
    check_moved(env, "again", tree, "nexus/src")
    # the source stays as it was
    assert sh(env, "src", TREE).strip() == tree


def test_import_of_a_missing_file_is_refused(project: Project) -> None:
    env = project.env
    refused = env.run("workspace", "import", "x", "--json", "-i", str(env.home / "missing.nexus"))
    assert error_of(refused)["code"] == "SOURCE_NOT_FOUND"


def _rewrite_manifest(export: Path, out: Path, change: dict[str, object]) -> None:
    """``export`` with its manifest changed by ``change`` (members kept byte for byte)."""
    with tarfile.open(export) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    manifest.update(change)
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_newer_version_and_a_damaged_file_are_refused(project: Project, emulator: object) -> None:
    env = project.env
    source_with_changes(project)
    export = env.home / "src.nexus"
    ok(env.run("workspace", "export", "src", "-o", str(export)))

    newer = env.home / "newer.nexus"
    _rewrite_manifest(export, newer, {"version": 2, "something_new": True})
    refused = env.run(
        "workspace", "import", "n", "--backend", "daytona", "-i", str(newer), "--json"
    )
    assert error_of(refused)["code"] == "EXPORT_VERSION_UNSUPPORTED"
    assert refused.returncode == 2

    damaged = env.home / "damaged.nexus"
    data = bytearray(export.read_bytes())
    with tarfile.open(export) as tar:
        worktree = tar.getmember("worktree.tar")
    data[worktree.offset_data + 600] ^= 0x01  # one bit of a file's content
    damaged.write_bytes(bytes(data))
    refused = env.run(
        "workspace", "import", "d", "--backend", "daytona", "-i", str(damaged), "--json"
    )
    error = error_of(refused)
    assert error["code"] == "EXPORT_INVALID" and "checksum" in error["message"]

    garbage = env.home / "garbage.nexus"
    garbage.write_bytes(b"not an export at all\n" * 100)
    refused = env.run(
        "workspace", "import", "g", "--backend", "docker", "-i", str(garbage), "--json"
    )
    assert error_of(refused)["code"] == "EXPORT_INVALID"

    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert [ws["name"] for ws in listed] == ["src"]
    assert not any(sandboxes_named(emulator, name) for name in ("n", "d"))
    assert not containers_named(env, "g")
    assert not (env.home / ".nexus" / "workspaces" / "g").exists()


def test_an_import_whose_tree_differs_removes_the_target(
    project: Project, emulator: object
) -> None:
    """An export whose manifest names another tree (checksums intact): the target is made, the
    hash differs, the target is deleted."""
    env = project.env
    source_with_changes(project)
    export = env.home / "src.nexus"
    ok(env.run("workspace", "export", "src", "-o", str(export)))
    wrong = env.home / "wrong.nexus"
    _rewrite_manifest(export, wrong, {"tree": "0" * 40})
    for backend, name in (("daytona", "w1"), ("docker", "w2")):
        failed = env.run(
            "workspace", "import", name, "--backend", backend, "-i", str(wrong), "--json"
        )
        assert error_of(failed)["code"] == "MIGRATION_VERIFY_FAILED"
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert [ws["name"] for ws in listed] == ["src"]
    assert not sandboxes_named(emulator, "w1")
    assert not containers_named(env, "w2")
    assert not (env.home / ".nexus" / "workspaces" / "w2").exists()


def test_a_failed_migration_leaves_the_source_untouched(project: Project, emulator: object) -> None:
    """The source's repository runs a clean filter the target does not have: the files arrive,
    but hash differently, so the target is removed and the source keeps running as it was."""
    env = project.env
    git(project.repo, "config", "filter.upper.clean", "tr a-z A-Z")
    (project.repo / ".gitattributes").write_text("*.txt filter=upper\n")
    git(project.repo, "add", ".gitattributes")
    git(project.repo, "commit", "-qm", "attributes")
    tree = source_with_changes(project)
    before = sh(env, "src", "git status --porcelain; git log --format=%H")

    failed = env.run("workspace", "migrate", "src", "--to-backend", "daytona", "--json")
    assert error_of(failed)["code"] == "MIGRATION_VERIFY_FAILED"
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert {ws["name"]: ws["status"] for ws in listed} == {"src": "running"}
    assert not sandboxes_named(emulator, "src-daytona")
    assert sh(env, "src", "git status --porcelain; git log --format=%H") == before
    assert sh(env, "src", TREE).strip() == tree

    # the target refusing to be made (the API fails): the same
    emulator.faults.server_error(count=1000, status=500, method="POST", path=r"^/api/sandbox$")  # type: ignore[attr-defined]
    try:
        failed = env.run(
            "workspace", "migrate", "src", "--to-backend", "daytona", "--name", "other", "--json"
        )
    finally:
        emulator.faults.clear()  # type: ignore[attr-defined]
    assert failed.returncode != 0
    listed = json.loads(ok(env.run("workspace", "list", "--json")).stdout)["workspaces"]
    assert {ws["name"]: ws["status"] for ws in listed} == {"src": "running"}
    assert not sandboxes_named(emulator, "other")


def test_a_folder_that_is_no_repository_moves_too(daytona_env: NexusEnv) -> None:
    env = daytona_env
    ok(env.run("workspace", "create", "plain", "--backend", "daytona"))
    sh(env, "plain", "mkdir -p deep/er && echo data > deep/er/file.txt && ln -s deep top")
    target = env.home / "plain-here"
    result = json.loads(
        ok(
            env.run(
                "workspace",
                "migrate",
                "plain",
                "--to-backend",
                "docker",
                "--folder",
                str(target),
                "--keep-source",
                "--json",
            )
        ).stdout
    )
    assert (result["branch"], result["head"]) == (None, None)
    assert (target / "deep" / "er" / "file.txt").read_text() == "data\n"
    assert (target / "top").is_symlink() and not (target / ".git").exists()
    assert sh(env, "plain-docker", "cat top/er/file.txt") == "data\n"


def test_a_read_only_repository_moves_too(project: Project) -> None:
    """`--no-worktree`: the repository is read-only in the workspace; the snapshot writes
    nothing into it."""
    env = project.env
    ok(env.run("workspace", "create", "ro", "--backend", "docker", "--no-worktree"))
    sh(env, "ro", "echo new > fresh.txt && echo more >> README.md")
    tree = sh(env, "ro", TREE).strip()
    ok(env.run("workspace", "migrate", "ro", "--to-backend", "daytona", "--keep-source"))
    assert sh(env, "ro-daytona", "git symbolic-ref --short HEAD").strip() == "main"
    assert sh(env, "ro-daytona", "cat fresh.txt") == "new\n"
    assert sh(env, "ro-daytona", TREE).strip() == tree


def test_env_moves_with_the_workspace(daytona_env: NexusEnv, emulator: EmulatorThread) -> None:
    """The variables given with --env at create come along, to either backend."""
    env = daytona_env
    ok(env.run("workspace", "create", "withenv", "--backend", "daytona", "--env", "GREETING=hi"))
    exported = env.home / "withenv.nexus"
    ok(env.run("workspace", "export", "withenv", "-o", str(exported)))
    imported = json.loads(
        ok(
            env.run(
                "workspace",
                "import",
                "again",
                "--backend",
                "daytona",
                "-i",
                str(exported),
                "--json",
            )
        ).stdout
    )
    backend_id = imported["workspace"]["backendId"]
    sandbox = next(s for s in emulator.emulator.store.all() if s.id == backend_id)
    assert sandbox.env.get("GREETING") == "hi"
    ok(
        env.run(
            "workspace",
            "migrate",
            "again",
            "--to-backend",
            "docker",
            "--name",
            "local",
            "--folder",
            str(env.home / "local-here"),
        )
    )
    assert sh(env, "local", "printenv GREETING") == "hi\n"
