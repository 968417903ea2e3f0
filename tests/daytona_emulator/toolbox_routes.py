"""Toolbox (in-sandbox daemon) routes: `/toolbox/{id}/...`, executed in the real container."""

from __future__ import annotations

import asyncio
import io
import json
import posixpath
import secrets
import tarfile
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import docker.errors
from aiohttp import web

from .errors import SOURCE_DAEMON, ApiError, daemon_error
from .lsp import LspRoutes
from .runtime import HOME, SANDBOX_GID, SANDBOX_UID, PathNotFound, RuntimeFailure
from .service import SandboxService
from .sessions import SessionManager
from .state import Sandbox

TIMEOUT_EXIT = 124
FIND_FORMAT = r"%f\t%y\t%s\t%T@\t%m\t%M\t%u\t%g\t%p\n"

_GIT_STATUS = {
    " ": "Unmodified",
    "?": "Untracked",
    "M": "Modified",
    "A": "Added",
    "D": "Deleted",
    "R": "Renamed",
    "C": "Copied",
    "U": "Updated but unmerged",
    "T": "Modified",
    "!": "Unmodified",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def resolve(path: str | None) -> str:
    """Relative paths are relative to the daemon's working directory (the user's home)."""
    if not path:
        return HOME
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(HOME, path))


def _go_time(epoch: float) -> tuple[str, str]:
    moment = datetime.fromtimestamp(epoch, UTC)
    nanos = f"{round((epoch % 1) * 1e9):09d}".rstrip("0") or "0"
    go = moment.strftime("%Y-%m-%d %H:%M:%S") + f".{nanos} +0000 UTC"
    return go, moment.isoformat().replace("+00:00", "Z")


def _file_info(line: str) -> dict[str, Any]:
    name, kind, size, mtime, perm, mode, owner, group, path = line.split("\t", 8)
    mod_time, modified_at = _go_time(float(mtime))
    return {
        "name": name,
        "isDir": kind == "d",
        "size": int(size),
        "modTime": mod_time,
        "modifiedAt": modified_at,
        "mode": mode,
        "permissions": f"{int(perm, 8):04o}",
        "owner": owner,
        "group": group,
        "path": path,
    }


def _not_found_or(exit_output: str, fallback: ApiError) -> ApiError:
    if "No such file or directory" in exit_output:
        return daemon_error(404, "file not found", "FILE_NOT_FOUND")
    if "Permission denied" in exit_output:
        return daemon_error(403, exit_output.strip(), "FILE_ACCESS_DENIED")
    return fallback


