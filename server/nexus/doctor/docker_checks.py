"""Docker: the engine answers (and which one: backends.docker.host, DOCKER_HOST or the local
socket), and the workspace image is there."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..domain.errors import NexusError
from .model import Finding, error, ok, warning

if TYPE_CHECKING:
    from ..config.schema import DockerSettings

CHECK = "docker"


def engine_address(settings: DockerSettings) -> str:
    if settings.host:
        return f"{settings.host} (backends.docker.host)"
    if os.environ.get("DOCKER_HOST"):
        return f"{os.environ['DOCKER_HOST']} (DOCKER_HOST)"
    return "the local socket unix:///var/run/docker.sock"


def check_docker(settings: DockerSettings) -> list[Finding]:
    """Blocking: pings the engine, then looks for the images."""
    from ..backends.docker import engine

    where = engine_address(settings)
    try:
        client = engine.connect(settings.host)
    except NexusError as exc:
        return [
            error(
                "DOCTOR_DOCKER_UNREACHABLE",
                f"the Docker engine at {where} does not answer: {exc.message}",
                "Start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST / "
                "`nexus config set backends.docker.host URL` at a running engine; check with "
                "`docker info`.",
                check=CHECK,
                subject=where,
            )
        ]
    try:
        version = str((client.version() or {}).get("Version", "?"))
    except Exception:  # the version is a detail: the ping answered
        version = "?"
    found = [
        ok(
            "DOCTOR_DOCKER_OK",
            f"the Docker engine at {where} answers (version {version})",
            check=CHECK,
            subject=where,
        )
    ]
    try:
        found.append(_image(client, settings.base_image))
    finally:
        client.close()
    return found


def _image(client: Any, base: str) -> Finding:
    import docker.errors

    from ..backends.docker.backend import LABEL_IMAGE, READY_IMAGES
    from ..backends.docker.image_builder import image_tag

    try:
        image = client.images.get(base)
    except docker.errors.ImageNotFound:
        return warning(
            "DOCTOR_DOCKER_IMAGE_MISSING",
            f"the base image {base} is not on the engine: the next create must pull it",
            f"`docker pull {base}` (or choose another: `nexus config set backends.docker."
            "base_image IMAGE`).",
            check=CHECK,
            subject=base,
        )
    except docker.errors.APIError as exc:
        return warning(
            "DOCTOR_DOCKER_IMAGE_MISSING",
            f"the engine refuses the base image reference {base}: {exc.explanation or exc}",
            "`nexus config set backends.docker.base_image IMAGE` with a valid reference.",
            check=CHECK,
            subject=base,
        )
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    if labels.get(LABEL_IMAGE) in READY_IMAGES:
        return ok(
            "DOCTOR_DOCKER_IMAGE_OK", f"{base} is a workspace image", check=CHECK, subject=base
        )
    tag = image_tag(str(image.id))
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return warning(
            "DOCTOR_DOCKER_IMAGE_NOT_BUILT",
            f"the workspace image of {base} ({tag}) is not built yet: the next create builds it "
            "(about a minute)",
            "Nothing to do; `nexus workspace create` builds it.",
            check=CHECK,
            subject=tag,
        )
    return ok(
        "DOCTOR_DOCKER_IMAGE_OK",
        f"the workspace image {tag} (from {base}) is present",
        check=CHECK,
        subject=tag,
    )
