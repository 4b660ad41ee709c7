"""Keeping sessions alive: leases, the crash monitor, restarts, progress and stalls."""
