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
deletes it and cancels a second create. Then, with the Daytona emulator behind the sidecar, a
Daytona workspace created from the CLI with a one-minute auto-stop warns, "Keep running" records
activity the API shows; "Nexus: Run Doctor" opens its report; and last, rates and a budget that a
few seconds of one CPU exceed bring the budget warning, whose "Show Usage" opens the month's usage
with that workspace's row. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.daytona_emulator import EmulatorThread

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


@pytest.fixture
def emulator(docker_engine: None) -> Iterator[EmulatorThread]:
    """The Daytona API the run's sidecar and CLI use (its sandboxes are removed when it stops)."""
    emu = EmulatorThread()
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_end_to_end_in_a_real_vscode(installed: None, emulator: EmulatorThread) -> None:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    sidecar = Path(sys.executable).parent / "nexus-sidecar"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")},
        **emulator.client_env(),
        "NEXUS_SIDECAR_COMMAND": str(sidecar),
    }
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
        "auto-stop-warning",
        "auto-stop-kept-running",
        "doctor-report",
        "budget-warning",
        "budget-usage",
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

    auto_stop = report["autoStop"]
    daytona_ws = auto_stop["workspace"]
    # a one-minute auto-stop: "~1 min"
    assert re.match(
        rf'Workspace "{daytona_ws}" stops in ~1 min: no activity for a while\.',
        auto_stop["warning"],
    )
    assert auto_stop["warningButtons"] == ["Keep running"]
    assert auto_stop["keptRunning"].startswith(f'Workspace "{daytona_ws}" keeps running')
    # the API's lastActivityAt moved to the activity "Keep running" recorded after the click
    before, clicked, after = (
        datetime.fromisoformat(auto_stop[key].replace("Z", "+00:00"))
        for key in ("lastActivityBefore", "clickedAt", "lastActivityAfter")
    )
    assert after > before and after >= clicked and auto_stop["state"] == "started"

    doctor = report["doctor"]
    assert doctor["title"] == "# Nexus doctor"
    assert {"DOCTOR_DOCKER_OK", "DOCTOR_DAYTONA_OK", "DOCTOR_SSH_BLOCK_OK"} <= set(doctor["codes"])

    budget = report["budget"]
    assert budget["warning"].startswith("This month's estimated cost is ")
    assert re.search(r"\d+ % of the 1\.00 USD budget", budget["warning"])
    assert budget["warningButtons"] == ["Show Usage"]
    row = budget["usageRow"]
    assert row.startswith(f"| {budget['workspace']} | docker | stopped |"), row
    cost = re.search(r"\| (\d+\.\d\d) USD \|$", row)
    assert cost and float(cost.group(1)) > 0, row  # its seconds of one CPU at the rate
    assert "(exceeded)" in budget["budgetLine"]
    # the run's own workspaces are gone
    remaining = [
        sandbox.name
        for sandbox in emulator.emulator.store.all()
        if sandbox.state not in ("destroying", "destroyed")
    ]
    assert not remaining, remaining
