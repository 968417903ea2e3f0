"""The sandbox image: built from the shipped Dockerfile, cached by content hash."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import docker
import docker.errors

log = logging.getLogger(__name__)

IMAGE_DIR = Path(__file__).parent / "image"
IMAGE_REPO = "nexus-daytona-emu"
BASE_IMAGE = "debian:bookworm-slim"

_build_lock = threading.Lock()


def context_hash(directory: Path = IMAGE_DIR) -> str:
    """Hash of every file in the build context (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def image_tag(directory: Path = IMAGE_DIR) -> str:
    return f"{IMAGE_REPO}:{context_hash(directory)}"


def ensure_image(client: docker.DockerClient, directory: Path = IMAGE_DIR) -> str:
    """Return the tag of the sandbox image, building it once if it is missing."""
    tag = image_tag(directory)
    with _build_lock:
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        log.info("building sandbox image %s", tag)
        client.images.build(path=str(directory), tag=tag, rm=True, forcerm=True, pull=False)
    return tag


def main() -> None:
    print(ensure_image(docker.from_env()))


if __name__ == "__main__":
    main()
