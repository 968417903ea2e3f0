"""`python -m tests.daytona_emulator` runs on its own and prints how to reach it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


def test_standalone_server_prints_url_and_key(docker_client: object) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.daytona_emulator", "--port", "0", "--print-url"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        api_url, api_key = lines["DAYTONA_API_URL"], lines["DAYTONA_API_KEY"]
        assert api_url.startswith("http://127.0.0.1:") and api_url.endswith("/api")
        assert lines["DAYTONA_EMULATOR_SSH"].startswith("127.0.0.1:")
        with httpx.Client(trust_env=False) as http:
            ok = http.get(f"{api_url}/sandbox", headers={"Authorization": f"Bearer {api_key}"})
            assert ok.status_code == 200
            assert ok.json() == {"items": [], "nextCursor": None}
            assert http.get(f"{api_url}/sandbox").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert api_key not in stderr
