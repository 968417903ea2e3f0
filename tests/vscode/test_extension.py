"""The VS Code extension: lint, strict compile, unit tests, and end to end in a real VS Code.

The end-to-end run uses code-server (a real VS Code) driven by Playwright in Debian's Chromium,
with the built .vsix installed, the real sidecar and a real Docker engine: it runs
"Nexus: Create Workspace" from the palette, sees the workspace in the tree, clicks the status bar
item, right-clicks the running (and later the stopped) workspace, opens a terminal into it and
runs a command there, follows a stop made from a terminal, opens it (the vscode.openFolder URI is
recorded, Remote-SSH cannot run there), runs a command, opens a preview of a web server started
in it ("Nexus: Open Preview…"; the URL handed to openExternal is recorded and fetched) and closes
it, syncs a folder with it (pause, flush, resume, one conflict warning that a sidecar restart
does not repeat), breaks and fixes `nexus.sidecar.command` (one message, the welcome view),
deletes it and cancels a second create. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "vscode-extension"
ARTIFACTS = REPO / "test-artifacts" / "vscode-e2e"

pytestmark = pytest.mark.vscode


def npm(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["npm", *args], cwd=EXTENSION, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"npm {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def installed() -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed (scripts/setup.sh installs Node.js)", pytrace=False)
    npm("ci", "--no-audit", "--no-fund")


def test_lint_compile_and_unit_tests(installed: None) -> None:
    npm("run", "lint")
    npm("run", "compile")
    assert (EXTENSION / "dist" / "extension.js").stat().st_size > 0
    result = npm("test")
    assert re.search(r"^\s+\d+ passing", result.stdout, re.M)
    assert not re.search(r"^\s+\d+ failing", result.stdout, re.M)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_end_to_end_in_a_real_vscode(installed: None) -> None:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    sidecar = Path(sys.executable).parent / "nexus-sidecar"
    env = {**os.environ, "NEXUS_SIDECAR_COMMAND": str(sidecar)}
    env.pop("NEXUS_HOME", None)  # run.sh gives the run its own HOME and NEXUS_HOME
    result = subprocess.run(
        ["bash", str(EXTENSION / "e2e" / "run.sh"), str(ARTIFACTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report_file = ARTIFACTS / "result.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    assert result.returncode == 0 and report.get("ok"), (
        f"e2e failed (artifacts in {ARTIFACTS}):\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}\n{report}"
    )
    steps = [step["step"] for step in report["steps"]]
    assert any("Create Workspace" in step for step in steps)
    assert any("tree" in step and "running" in step for step in steps)
    recorded = json.loads((ARTIFACTS / "open-record.json").read_text())
    uri = recorded["uri"] if isinstance(recorded, dict) else recorded
    assert str(uri).startswith(f"vscode-remote://ssh-remote+nexus-{report['workspace']}/")
    assert sorted(ARTIFACTS.glob("*.png")), "no screenshots were saved"
    assert any("Open Preview" in step for step in steps)
    external = json.loads((ARTIFACTS / "external-record.json").read_text())
    assert external["command"] == "openExternal"
    assert report["preview"]["url"] == external["url"]
    assert f"nexus-preview-e2e-{report['workspace']}" in report["preview"]["body"]
    ws = report["workspace"]
    shots = {p.stem.split("-", 1)[1] for p in ARTIFACTS.glob("*.png")}
    for shot in (
        "status-bar-actions",
        "menu-running",
        "menu-stopped",
        "terminal-command",
        "sync-watching",
        "sync-paused",
        "sync-conflict-warning",
        "sidecar-broken-welcome",
        "sidecar-fixed",
        "preview-opened",
    ):
        assert shot in shots, f"no screenshot {shot} in {ARTIFACTS}"
    assert report["statusBar"]["text"].endswith("Nexus")
    assert f"Nexus: {ws}" in report["terminal"]["tabs"]
    assert any(line.startswith(f"nexus-term-42 in {ws}") for line in report["terminal"]["output"])
    running, stopped = report["menus"]["running"], report["menus"]["stopped"]
    assert "Stop Workspace" in running and "Start Workspace" not in running
    assert "Start Workspace" in stopped
    assert not {"Stop Workspace", "Open in New Window", "Open Terminal"} & set(stopped)
    assert report["sync"] == {"conflictWarnings": 1, "warningsAfterRestart": 1}
    assert "nexus.sidecar.command" in report["brokenSidecar"]["message"]
