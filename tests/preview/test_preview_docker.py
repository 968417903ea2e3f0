"""`nexus workspace preview` on Docker, end to end: the CLI as a user runs it, real servers in
the workspace, a real HTTP client and a real WebSocket client on this machine."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.preview import stop_previews
from tests.conftest import NEXUS_BIN, NexusEnv
from tests.e2e.test_docker_cli import ok
from tests.preview import helpers
from tests.preview.conftest import APP_PORT, PAGE, SITE_PORT, Served

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def refused(url: str) -> bool:
    try:
        httpx.get(url, trust_env=False, timeout=10)
    except httpx.ConnectError:
        return True
    return False


def gone(pid: int) -> bool:
    """The process ended (a zombie that no one has reaped yet counts: it no longer runs)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def error_code(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    return str(json.loads(result.stdout)["error"]["code"])


def test_foreground_preview_relays_http_keep_alive_bodies_and_websockets(
    docker_web: Served,
) -> None:
    env = docker_web.env
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
        assert shown["via"] == "ssh" and shown["port"] == APP_PORT
        assert url == f"http://127.0.0.1:{shown['localPort']}/"
        helpers.check_keep_alive(url)
        assert len(helpers.two_requests_on_one_socket(url, "conn")) == 2
        helpers.check_streamed_upload(url)
        asyncio.run(helpers.check_websocket(url))
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert refused(url)


def test_background_preview_lists_serves_and_stops(docker_web: Served) -> None:
    env = docker_web.env
    started = json.loads(
        ok(env.run("workspace", "preview", "web", str(SITE_PORT), "--background", "--json")).stdout
    )
    url = started["url"]
    assert started["started"] is True and started["background"] is True
    assert started["localPort"] == SITE_PORT  # the same number, free here
    # the starting command has exited; its background process serves
    page = httpx.get(f"{url}index.html", trust_env=False, timeout=30)
    assert (page.status_code, page.text) == (200, PAGE)
    helpers.check_download(url, "big.bin", docker_web.big_sha256, helpers.BIG)

    again = json.loads(
        ok(env.run("workspace", "preview", "web", str(SITE_PORT), "--background", "--json")).stdout
    )
    assert again["started"] is False and again["pid"] == started["pid"]
    listed = json.loads(ok(env.run("workspace", "preview", "list", "--json")).stdout)
    assert [(p["workspace"], p["port"], p["url"]) for p in listed["previews"]] == [
        ("web", SITE_PORT, url)
    ]

    stopped = json.loads(
        ok(env.run("workspace", "preview", "stop", "web", str(SITE_PORT), "--json")).stdout
    )
    assert stopped["stopped"] is True
    assert json.loads(ok(env.run("workspace", "preview", "list", "--json")).stdout) == {
        "previews": []
    }
    assert refused(url)
    assert gone(started["pid"])
    assert not list((env.nexus_home / "previews").glob("*.json"))
    missing = env.run("workspace", "preview", "stop", "web", str(SITE_PORT), "--json")
    assert error_code(missing) == "PREVIEW_NOT_FOUND" and missing.returncode == 3


def test_a_killed_background_preview_is_dropped_from_the_list(docker_web: Served) -> None:
    env = docker_web.env
    started = json.loads(
        ok(env.run("workspace", "preview", "web", str(APP_PORT), "--background", "--json")).stdout
    )
    os.kill(started["pid"], signal.SIGKILL)
    for _ in range(100):
        if gone(started["pid"]):
            break
        time.sleep(0.05)
    assert json.loads(ok(env.run("workspace", "preview", "list", "--json")).stdout) == {
        "previews": []
    }
    assert not list((env.nexus_home / "previews").glob("*.json"))


def test_stop_previews_ends_a_workspaces_background_previews(docker_web: Served) -> None:
    """What workspace stop and delete call."""
    env = docker_web.env
    started = json.loads(
        ok(env.run("workspace", "preview", "web", str(APP_PORT), "--background", "--json")).stdout
    )
    context = NexusContext(NexusPaths(env.nexus_home), env=env.env)
    try:
        assert asyncio.run(stop_previews(context, "other")) == []
        ended = asyncio.run(stop_previews(context, "web"))
    finally:
        context.close()
    assert [(r.workspace, r.port, r.pid) for r in ended] == [("web", APP_PORT, started["pid"])]
    assert refused(started["url"])
    assert json.loads(ok(env.run("workspace", "preview", "list", "--json")).stdout) == {
        "previews": []
    }


def test_a_port_nothing_listens_on(docker_web: Served) -> None:
    env = docker_web.env
    result = env.run("workspace", "preview", "web", "9", "--json")
    assert error_code(result) == "PREVIEW_UNREACHABLE"
    assert result.returncode == 6
    human = env.run("workspace", "preview", "web", "9")
    assert "PREVIEW_UNREACHABLE" in human.stderr and "Traceback" not in human.stderr


def test_a_server_that_goes_away_gives_a_502_page(docker_web: Served) -> None:
    env = docker_web.env
    start = (
        "cd /tmp/site && (nohup python3 -m http.server 8124 --bind 127.0.0.1 >/dev/null 2>&1 & "
        "echo $! > /tmp/s8124.pid) && sleep 1"
    )
    ok(env.run("workspace", "exec", "web", "--", "sh", "-c", start))
    started = env.run("workspace", "preview", "web", "8124", "--background", "--json")
    url = json.loads(ok(started).stdout)["url"]
    try:
        assert httpx.get(f"{url}index.html", trust_env=False, timeout=30).status_code == 200
        ok(env.run("workspace", "exec", "web", "--", "sh", "-c", "kill $(cat /tmp/s8124.pid)"))
        page = httpx.get(f"{url}index.html", trust_env=False, timeout=30)
        assert page.status_code == 502
        assert "Nothing answers on port 8124" in page.text
    finally:
        ok(env.run("workspace", "preview", "stop", "web", "8124"))


def test_a_stopped_workspace(nexus_env: NexusEnv) -> None:
    ok(nexus_env.run("workspace", "create", "idle", "--json", timeout=900))
    ok(nexus_env.run("workspace", "stop", "idle"))
    result = nexus_env.run("workspace", "preview", "idle", "3000", "--json")
    assert error_code(result) == "WORKSPACE_NOT_RUNNING"
    assert result.returncode == 7


def test_usage_errors(nexus_env: NexusEnv) -> None:
    assert error_code(nexus_env.run("workspace", "preview", "nope", "3000", "--json")) == (
        "WORKSPACE_NOT_FOUND"
    )
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        ok(nexus_env.run("workspace", "create", "busy", "--json", timeout=900))
        result = nexus_env.run(
            "workspace",
            "preview",
            "busy",
            "22",
            "--local-port",
            str(taken.getsockname()[1]),
            "--json",
        )
        assert error_code(result) == "INVALID_ARGUMENT"
    finally:
        taken.close()
