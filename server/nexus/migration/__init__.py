"""The workspace export format (docs/migration.md): a tar stream of ``manifest.json``, then
``repo.bundle`` (when the workspace is a git repository with a commit) and ``worktree.tar``."""
