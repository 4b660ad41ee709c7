"""Git: one worktree per session, merges into integration branches, clean-up."""
