"""Capabilities tell the truth: every flag a backend reports true is run here for real (the
Docker engine; the Daytona emulator), and a flag reported false has no operations behind it.

A new capability, or a backend that starts reporting one, fails here until it has a scenario.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nexus.domain.kinds import BackendType
from nexus.domain.models import BackendCapabilities
from nexus.service.backends import operations
from nexus.service.context import NexusContext
from tests.conftest import MUTAGEN_BIN, NexusEnv

FLAGS = list(BackendCapabilities.model_fields)


def reported(backend: BackendType, env: NexusEnv, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    for key, value in env.env.items():
        monkeypatch.setenv(key, value)
    context = NexusContext()
    try:
        caps = context.backends.capabilities(backend).model_dump()
    finally:
        context.close()
    return {flag for flag, on in caps.items() if on}


def run(env: NexusEnv, *args: str) -> dict[str, Any]:
    split = args.index("--") if "--" in args else len(args)
    result = env.run(*args[:split], "--json", *args[split:])
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def provider(env: NexusEnv, *args: str) -> dict[str, Any]:
    return run(env, "workspace", "provider", *args)


def exec_out(env: NexusEnv, name: str, script: str) -> str:
    result = env.run("workspace", "exec", name, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---- Docker ------------------------------------------------------------------------------------
def docker_ssh(env: NexusEnv) -> None:
    run(env, "workspace", "create", "conf", "--from", str(env.project))
    assert exec_out(env, "conf", "echo over-ssh") == "over-ssh\n"


def docker_volumes(env: NexusEnv) -> None:
    run(env, "workspace", "create", "conf", "--from", str(env.project))
    volume = f"conf-data-{env.home.name}"
    try:
        provider(env, "docker", "volume", "create", "conf", "--volume", volume)
        provider(env, "docker", "volume", "attach", "conf", "--volume", volume, "--mount", "/data")
        exec_out(env, "conf", "echo kept > /data/file")
        provider(env, "docker", "volume", "detach", "conf", "--volume", volume)
        assert exec_out(env, "conf", "test -e /data/file && echo there || echo gone") == "gone\n"
        provider(env, "docker", "volume", "attach", "conf", "--volume", volume, "--mount", "/data")
        assert exec_out(env, "conf", "cat /data/file") == "kept\n"
        network = f"conf-net-{env.home.name}"
        provider(env, "docker", "network", "create", network)
        try:
            provider(env, "docker", "network", "connect", "conf", "--network", network)
            assert exec_out(env, "conf", "getent hosts conf | wc -l").strip() != "0"
            provider(env, "docker", "network", "disconnect", "conf", "--network", network)
        finally:
            run(env, "workspace", "delete", "conf", "--force")
            subprocess.run(["docker", "network", "rm", network], capture_output=True)
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)


def docker_image_caching(env: NexusEnv) -> None:
    run(env, "workspace", "create", "conf", "--from", str(env.project))
    exec_out(env, "conf", "echo baked > /home/nexus/baked")
    image = f"nexus-cache/conf-{env.home.name}:1"
    try:
        provider(env, "docker", "image", "cache", "conf", "--to", image)
        run(env, "workspace", "create", "conf2", "--from", str(env.project), "--image", image)
        assert exec_out(env, "conf2", "cat /home/nexus/baked") == "baked\n"
        run(env, "workspace", "delete", "conf2", "--force")
        pruned = provider(env, "docker", "image", "prune")
        assert image in json.dumps(pruned)
        gone = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        assert gone.returncode != 0
    finally:
        subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True)


def docker_sync(env: NexusEnv) -> None:
    """`nexus sync` into a path of the container outside its mounted folder."""
    env.env["NEXUS_MUTAGEN"] = str(MUTAGEN_BIN)
    run(env, "workspace", "create", "conf", "--from", str(env.project))
    run(env, "sync", "start", "conf", "--remote", "/home/nexus/synced")
    assert exec_out(env, "conf", "cat /home/nexus/synced/README.md") == "hello from the host\n"
    exec_out(env, "conf", "echo back > /home/nexus/synced/back.txt")
    run(env, "sync", "flush", "conf")
    assert (env.project / "back.txt").read_text() == "back\n"
    run(env, "workspace", "delete", "conf", "--force")


DOCKER: dict[str, Callable[[NexusEnv], None]] = {
    "supports_ssh": docker_ssh,
    "supports_sync": docker_sync,
    "supports_direct_volume_management": docker_volumes,
    "supports_image_caching": docker_image_caching,
}


# ---- Daytona -----------------------------------------------------------------------------------
def daytona_workspace(env: NexusEnv) -> None:
    run(env, "workspace", "create", "conf", "--backend", "daytona")


def daytona_ssh(env: NexusEnv) -> None:
    daytona_workspace(env)
    assert exec_out(env, "conf", "echo over-ssh") == "over-ssh\n"


def daytona_sync(env: NexusEnv) -> None:
    """`create --from PATH` syncs the folder into the sandbox, and back."""
    env.env["NEXUS_MUTAGEN"] = str(MUTAGEN_BIN)
    folder = env.home / "src"
    folder.mkdir()
    (folder / "here.txt").write_text("from here\n")
    made = run(env, "workspace", "create", "conf", "--backend", "daytona", "--from", str(folder))
    remote = made["remotePath"]
    assert exec_out(env, "conf", f"cat {remote}/here.txt") == "from here\n"
    exec_out(env, "conf", f"echo back > {remote}/back.txt")
    run(env, "sync", "flush", "conf")
    assert (folder / "back.txt").read_text() == "back\n"
    run(env, "workspace", "delete", "conf", "--force")


def daytona_snapshots(env: NexusEnv) -> None:
    daytona_workspace(env)
    exec_out(env, "conf", "echo before > ~/mark")
    provider(env, "daytona", "snapshot", "create", "conf", "--name", "conf-snap")
    exec_out(env, "conf", "echo after > ~/mark")
    assert "conf-snap" in json.dumps(provider(env, "daytona", "snapshot", "list", "conf"))
    provider(env, "daytona", "snapshot", "restore", "conf", "--name", "conf-snap")
    assert exec_out(env, "conf", "cat ~/mark") == "before\n"
    provider(env, "daytona", "snapshot", "delete", "conf", "--name", "conf-snap")


def daytona_previews(env: NexusEnv) -> None:
    daytona_workspace(env)
    exec_out(
        env,
        "conf",
        "mkdir -p site && echo conformance-page > site/index.html && cd site && "
        "nohup python3 -m http.server 8123 --bind 127.0.0.1 >/dev/null 2>&1 &",
    )
    opened = provider(env, "daytona", "preview", "create", "conf", "--port", "8123")
    headers = {"x-daytona-preview-token": opened["token"]} if opened.get("token") else {}
    body = ""
    for _ in range(100):
        with httpx.Client(trust_env=False, timeout=30) as http:
            answer = http.get(f"{opened['url']}/index.html", headers=headers)
        if answer.status_code == 200:
            body = answer.text
            break
        time.sleep(0.2)
    assert body == "conformance-page\n"
    provider(env, "daytona", "preview", "delete", "conf", "--port", "8123")


def daytona_lsp(env: NexusEnv) -> None:
    daytona_workspace(env)
    provider(env, "daytona", "lsp", "start", "conf", "--language", "python")
    assert "python" in json.dumps(provider(env, "daytona", "lsp", "status", "conf"))
    provider(env, "daytona", "lsp", "stop", "conf", "--language", "python")


def daytona_file_api(env: NexusEnv) -> None:
    daytona_workspace(env)
    tree = env.project / "upload"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "data.bin").write_bytes(bytes(range(256)) * 64)
    (tree / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (tree / "run.sh").chmod(0o755)
    provider(env, "daytona", "file", "upload", "conf", str(tree), "/home/daytona/up")
    assert exec_out(env, "conf", "sh /home/daytona/up/run.sh") == "ran\n"
    back = env.home / "back"
    provider(env, "daytona", "file", "download", "conf", "/home/daytona/up", str(back))
    got = back / "sub" / "data.bin" if (back / "sub").exists() else back / "up" / "sub" / "data.bin"
    assert got.read_bytes() == (tree / "sub" / "data.bin").read_bytes()


def daytona_process_api(env: NexusEnv) -> None:
    daytona_workspace(env)
    ran = provider(env, "daytona", "process", "execute", "conf", "--", "echo", "via-api")
    assert ran["exitCode"] == 0 and ran["stdout"] == "via-api\n"


DAYTONA: dict[str, Callable[[NexusEnv], None]] = {
    "supports_ssh": daytona_ssh,
    "supports_sync": daytona_sync,
    "supports_snapshots": daytona_snapshots,
    "supports_web_previews": daytona_previews,
    "supports_lsp": daytona_lsp,
    "supports_file_api": daytona_file_api,
    "supports_process_api": daytona_process_api,
}


def _check(
    backend: BackendType,
    scenarios: dict[str, Callable[[NexusEnv], None]],
    flag: str,
    env: NexusEnv,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flags = reported(backend, env, monkeypatch)
    ops = [op for op in operations(backend).values() if op.capability == flag]
    if flag not in flags:
        assert not ops, f"{flag} is false on {backend.value} but {[o.id for o in ops]} need it"
        return
    # ssh and sync are common commands (`workspace exec`, `nexus sync`), not escape hatches
    common = flag in ("supports_ssh", "supports_sync")
    assert common or ops, f"{backend.value} reports {flag} with no operation"
    assert flag in scenarios, f"{backend.value} reports {flag}: add a scenario that runs it"
    scenarios[flag](env)


@pytest.mark.parametrize("flag", FLAGS)
def test_docker_capability(flag: str, nexus_env: NexusEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    _check(BackendType.DOCKER, DOCKER, flag, nexus_env, monkeypatch)


@pytest.mark.parametrize("flag", FLAGS)
def test_daytona_capability(
    flag: str, daytona_env: NexusEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check(BackendType.DAYTONA, DAYTONA, flag, daytona_env, monkeypatch)


def test_every_operation_needs_a_known_capability() -> None:
    for op in operations().values():
        assert op.capability in FLAGS, op.id


def test_info_shows_the_same_truth(nexus_env: NexusEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    run(nexus_env, "workspace", "create", "conf", "--from", str(nexus_env.project))
    shown = run(nexus_env, "workspace", "info", "conf")["capabilities"]
    flags = reported(BackendType.DOCKER, nexus_env, monkeypatch)
    assert {key for key, on in shown.items() if on} == {_camel(flag) for flag in flags}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
