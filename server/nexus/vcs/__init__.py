"""Host-side git: one worktree and branch per workspace."""
