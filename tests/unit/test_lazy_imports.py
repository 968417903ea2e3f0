"""`nexus workspace list` must start fast: the CLI never imports the heavy SDKs up front."""

import subprocess
import sys

HEAVY = ("docker", "asyncssh", "daytona", "pygls", "lsprotocol", "requests")


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
