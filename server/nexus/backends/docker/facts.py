"""What the service knows of the Docker backend without building it."""

from ...domain.backend import BackendFacts
from ...domain.errors import ErrorCode

FACTS = BackendFacts(
    mounts_local_folder=True,
    create_options=frozenset({"source_path", "worktree", "base", "env"}),
    token_auth=False,
    ssh_ready="banner",
    whole_resources=False,
    resource_kind="container",
    cleanup_command="docker rm -f {ref}",
    resource_name_key="container_name",
    unavailable_code=ErrorCode.DOCKER_UNAVAILABLE,
)