class ToolboxRoutes:
    def __init__(self, service: SandboxService) -> None:
        self.service = service
        self.store = service.store
        self.sessions = SessionManager(service)
        self.lsp = LspRoutes(service)
        service.forget_hooks.append(self.lsp.forget)

    def register(self, app: web.Application) -> None:
        r = app.router
        p = "/toolbox/{id}"
        r.add_get(p + "/work-dir", self.home_dir)
        r.add_get(p + "/user-home-dir", self.home_dir)
        r.add_get(p + "/project-dir", self.home_dir)
        r.add_get(p + "/version", self.version)
        r.add_post(p + "/process/execute", self.execute)
        r.add_post(p + "/files/bulk-upload", self.bulk_upload)
        r.add_post(p + "/files/bulk-download", self.bulk_download)
        r.add_get(p + "/files", self.list_files)
        r.add_delete(p + "/files", self.delete_file)
        r.add_get(p + "/files/info", self.file_info)
        r.add_post(p + "/files/folder", self.create_folder)
        r.add_post(p + "/files/permissions", self.set_permissions)
        r.add_post(p + "/git/clone", self.git_clone)
        r.add_get(p + "/git/status", self.git_status)
        self.sessions.register(app, p)
        self.lsp.register(app, p)

    def _sandbox(self, request: web.Request) -> Sandbox:
        sandbox = self.store.find(request.match_info["id"])
        if sandbox is None:
            raise ApiError(404, "Sandbox not found", source="DAYTONA_PROXY")
        self.service.require_started(sandbox)
        return sandbox

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise daemon_error(400, "invalid request body", "INVALID_REQUEST_BODY") from exc
        if not isinstance(data, dict):
            raise daemon_error(400, "invalid request body", "INVALID_REQUEST_BODY")
        return data

    async def home_dir(self, request: web.Request) -> web.Response:
        self._sandbox(request)
        return _json({"dir": HOME})

    async def version(self, request: web.Request) -> web.Response:
        self._sandbox(request)
        return _json({"version": "emulator"})

    # process -----------------------------------------------------------------
    async def execute(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._json_body(request)
        command = body.get("command")
        if not isinstance(command, str) or not command.strip():
            raise daemon_error(400, "command cannot be empty or whitespace-only", "BAD_REQUEST")
        timeout = body.get("timeout")
        argv = ["bash", "-c", command]
        if isinstance(timeout, int) and timeout > 0:
            argv = ["timeout", "--kill-after=2", str(timeout), *argv]
        # one pipe for stdout and stderr keeps their order, like the daemon's combined output
        argv = ["sh", "-c", 'exec "$@" 2>&1', "exec", *argv]
        envs = body.get("envs") or None
        started = time.monotonic()
        exit_code, output = await self.service.exec(
            sandbox, argv, workdir=resolve(body.get("cwd")), env=envs
        )
        if (
            isinstance(timeout, int)
            and timeout > 0
            and exit_code in (TIMEOUT_EXIT, 137)
            and time.monotonic() - started >= timeout
        ):
            raise daemon_error(408, "command execution timeout", "PROCESS_EXECUTION_TIMEOUT")
        return _json({"exitCode": exit_code, "result": output.decode(errors="replace")})

    # files -------------------------------------------------------------------
    async def bulk_upload(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        assert sandbox.container_id is not None
        reader = await request.multipart()
        paths: dict[str, str] = {}
        done: list[dict[str, Any]] = []
        errors: list[str] = []
        pending: list[tuple[str, str, bytes]] = []  # (path as sent, absolute path, data)
        while True:
            part = await reader.next()
            if part is None:
                break
            name = getattr(part, "name", None) or ""
            if not name.startswith("files[") or "]." not in name:
                continue
            index, field = name[len("files[") :].split("].", 1)
            if field == "path":
                dest = (await part.text()).strip()  # type: ignore[union-attr]
                if not dest:
                    errors.append(f"path[{index}]: empty path")
                    continue
                paths[index] = dest
            elif field == "file":
                data = await part.read()  # type: ignore[union-attr]
                target = paths.get(index)
                if not target:  # upload_files.go: each .file needs its .path first
                    errors.append(f"file[{index}]: missing .path metadata")
                    continue
                pending.append((target, resolve(target), bytes(data)))
        done += await asyncio.to_thread(self._write_files, sandbox, pending, errors)
        if errors:
            return _json({"errors": errors, "files": done}, status=400)
        return _json({"files": done})

    def _write_files(
        self, sandbox: Sandbox, files: list[tuple[str, str, bytes]], errors: list[str]
    ) -> list[dict[str, Any]]:
        """Write a request's files: one ``mkdir -p`` and one archive for all of them (a request
        may carry thousands), or file by file when that fails, to tell which one failed."""
        assert sandbox.container_id is not None
        if not files:
            return []
        runtime = self.service.runtime
        try:
            folders = sorted({posixpath.dirname(dest) or "/" for _, dest, _ in files})
            made = runtime.exec(
                sandbox.container_id, ["mkdir", "-p", "--", *folders], user=sandbox.user
            )
            if made.exit_code != 0:
                raise RuntimeFailure(made.output.decode(errors="replace").strip())
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for _, dest, data in files:
                    info = tarfile.TarInfo(dest.lstrip("/"))
                    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                    info.uid, info.gid = SANDBOX_UID, SANDBOX_GID
                    tar.addfile(info, io.BytesIO(data))
            container = runtime.client.containers.get(sandbox.container_id)
            if not container.put_archive("/", buffer.getvalue()):
                raise RuntimeFailure("could not write the files")
            return [{"path": sent, "bytes": len(data)} for sent, _, data in files]
        except (RuntimeFailure, docker.errors.DockerException):
            pass
        done = []
        for sent, dest, data in files:
            try:
                runtime.write_file(sandbox.container_id, dest, data, user=sandbox.user)
            except RuntimeFailure as exc:
                errors.append(f"{dest}: create: {exc}")
                continue
            done.append({"path": sent, "bytes": len(data)})
        return done

    async def bulk_download(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._sandbox(request)
        assert sandbox.container_id is not None
        paths = (await self._json_body(request)).get("paths")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise daemon_error(400, "paths must be a list of strings", "INVALID_REQUEST_BODY")
        boundary = secrets.token_hex(16)
        response = web.StreamResponse(
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        await response.prepare(request)
        read = await asyncio.to_thread(self._read_files, sandbox.container_id, paths)
        for path in paths:
            try:
                cached = read.get(resolve(path))
                data = (
                    cached
                    if cached is not None
                    else await asyncio.to_thread(
                        self.service.runtime.read_file, sandbox.container_id, resolve(path)
                    )
                )
                name, content_type = "file", "application/octet-stream"
            except PathNotFound:
                name, content_type = "error", "application/json"
                data = self._error_part(404, "file not found", "FILE_NOT_FOUND")
            except RuntimeFailure as exc:
                name, content_type = "error", "application/json"
                data = self._error_part(400, str(exc), "INVALID_FILE_PATH")
            quoted = path.replace("\\", "\\\\").replace('"', '\\"')
            header = (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="{quoted}"; '
                f"filename*=utf-8''{urllib.parse.quote(path, safe='')}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            )
            await response.write(header.encode() + data + b"\r\n")
        await response.write(f"--{boundary}--\r\n".encode())
        await response.write_eof()
        return response

    def _read_files(self, container_id: str, paths: list[str]) -> dict[str, bytes]:
        """The regular files among ``paths`` (symlinks followed, as the daemon's ``os.Open``),
        read with one ``tar`` in the sandbox; the rest is read (and its error told) one by one."""
        wanted = sorted({resolve(p) for p in paths})
        if not wanted:
            return {}
        try:
            container = self.service.runtime.client.containers.get(container_id)
            result = container.exec_run(
                ["tar", "-c", "-h", "-f", "-", "-C", "/", "--no-recursion", "--", *wanted],
                user="root",
                stdout=True,
                stderr=False,
            )
            output = result.output if isinstance(result.output, bytes) else b""
            found: dict[str, bytes] = {}
            with tarfile.open(fileobj=io.BytesIO(output)) as tar:
                for member in tar:
                    extracted = tar.extractfile(member) if member.isfile() else None
                    if extracted is not None:
                        found["/" + member.name.lstrip("/")] = extracted.read()
            return found
        except (docker.errors.DockerException, tarfile.TarError):
            return {}

    @staticmethod
    def _error_part(status: int, message: str, code: str) -> bytes:
        body = {"statusCode": status, "message": message, "code": code, "source": SOURCE_DAEMON}
        return json.dumps(body).encode()

    async def _find(self, sandbox: Sandbox, path: str, *depth_args: str) -> list[dict[str, Any]]:
        exit_code, output = await self.service.exec(
            sandbox, ["find", path, *depth_args, "-printf", FIND_FORMAT]
        )
        text = output.decode(errors="replace")
        if exit_code != 0:
            raise _not_found_or(text, daemon_error(400, text.strip(), "FILE_READ_FAILED"))
        return [_file_info(line) for line in text.splitlines() if line.count("\t") >= 8]

    async def list_files(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        depth = request.query.get("depth") or "1"
        if not depth.isdigit() or int(depth) < 1:
            raise daemon_error(400, "depth must be a positive integer", "BAD_REQUEST")
        path = resolve(request.query.get("path"))
        infos = await self._find(sandbox, path, "-mindepth", "1", "-maxdepth", depth)
        return _json(infos)

    async def file_info(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        infos = await self._find(sandbox, resolve(request.query.get("path")), "-maxdepth", "0")
        if not infos:
            raise daemon_error(404, "file not found", "FILE_NOT_FOUND")
        return _json(infos[0])

    async def create_folder(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        path = resolve(request.query.get("path"))
        mode = request.query.get("mode") or "755"
        if not mode.isdigit():
            raise daemon_error(400, "invalid mode", "BAD_REQUEST")
        exit_code, output = await self.service.exec(sandbox, ["mkdir", "-p", "-m", mode, path])
        if exit_code != 0:
            text = output.decode(errors="replace")
            raise _not_found_or(text, daemon_error(400, text.strip(), "INVALID_FILE_PATH"))
        return web.Response(status=201)

    async def set_permissions(self, request: web.Request) -> web.Response:
        """set_file_permissions.go: stat, then chmod (octal ``mode``), then chown (``owner`` and
        ``group`` as numbers or names)."""
        sandbox = self._sandbox(request)
        query = request.query
        if not query.get("path"):
            raise daemon_error(400, "path is required", "BAD_REQUEST")
        path = resolve(query["path"])
        code, output = await self.service.exec(sandbox, ["stat", "-c", "%a", "--", path])
        if code != 0:
            text = output.decode(errors="replace")
            if "No such file or directory" in text:
                raise daemon_error(404, f"stat {path}: no such file or directory", "FILE_NOT_FOUND")
            if "Permission denied" in text:
                raise daemon_error(403, f"stat {path}: permission denied", "FILE_ACCESS_DENIED")
            raise daemon_error(400, text.strip(), "BAD_REQUEST")
        mode = query.get("mode", "")
        if mode:
            try:
                number = int(mode, 8)
            except ValueError:
                raise daemon_error(400, "invalid mode format", "BAD_REQUEST") from None
            code, output = await self.service.exec(sandbox, ["chmod", f"{number:o}", "--", path])
            if code != 0:
                reason = output.decode(errors="replace").strip()
                raise daemon_error(400, f"failed to change mode: {reason}", "BAD_REQUEST")
        owner, group = query.get("owner", ""), query.get("group", "")
        if owner or group:
            uid = await self._account_id(sandbox, owner, ["id", "-u", owner], "user not found")
            gid = await self._account_id(
                sandbox, group, ["getent", "group", group], "group not found"
            )
            spec = (uid or "") + (f":{gid}" if gid else "")
            # the daemon runs as root; the emulator's exec user gets there through sudo
            code, output = await self.service.exec(
                sandbox, ["sudo", "-n", "chown", spec, "--", path]
            )
            if code != 0:
                reason = output.decode(errors="replace").strip()
                raise daemon_error(400, f"failed to change ownership: {reason}", "BAD_REQUEST")
        return web.Response(status=200)

    async def _account_id(
        self, sandbox: Sandbox, value: str, lookup: list[str], missing: str
    ) -> str | None:
        if not value:
            return None
        if value.lstrip("-").isdigit():
            return value
        code, output = await self.service.exec(sandbox, lookup)
        text = output.decode(errors="replace").strip()
        if code != 0 or not text:
            raise daemon_error(400, missing, "BAD_REQUEST")
        return text.split(":")[2] if ":" in text else text

    async def delete_file(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        path = resolve(request.query.get("path"))
        recursive = request.query.get("recursive", "false").lower() == "true"
        argv = ["rm", "-r", "--", path] if recursive else ["rm", "--", path]
        exit_code, output = await self.service.exec(sandbox, argv)
        if exit_code != 0:
            text = output.decode(errors="replace")
            raise _not_found_or(text, daemon_error(400, text.strip(), "BAD_REQUEST"))
        return web.Response(status=204)

    # git ---------------------------------------------------------------------
    async def git_clone(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._json_body(request)
        url, path = body.get("url"), body.get("path")
        if not isinstance(url, str) or not url or not isinstance(path, str) or not path:
            raise daemon_error(400, "url and path are required", "BAD_REQUEST")
        username, password = body.get("username"), body.get("password")
        if username and password and url.startswith(("http://", "https://")):
            parts = urllib.parse.urlsplit(url)
            creds = (
                f"{urllib.parse.quote(username, safe='')}:{urllib.parse.quote(password, safe='')}"
            )
            url = urllib.parse.urlunsplit(parts._replace(netloc=f"{creds}@{parts.hostname}"))
        argv = ["git"]
        if body.get("insecure_skip_tls"):
            argv += ["-c", "http.sslVerify=false"]
        argv += ["clone", "--quiet"]
        if body.get("branch"):
            argv += ["--branch", str(body["branch"])]
        if isinstance(body.get("depth"), int) and body["depth"] > 0:
            argv += ["--depth", str(body["depth"])]
        dest = resolve(path)
        argv += ["--", url, dest]
        exit_code, output = await self.service.exec(sandbox, argv, env={"GIT_TERMINAL_PROMPT": "0"})
        if exit_code != 0:
            raise self._git_error(output.decode(errors="replace"))
        commit = body.get("commit_id")
        if commit:
            exit_code, output = await self.service.exec(
                sandbox, ["git", "-C", dest, "checkout", "--quiet", "--detach", str(commit)]
            )
            if exit_code != 0:
                raise self._git_error(output.decode(errors="replace"))
        return web.Response(status=200)

    @staticmethod
    def _git_error(text: str) -> ApiError:
        message = text.strip() or "git command failed"
        lowered = message.lower()
        if "authentication failed" in lowered or "could not read username" in lowered:
            return daemon_error(401, message, "GIT_AUTH_FAILED")
        if "remote branch" in lowered and "not found" in lowered:
            return daemon_error(404, message, "GIT_BRANCH_NOT_FOUND")
        if (
            "does not appear to be a git repository" in lowered
            or "repository not found" in lowered
            or ("repository" in lowered and "does not exist" in lowered)
        ):
            return daemon_error(404, message, "GIT_REPO_NOT_FOUND")
        if "already exists and is not an empty directory" in lowered:
            return daemon_error(409, message, "CONFLICT")
        if "could not resolve host" in lowered or "unable to access" in lowered:
            return daemon_error(502, message, "GIT_TRANSPORT_FAILED")
        return daemon_error(400, message, "BAD_REQUEST")

    async def git_status(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        path = resolve(request.query.get("path"))
        exit_code, output = await self.service.exec(
            sandbox, ["git", "-C", path, "status", "--porcelain=v1", "--branch"]
        )
        text = output.decode(errors="replace")
        if exit_code != 0:
            raise daemon_error(400, text.strip(), "BAD_REQUEST")
        lines = text.splitlines()
        head = lines[0][3:] if lines and lines[0].startswith("## ") else ""
        status: dict[str, Any] = {"currentBranch": "", "fileStatus": [], "detached": False}
        branch_part, _, tracking = head.partition(" [")
        local, _, upstream = branch_part.partition("...")
        if local.startswith("HEAD (no branch)"):
            status["detached"] = True
        else:
            status["currentBranch"] = local.removeprefix("No commits yet on ")
        status["upstream"] = upstream
        status["branchPublished"] = bool(upstream)
        for item in tracking.rstrip("]").split(", "):
            if item.startswith("ahead "):
                status["ahead"] = int(item.split()[1])
            elif item.startswith("behind "):
                status["behind"] = int(item.split()[1])
        for line in lines[1:]:
            staging, worktree, name = line[0], line[1], line[3:]
            extra = ""
            if " -> " in name:
                extra, name = name.split(" -> ", 1)
            status["fileStatus"].append(
                {
                    "name": name,
                    "staging": _GIT_STATUS.get(staging, "Unmodified"),
                    "worktree": _GIT_STATUS.get(worktree, "Unmodified"),
                    "extra": extra,
                }
            )
        return _json(status)
