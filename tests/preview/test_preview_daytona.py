"""`nexus workspace preview` on Daytona (the emulator): through the workspace's preview URL,
the token added by the proxy; the same real servers and clients as on Docker."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import httpx
import pytest

from tests.conftest import NEXUS_BIN, NexusEnv
from tests.e2e.test_docker_cli import ok
from tests.preview import helpers
from tests.preview.conftest import APP_PORT, PAGE, SITE_PORT, start_servers
from tests.preview.test_preview_docker import error_code, refused

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def test_preview_through_the_preview_url(daytona_env: NexusEnv) -> None:
    env = daytona_env
    ok(env.run("workspace", "create", "web", "--backend", "daytona", "--json"))
    big_sha256 = start_servers(env, "web")

    process = subprocess.Popen(
        [NEXUS_BIN, "workspace", "preview", "web", str(APP_PORT), "--local-port", "0", "--json"],
        env=env.env,
        cwd=env.project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        shown = helpers.wait_json(process)
        url = shown["url"]
        assert shown["via"] == "preview-url"
        # the browser sends no token; the sandbox's server gets the request all the same
        seen = httpx.get(f"{url}headers", trust_env=False, timeout=30).json()
        assert "x-daytona-preview-token" not in seen  # the preview proxy takes it off
        assert len(helpers.two_requests_on_one_socket(url, "conn")) == 2
        helpers.check_streamed_upload(url)
        asyncio.run(helpers.check_websocket(url))
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "token" not in err.lower()

    # the preview URL itself wants the token the proxy added
    listed = json.loads(
        ok(env.run("workspace", "provider", "daytona", "preview", "list", "web", "--json")).stdout
    )
    (opened,) = [p for p in listed["previews"] if p["port"] == APP_PORT]
    assert httpx.get(f"{opened['url']}/conn", trust_env=False, timeout=30).status_code == 401

    started = json.loads(
        ok(env.run("workspace", "preview", "web", str(SITE_PORT), "--background", "--json")).stdout
    )
    site = started["url"]
    try:
        assert started["via"] == "preview-url"
        page = httpx.get(f"{site}index.html", trust_env=False, timeout=30)
        assert (page.status_code, page.text) == (200, PAGE)
        helpers.check_download(site, "big.bin", big_sha256, helpers.BIG)
    finally:
        ok(env.run("workspace", "preview", "stop", "web", str(SITE_PORT)))
    assert refused(site)

    result = env.run("workspace", "preview", "web", "9", "--json")
    assert error_code(result) == "PREVIEW_UNREACHABLE" and result.returncode == 6

    ok(env.run("workspace", "stop", "web"))
    stopped = env.run("workspace", "preview", "web", str(APP_PORT), "--json")
    assert error_code(stopped) == "DAYTONA_SANDBOX_STOPPED" and stopped.returncode == 7
