"""Preview links reach an HTTP server running inside the sandbox."""

from __future__ import annotations

import time

import httpx
import pytest
from daytona import Sandbox

pytestmark = pytest.mark.docker

PORT = 8080


def _serve(sandbox: Sandbox) -> None:
    sandbox.process.exec(
        "mkdir -p ~/site && echo 'hello preview' > ~/site/index.html && "
        f"cd ~/site && nohup python3 -m http.server {PORT} --bind 127.0.0.1 >/dev/null 2>&1 &"
    )
    for _ in range(100):
        probe = sandbox.process.exec(
            f"python3 -c \"import urllib.request;urllib.request.urlopen('http://127.0.0.1:{PORT}/')\""
        )
        if probe.exit_code == 0:
            return
        time.sleep(0.1)
    raise AssertionError("http server did not come up in the sandbox")


def test_preview_link_reaches_sandbox_port(sandbox: Sandbox) -> None:
    _serve(sandbox)
    link = sandbox.get_preview_link(PORT)
    assert link.url.startswith("http://127.0.0.1:")
    with httpx.Client(trust_env=False, timeout=30) as http:
        ok = http.get(f"{link.url}/index.html", headers={"x-daytona-preview-token": link.token})
        assert ok.status_code == 200
        assert ok.text == "hello preview\n"
        root = http.get(link.url, headers={"x-daytona-preview-token": link.token})
        assert root.status_code == 200 and root.text == "hello preview\n"

        assert http.get(f"{link.url}/index.html").status_code == 401
        wrong = http.get(f"{link.url}/index.html", headers={"x-daytona-preview-token": "nope"})
        assert wrong.status_code == 401
        missing = http.get(f"{link.url}/nope.html", headers={"x-daytona-preview-token": link.token})
        assert missing.status_code == 404  # answered by the server in the sandbox

        sandbox.set_public(True)
        assert http.get(f"{link.url}/index.html").status_code == 200
        sandbox.set_public(False)
        assert http.get(f"{link.url}/index.html").status_code == 401


def test_signed_preview_url_and_expiry(sandbox: Sandbox) -> None:
    _serve(sandbox)
    signed = sandbox.create_signed_preview_url(PORT, expires_in_seconds=120)
    assert signed.port == PORT and len(signed.token) == 16
    with httpx.Client(trust_env=False, timeout=30) as http:
        assert http.get(f"{signed.url}/index.html").text == "hello preview\n"
        sandbox.expire_signed_preview_url(PORT, signed.token)
        assert http.get(f"{signed.url}/index.html").status_code == 401


def test_preview_of_closed_port_is_bad_gateway(sandbox: Sandbox) -> None:
    link = sandbox.get_preview_link(9)
    with httpx.Client(trust_env=False, timeout=30) as http:
        response = http.get(link.url, headers={"x-daytona-preview-token": link.token})
    assert response.status_code == 502
