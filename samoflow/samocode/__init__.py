"""samocode compatibility: its `.samocode` config, its session names, taking over its sessions."""
