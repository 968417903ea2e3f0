"""Builds the Nexus workspace image once per (Dockerfile content, base image) and caches it by hash."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import tarfile
from importlib import resources
from typing import Any

from ...domain.errors import ErrorCode, NexusError
from ...domain.progress import Progress

log = logging.getLogger(__name__)

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


_NOT_FOUND_HINT = (
    "Pull it (`docker pull {image}`) or build it, then retry; or choose another with --image "
    "or `nexus config set backends.docker.base_image IMAGE` (a Debian-based image)."
)


def _image_error(exc: Exception) -> str:
    import docker.errors

    text = exc.explanation if isinstance(exc, docker.errors.APIError) else None
    return str(text or exc).strip().splitlines()[0][:300] if str(text or exc).strip() else ""


def _invalid_reference(base_image: str, detail: str) -> NexusError:
    return NexusError(
        ErrorCode.IMAGE_INVALID,
        f"'{base_image}' is not a valid image reference: {detail}",
        "Use a reference like `debian:bookworm-slim` or `registry.example.com/team/image:tag` "
        "(lowercase repository name).",
    )


def _base_image(client: Any, base_image: str, progress: Progress) -> Any:
    """The base image from the engine; pulled once if the engine lacks it."""
    import docker.errors

    try:
        return client.images.get(base_image)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        # the engine answers 400 for a malformed reference ("invalid reference format")
        if exc.status_code == 400 or "invalid reference" in _image_error(exc):
            raise _invalid_reference(base_image, _image_error(exc)) from None
        raise NexusError(
            ErrorCode.DOCKER_ERROR,
            f"Docker failed to look up image '{base_image}': {_image_error(exc)}",
            "Check `docker info` and the engine's log.",
        ) from None
    progress.step("image", f"Pulling base image {base_image}")
    try:
        client.api.pull(base_image)  # a tag, a digest, or `latest` when neither is given
        return client.images.get(base_image)
    except docker.errors.APIError as exc:
        detail = _image_error(exc)
        if exc.status_code == 400 or "invalid reference" in detail or "invalid tag" in detail:
            raise _invalid_reference(base_image, detail) from None
        raise NexusError(
            ErrorCode.IMAGE_NOT_FOUND,
            f"image '{base_image}' is not on the Docker engine and could not be pulled"
            + (f": {detail}" if detail else ""),
            _NOT_FOUND_HINT.format(image=base_image),
        ) from None


_LAYER = re.compile(r"---> ([0-9a-f]{12,64})")


def _remove_layers(client: Any, layers: list[str], base_id: str) -> None:
    """After a failed build: remove the untagged layers it made, newest first (never the base,
    never a tagged image, never one another image still needs: the engine refuses those)."""
    for layer in reversed(layers):
        if base_id.removeprefix("sha256:").startswith(layer):
            continue
        try:
            if client.images.get(layer).tags:
                continue
            client.images.remove(layer, noprune=False)
        except Exception as exc:  # best effort: the build error is what the user needs
            log.debug("could not remove build layer %s: %s", layer, exc)


def ensure_image(client: Any, base_image: str, progress: Progress) -> str:
    """Return the tag of the workspace image for ``base_image``, building it if the engine lacks it."""
    import docker.errors

    base = _base_image(client, base_image, progress)
    files = _image_files()
    tag = image_tag(base.id, files)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    progress.step("image", f"Building workspace image {tag} (once per base image)")
    log_tail: list[str] = []
    made: list[str] = []  # layers this build made (not the base, not reused from the cache)
    cached = False
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
                _remove_layers(client, made, base.id)
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
                elif line == "---> Using cache":
                    cached = True
                elif layer := _LAYER.fullmatch(line):
                    if not cached:
                        made.append(layer.group(1))
                    cached = False
    except docker.errors.APIError as exc:
        _remove_layers(client, made, base.id)
        raise NexusError(
            ErrorCode.IMAGE_BUILD_FAILED,
            f"building the workspace image failed: {exc.explanation or exc}",
            "Check the Docker engine and the base image.",
        ) from exc
    return tag
