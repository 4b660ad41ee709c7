"""Locate the real Claude Code CLI and build an environment that confines it to a fake API.

Owns: test-side knowledge of *how* to run ``claude`` hermetically (binary discovery and the
environment variables). What each variable does was verified against 2.1.197 with strace and
a logging server:

* ``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_API_KEY`` (any non-empty dummy): every model request
  goes to the fake server. Without a key the CLI answers "Not logged in · Please run /login"
  (result ``is_error: true``, exit 1) without calling the API at all.
* ``IS_SANDBOX=1``: required because tests run as root and ``--dangerously-skip-permissions``
  is otherwise refused ("cannot be used with root/sudo privileges", exit 1).
* ``HOME`` (and ``CLAUDE_CONFIG_DIR`` inside it): the CLI writes ``~/.claude.json``, session
  transcripts and backups; a temp dir keeps the developer's real config out of the test.
* ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``: the one that matters for isolation.
  Without it the CLI resolves api.anthropic.com for first-party event logging (queued to
  ``~/.claude/telemetry/1p_failed_events.*`` when offline) *and* sends a title-generation
  request to the fake server concurrently with the main loop. With it, strace shows only
  connections to the fake server and no DNS lookups.
* ``DISABLE_AUTOUPDATER``, ``DISABLE_TELEMETRY``, ``DISABLE_ERROR_REPORTING``,
  ``DISABLE_BUG_COMMAND``: implied by the flag above in 2.1.197; set anyway as
  belt-and-braces against a future release splitting them out again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def find_claude_binary() -> Path | None:
    """``$SAMOFLOW_CLAUDE_BIN``, then ``<repo>/node_modules/.bin/claude``, then ``PATH``."""
    explicit = os.environ.get("SAMOFLOW_CLAUDE_BIN")
    if explicit:
        path = Path(explicit)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    local = REPO_ROOT / "node_modules" / ".bin" / "claude"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("claude")
    return Path(found) if found else None


def claude_env(base_url: str, home: Path) -> dict[str, str]:
    """A complete (not merged) environment for running ``claude`` against ``base_url``.

    Built from scratch rather than copied from ``os.environ`` so that a developer's real
    ``ANTHROPIC_API_KEY``, ``CLAUDE_CONFIG_DIR``, proxies or model overrides cannot leak in.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        # PATH: the CLI's Bash tool and hooks need a normal shell environment.
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-api03-fake-key-for-tests",
        "IS_SANDBOX": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
        # Requests to 127.0.0.1 must never go through a proxy inherited from CI.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    return env
