"""Builds the Nexus workspace image once per (Dockerfile content, base image) and caches it by hash."""

from __future__ import annotations

import hashlib
import io
import tarfile
from importlib import resources
from typing import Any

from ...domain.errors import ErrorCode, NexusError
from ...domain.progress import Progress

IMAGE_REPOSITORY = "nexus-workspace"
_IMAGE_FILES = ("Dockerfile", "sshd_config", "entrypoint.sh")


def _image_files() -> dict[str, bytes]:
    folder = resources.files("nexus.backends.docker") / "image"
    return {name: (folder / name).read_bytes() for name in _IMAGE_FILES}


def image_tag(base_image_id: str, files: dict[str, bytes] | None = None) -> str:
    digest = hashlib.sha256(base_image_id.encode())
    for name, content in sorted((files or _image_files()).items()):
        digest.update(name.encode() + b"\0" + content + b"\0")
    return f"{IMAGE_REPOSITORY}:{digest.hexdigest()[:16]}"


def _context_tar(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def ensure_image(client: Any, base_image: str, progress: Progress) -> str:
    """Return the tag of the workspace image for ``base_image``, building it if the engine lacks it."""
    import docker.errors

    try:
        base = client.images.get(base_image)
    except docker.errors.ImageNotFound:
        raise NexusError(
            ErrorCode.IMAGE_BUILD_FAILED,
            f"base image '{base_image}' is not on the Docker engine",
            f"Run `docker pull {base_image}`, or choose another with "
            "`nexus config set backends.docker.base_image IMAGE` (a Debian-based image).",
        ) from None
    files = _image_files()
    tag = image_tag(base.id, files)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    progress.step("image", f"Building workspace image {tag} (once per base image)")
    log_tail: list[str] = []
    try:
        stream = client.api.build(
            fileobj=_context_tar(files),
            custom_context=True,
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels={"nexus.image": "workspace", "nexus.base": base_image},
        )
        for event in stream:
            if "error" in event:
                raise NexusError(
                    ErrorCode.IMAGE_BUILD_FAILED,
                    f"building the workspace image failed: {event['error'].strip()}",
                    "Check that the base image is Debian-based and its package mirror is reachable.",
                )
            line = str(event.get("stream", "")).strip()
            if line:
                log_tail = [*log_tail[-20:], line]
                if line.startswith("Step "):
                    progress.detail(line)
    except docker.errors.APIError as exc:
        raise NexusError(
            ErrorCode.IMAGE_BUILD_FAILED,
            f"building the workspace image failed: {exc.explanation or exc}",
            "Check the Docker engine and the base image.",
        ) from exc
    return tag
