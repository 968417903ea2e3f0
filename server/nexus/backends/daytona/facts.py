"""What the service knows of the Daytona backend without building it."""

from ...domain.backend import BackendFacts
from ...domain.errors import ErrorCode

FACTS = BackendFacts(
    mounts_local_folder=False,
    create_options=frozenset(
        {
            "region",
            "auto_stop_minutes",
            "ephemeral",
            "snapshot",
            "git_url",
            "git_branch",
            "env",
            "source_path",
            "worktree",
            "base",
        }
    ),
    token_auth=True,
    ssh_ready="login",
    whole_resources=True,
    resource_kind="sandbox",
    cleanup_command="daytona sandbox delete {ref} (or delete it in the Daytona dashboard)",
    resource_name_key="sandbox_name",
    required_setting="api_key",
    stopped_code=ErrorCode.DAYTONA_SANDBOX_STOPPED,
    unavailable_code=ErrorCode.DAYTONA_UNAVAILABLE,
    bulk_copy=("daytona.file.upload", "daytona.file.download"),
    bulk_copy_threshold="backends.daytona.sync.use_file_api_threshold",
    syncs_local_folder=True,
)
