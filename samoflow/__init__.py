"""samoflow: samocode-compatible coding-agent sessions, orchestrated by Prefect 3.

The package holds the domain (file protocol, phases, agents, git); it never imports
Prefect. The Prefect layer lives in the top-level `flows`, `tasks` and `blocks` packages.
"""

__version__ = "0.1.0"
