"""`nexus workspace provider daytona preview …` end to end: a real HTTP server in the sandbox,
reached through the emulator's preview proxy with the token, publicly, and by signed URL."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.conftest import NexusEnv
from tests.daytona_emulator import EmulatorThread
from tests.e2e.test_docker_cli import ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

PORT = 8123
PAGE = "hello from the sandbox\n"


def preview(env: NexusEnv, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    return env.run("workspace", "provider", "daytona", "preview", action, *args, "--json")


def data(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(ok(result).stdout)
    return parsed


def error_code(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    return str(json.loads(result.stdout)["error"]["code"])


def serve(env: NexusEnv, name: str) -> None:
    """`python3 -m http.server` in the workspace, started with `nexus workspace exec`."""
    ok(
        env.run(
            "workspace",
            "exec",
            name,
            "--",
            "sh",
            "-c",
            f"mkdir -p site && printf '{PAGE}' > site/index.html && cd site && "
            f"nohup python3 -m http.server {PORT} --bind 127.0.0.1 >/dev/null 2>&1 &",
        )
    )
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/')"
    for _ in range(300):
        if env.run("workspace", "exec", name, "--", "python3", "-c", probe).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the HTTP server did not come up in the workspace")


def get(url: str, **headers: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=30) as http:
        return http.get(f"{url}/index.html", headers=headers)


def test_preview_urls_serve_the_sandbox_page(
    daytona_env: NexusEnv, emulator: EmulatorThread
) -> None:
    env = daytona_env
    ws = data(env.run("workspace", "create", "web", "--backend", "daytona", "--json"))
    sandbox = emulator.emulator.store.get(ws["backendId"])
    serve(env, "web")

    opened = data(preview(env, "create", "web", "--port", str(PORT)))
    assert opened["port"] == PORT and opened["public"] is False and opened["signedUrl"] is None
    header = opened["tokenHeader"]
    page = get(opened["url"], **{header: opened["token"]})
    assert (page.status_code, page.text) == (200, PAGE)
    assert get(opened["url"]).status_code == 401  # private: the token is needed
    assert get(opened["url"], **{header: "wrong"}).status_code == 401

    # a signed URL: no header needed, until it is deleted
    signed = data(preview(env, "create", "web", "--port", str(PORT), "--expires", "600"))
    assert signed["signedUrl"] and signed["expiresAt"]
    assert get(signed["signedUrl"]).text == PAGE
    listed = data(preview(env, "list", "web"))["previews"]
    assert [(p["port"], p["signedUrl"]) for p in listed] == [(PORT, signed["signedUrl"])]
    assert listed[0]["token"] == opened["token"]

    closed = data(preview(env, "delete", "web", "--port", str(PORT)))
    assert closed["signedUrlExpired"] is True
    assert get(signed["signedUrl"]).status_code == 401
    assert data(preview(env, "list", "web"))["previews"] == []

    # public: anyone may open it; deleting the last public preview makes the sandbox private
    public = data(preview(env, "create", "web", "--port", str(PORT), "--public"))
    assert public["public"] is True
    assert get(public["url"]).text == PAGE
    assert sandbox.public
    assert data(preview(env, "delete", "web", "--port", str(PORT)))["sandboxPublic"] is False
    assert not sandbox.public
    assert get(public["url"]).status_code == 401


def test_signed_url_stops_working_when_it_expires(daytona_env: NexusEnv) -> None:
    env = daytona_env
    data(env.run("workspace", "create", "brief", "--backend", "daytona", "--json"))
    serve(env, "brief")
    signed = data(preview(env, "create", "brief", "--port", str(PORT), "--expires", "2"))
    status = get(signed["signedUrl"]).status_code
    while status == 200:  # it works until it expires (no timing asserted)
        time.sleep(0.2)
        status = get(signed["signedUrl"]).status_code
    assert status == 401
    (item,) = data(preview(env, "list", "brief"))["previews"]
    assert item["signedUrl"] is None and item["expiredAt"] == signed["expiresAt"]
    # the token-protected URL is not affected by the signed one expiring
    assert get(item["url"], **{item["tokenHeader"]: item["token"]}).text == PAGE


def test_bad_preview_input_gets_stable_codes(daytona_env: NexusEnv) -> None:
    env = daytona_env
    data(env.run("workspace", "create", "ports", "--backend", "daytona", "--json"))
    assert error_code(preview(env, "create", "ports")) == "INVALID_ARGUMENT"  # no --port
    for port in ("0", "65536", "-1", "http"):
        assert error_code(preview(env, "create", "ports", "--port", port)) == "INVALID_ARGUMENT"
    for seconds in ("0", "86401", "soon"):
        bad_expiry = preview(env, "create", "ports", "--port", "3000", "--expires", seconds)
        assert error_code(bad_expiry) == "INVALID_ARGUMENT"
    assert error_code(preview(env, "delete", "ports", "--port", "3000")) == "INVALID_ARGUMENT"
    assert error_code(preview(env, "delete", "ports")) == "INVALID_ARGUMENT"
    assert data(preview(env, "list", "ports"))["previews"] == []
    wrong_backend = env.run(
        "workspace", "provider", "daytona", "preview", "list", "nowhere", "--json"
    )
    assert error_code(wrong_backend) == "WORKSPACE_NOT_FOUND"


def test_emulator_preview_api_behaves_like_the_real_one(emulator: EmulatorThread) -> None:
    """Through the unmodified SDK, as the real API (sandbox.service.ts getSignedPortPreviewUrl,
    expireSignedPreviewUrlToken) does it."""
    from daytona import CreateSandboxFromSnapshotParams, DaytonaBadRequestError

    from tests.daytona_emulator.sdk import sync_client

    client = sync_client(emulator.api_url, emulator.api_key)
    sandbox = client.create(
        CreateSandboxFromSnapshotParams(labels={"test": "preview-api"}), timeout=120
    )
    try:
        with pytest.raises(DaytonaBadRequestError, match="Invalid port"):
            sandbox.get_preview_link(0)
        with pytest.raises(DaytonaBadRequestError, match="between 1 second and 24 hours"):
            sandbox.create_signed_preview_url(3000, expires_in_seconds=86401)
        signed = sandbox.create_signed_preview_url(3000, expires_in_seconds=600)
        # expiring is keyed by port and token, and never fails for an unknown one
        sandbox.expire_signed_preview_url(3001, signed.token)
        sandbox.expire_signed_preview_url(3000, "no-such-token")
        assert emulator.emulator.store.signed_previews[signed.token].valid()
        sandbox.expire_signed_preview_url(3000, signed.token)
        assert not emulator.emulator.store.signed_previews[signed.token].valid()
    finally:
        client.delete(sandbox)
