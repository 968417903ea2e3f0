"""The CLI starts fast: it imports only what the command at hand needs.

Modules are counted (which ones a process has loaded), never timed. The budgets leave some
headroom; a change that needs more should first ask whether the command really needs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("docker", "asyncssh", "daytona", "pygls", "lsprotocol", "requests")
# never needed to start the CLI, to print its version or to list workspaces as JSON
NOT_AT_START = (*HEAVY, "pydantic", "pydantic_core", "yaml", "typer", "rich")

# nexus.* plus third-party modules (the interpreter's own start-up modules not counted)
BUDGET_IMPORT_MAIN = 12  # today 7
BUDGET_VERSION = 12  # today 7
BUDGET_LIST_JSON = 48  # today 38: the service, the store, the ssh files; no third party
BUDGET_LIST = 95  # today 79: as above, plus rich for the table
# the quick path (nexus.cli.quick_list): the store file and the engine socket read directly
BUDGET_LIST_QUICK = 20  # today 15
# never needed to list settled Docker workspaces the engine confirms
NOT_FOR_QUICK_LIST = (*NOT_AT_START, "asyncio", "sqlite3", "socket", "http", "nexus.service")

_REPORT = (
    "import json, sys\ndef report():\n    print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def _loaded(tmp_path: Path, code: str) -> set[str]:
    """The modules loaded by ``code`` (which calls ``report()``), beyond a bare interpreter's."""
    env = {"HOME": str(tmp_path), "NEXUS_HOME": str(tmp_path / ".nexus"), "PATH": "/usr/bin:/bin"}
    bare = subprocess.run(
        [sys.executable, "-c", _REPORT + "report()"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    run = subprocess.run(
        [sys.executable, "-c", _REPORT + code], capture_output=True, text=True, env=env
    )
    loaded = json.loads(run.stderr.strip().splitlines()[-1])
    return set(loaded) - set(json.loads(bare.stderr))


def _run_cli(tmp_path: Path, *argv: str) -> set[str]:
    code = (
        "from nexus.cli.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "report()\n"
    )
    return _loaded(tmp_path, code)


def _counted(modules: set[str]) -> set[str]:
    """nexus.* and third-party modules."""
    return {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names}


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_cli_start_imports_no_heavy_sdk() -> None:
    code = (
        "import sys, nexus.cli.main\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_listing_an_empty_store_touches_no_backend(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "from nexus.cli.main import main\n"
        "try:\n"
        "    main(['workspace', 'list', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    env = {"HOME": str(tmp_path), "NEXUS_HOME": str(tmp_path / ".nexus"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.strip() == '{\n  "workspaces": []\n}'
    assert result.stderr.strip() == ""


def test_importing_the_entry_point_stays_within_budget(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "import nexus.cli.main\nreport()\n")
    assert not _top(loaded) & set(NOT_AT_START)
    assert len(_counted(loaded)) <= BUDGET_IMPORT_MAIN, sorted(_counted(loaded))


def test_version_stays_within_budget(tmp_path: Path) -> None:
    loaded = _run_cli(tmp_path, "version", "--json")
    assert not _top(loaded) & set(NOT_AT_START)
    assert len(_counted(loaded)) <= BUDGET_VERSION, sorted(_counted(loaded))


def test_list_json_stays_within_budget(tmp_path: Path) -> None:
    loaded = _run_cli(tmp_path, "workspace", "list", "--json", "--backend-filter", "docker")
    assert not _top(loaded) & set(NOT_AT_START)
    assert len(_counted(loaded)) <= BUDGET_LIST_JSON, sorted(_counted(loaded))


def test_list_as_a_table_stays_within_budget(tmp_path: Path) -> None:
    loaded = _run_cli(tmp_path, "workspace", "list")
    assert not _top(loaded) & {*HEAVY, "pydantic", "pydantic_core", "yaml", "typer"}
    assert len(_counted(loaded)) <= BUDGET_LIST, sorted(_counted(loaded))


def test_a_config_file_is_validated_only_when_there_is_one(tmp_path: Path) -> None:
    """With a config file, `workspace list` reads and validates it as before (a broken file is
    still reported); without one, the defaults need neither YAML nor pydantic."""
    (tmp_path / ".nexus").mkdir()
    (tmp_path / ".nexus" / "config.yaml").write_text("backends: {docker: {enabled: maybe}}\n")
    loaded = _run_cli(tmp_path, "workspace", "list", "--json")
    assert {"yaml", "pydantic"} <= _top(loaded)
    env = {"HOME": str(tmp_path), "NEXUS_HOME": str(tmp_path / ".nexus"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from nexus.cli.main import main; main(['workspace', 'list', '--json'])",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode != 0
    assert json.loads(result.stdout)["error"]["code"] == "INVALID_CONFIG"


def test_help_and_other_commands_load_only_their_command_group(tmp_path: Path) -> None:
    loaded = _run_cli(tmp_path, "--help")
    assert not _top(loaded) & {*HEAVY, "pydantic", "pydantic_core", "yaml"}
    loaded = _run_cli(tmp_path, "workspace", "info", "--help")
    assert "nexus.cli.workspace" in loaded
    assert not {"nexus.cli.config_cmd", "nexus.cli.ssh_config_cmd"} & loaded


@pytest.mark.parametrize(
    "argv",
    [
        ("config", "list", "--json"),
        ("ssh-config", "show", "--json"),
        ("workspace", "info", "nope", "--json"),
        ("workspace", "--help"),
    ],
)
def test_commands_that_reach_no_backend_import_no_sdk(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    assert not _top(_run_cli(tmp_path, *argv)) & set(HEAVY)


def test_help_lists_every_command(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "NEXUS_HOME": str(tmp_path / ".nexus"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "from nexus.cli.main import main; main(['--help'])"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "120"},
    )
    assert result.returncode == 0
    names = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")]
    commands = names[names.index("version") :]
    assert commands == [
        "version",
        "sidecar",
        "workspace",
        "sync",
        "lsp",
        "usage",
        "doctor",
        "config",
        "ssh-config",
    ]


def test_the_default_config_enables_every_backend() -> None:
    """`NexusContext.backend_enabled` answers True without loading a config when there is
    neither a config file nor an override: that must be what the schema says."""
    from nexus.config.schema import NexusConfig

    defaults = NexusConfig()
    assert defaults.backends.docker.enabled and defaults.backends.daytona.enabled


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
@pytest.mark.parametrize("argv", [("workspace", "list"), ("workspace", "list", "--json")])
def test_listing_a_docker_workspace_the_engine_confirms_stays_within_budget(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """One Docker workspace recorded as missing, and the engine has no container of this
    (new) installation: nothing to record, so the quick path answers."""
    from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
    from nexus.store import StateStore

    store = StateStore(tmp_path / ".nexus" / "state.db")
    store.reserve(Workspace(name="ws", backend=BackendType.DOCKER, status=WorkspaceStatus.MISSING))
    store.close()
    loaded = _run_cli(tmp_path, *argv)
    assert "nexus.cli.quick_list" in loaded
    assert not {m for m in loaded if m.startswith(NOT_FOR_QUICK_LIST)}, sorted(loaded)
    assert len(_counted(loaded)) <= BUDGET_LIST_QUICK, sorted(_counted(loaded))
