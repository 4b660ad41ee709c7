"""`.samoflow.toml`: where a project's main repo, worktrees and sessions live."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samoflow.atomic import atomic_write_text

CONFIG_NAME = ".samoflow.toml"
LOCAL_DIR = ".samoflow"


class ProjectError(ValueError):
    """A project that cannot be used as it is; the message says how to fix it."""


class PromptConfig(BaseModel):
    """`[prompts]`: what a project adds to or replaces in the built-in instructions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    context: tuple[str, ...] = ()  # files (e.g. CLAUDE.md) every agent is given
    dir: str | None = None  # <phase>.md, <role>.md replace the built-ins; .samoflow/prompts
    samocode_agents: str | None = None  # taken-over sessions: samocode's <phase>-agent.md


class ChecksConfig(BaseModel):
    """`[checks]`: the project's own commands that gate `done` (DESIGN §9)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commands: tuple[str, ...] = ()  # each run with the shell, in the session's worktree
    timeout_seconds: float = Field(default=1800.0, gt=0)  # per command
    max_rounds: int = Field(default=3, ge=1)  # red rounds before the session blocks

    def with_commands(self, commands: tuple[str, ...] | list[str] | None) -> ChecksConfig:
        """A session's or convoy member's own `checks = [...]`, overriding the project's."""
        return self if commands is None else self.model_copy(update={"commands": tuple(commands)})


class DeliveryConfig(BaseModel):
    """`[delivery]`: where green work goes (a remote to push to, a pull-request command)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    push: str | None = None  # a remote name, e.g. "origin"; None: nothing leaves the machine
    # A command template ({base} {branch} {title} {body_file}); None: `gh pr create ...` when
    # the remote is GitHub and gh is on PATH, else no pull request.
    pull_request: str | None = None


class ProjectConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    main_repo: Path
    worktrees: Path
    sessions: Path
    base_branch: str | None = None  # None: the branch checked out in main_repo
    prompts: PromptConfig = PromptConfig()
    checks: ChecksConfig | None = None  # None: no `[checks]`, work is unverified
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)


def default_config(repo: Path) -> ProjectConfig:
    local = repo / LOCAL_DIR
    return ProjectConfig(main_repo=repo, worktrees=local / "worktrees", sessions=local / "sessions")


def _exclude_local_dir(repo: Path) -> None:
    """Keep samoflow's folders out of `git status` without touching tracked files."""
    exclude = repo / ".git" / "info" / "exclude"
    if not exclude.parent.is_dir():
        return
    lines = exclude.read_text(encoding="utf-8").splitlines() if exclude.exists() else []
    if f"/{LOCAL_DIR}/" not in lines:
        atomic_write_text(exclude, "\n".join([*lines, f"/{LOCAL_DIR}/"]) + "\n")


def write_config(repo: Path) -> Path:
    """`samoflow init`: a config with the defaults, paths relative to the repo."""
    path = repo / CONFIG_NAME
    atomic_write_text(
        path,
        "# samoflow project settings (paths are relative to this file)\n"
        'main_repo = "."\n'
        f'worktrees = "{LOCAL_DIR}/worktrees"\n'
        f'sessions = "{LOCAL_DIR}/sessions"\n'
        '# base_branch = "main"   # default: the branch checked out in main_repo\n'
        "\n# [checks]   # the project's checks gate `done` (README: verified delivery)\n"
        '# commands = ["make test"]\n'
        "# timeout_seconds = 1800\n"
        "# max_rounds = 3\n"
        "\n# [delivery]\n"
        '# push = "origin"\n',
    )
    _exclude_local_dir(repo)
    return path


def load_config(repo: Path) -> ProjectConfig:
    """The project's config (or the defaults), with this machine's overrides applied.

    SAMOFLOW_SESSIONS_ROOT / SAMOFLOW_WORKTREES_ROOT let each worker of a scaled-out setup
    keep its own sessions and worktrees while sharing one repository layout.
    """
    config = _load_file_config(repo)
    sessions = os.environ.get("SAMOFLOW_SESSIONS_ROOT")
    worktrees = os.environ.get("SAMOFLOW_WORKTREES_ROOT")
    return config.model_copy(
        update={
            "sessions": Path(sessions).resolve() if sessions else config.sessions,
            "worktrees": Path(worktrees).resolve() if worktrees else config.worktrees,
        }
    )


def sessions_roots(repo: Path) -> list[Path]:
    """Every sessions root of the project on this machine: this worker's own
    (SAMOFLOW_SESSIONS_ROOT) first, then the project's, where the CLI and served convoys
    put their sessions; one root when there is no override."""
    roots = [load_config(repo).sessions, _load_file_config(repo).sessions]
    return list(dict.fromkeys(roots))


def root_holding(session: str, repo: Path | None = None) -> Path:
    """The sessions root on this machine that holds `session` (the first one if none does).

    The project is `repo`, else `SAMOFLOW_REPO` (set by `samoflow up` for its workers)."""
    project = repo or Path(os.environ.get("SAMOFLOW_REPO") or ".").resolve()
    roots = sessions_roots(project)
    return next((root for root in roots if (root / session).is_dir()), roots[0])


def _load_file_config(repo: Path) -> ProjectConfig:
    path = repo / CONFIG_NAME
    if not path.exists():
        _exclude_local_dir(repo)
        return default_config(repo)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        raw = ProjectConfig.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise ProjectError(f"{path} is not a valid samoflow config: {error}") from error
    return ProjectConfig(
        main_repo=(path.parent / raw.main_repo).resolve(),
        worktrees=(path.parent / raw.worktrees).resolve(),
        sessions=(path.parent / raw.sessions).resolve(),
        base_branch=raw.base_branch,
        prompts=raw.prompts,
        checks=raw.checks,
        delivery=raw.delivery,
    )
