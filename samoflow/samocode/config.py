"""`.samocode`: a project's MAIN_REPO, WORKTREES and SESSIONS, read and checked as samocode does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_text
from samoflow.project import CONFIG_NAME, ProjectConfig

REQUIRED_KEYS = ("MAIN_REPO", "WORKTREES", "SESSIONS")


class SamocodeConfigError(ValueError):
    """A `.samocode` file samocode itself would refuse; the text is samocode's message."""


class SamocodeConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    main_repo: Path
    worktrees: Path
    sessions: Path

    def as_project(self) -> ProjectConfig:
        return ProjectConfig(
            main_repo=self.main_repo, worktrees=self.worktrees, sessions=self.sessions
        )


def _parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and `#` comments skipped; a value may hold `=`."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def _path_errors(config: SamocodeConfig) -> list[str]:
    errors = []
    paths = (config.main_repo, config.worktrees, config.sessions)
    for key, path in zip(REQUIRED_KEYS, paths, strict=True):
        if not path.exists():
            errors.append(f"{key} does not exist: {path}")
        elif not path.is_dir():
            errors.append(f"{key} is not a directory: {path}")
    return errors


def load_samocode_config(path: Path) -> SamocodeConfig:
    """The file at `path` (`~` expanded), with samocode's validation messages on failure."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise SamocodeConfigError(f"Config file not found: {path}")
    if not path.is_file():
        raise SamocodeConfigError(f"Config path is not a file: {path}")
    values = _parse(path.read_text(encoding="utf-8"))
    missing = sorted(set(REQUIRED_KEYS) - set(values))
    if missing:
        raise SamocodeConfigError(f"Missing required fields in {path}: {', '.join(missing)}")
    main_repo, worktrees, sessions = (
        Path(values[key]).expanduser().resolve() for key in REQUIRED_KEYS
    )
    config = SamocodeConfig(path=path, main_repo=main_repo, worktrees=worktrees, sessions=sessions)
    errors = _path_errors(config)
    if errors:
        raise SamocodeConfigError(
            "Configuration errors:\n" + "\n".join(f"  - {error}" for error in errors)
        )
    return config


def resolve_session_name(sessions: Path, name: str, today: datetime | None = None) -> str:
    """samocode's rule: the folder `name`, else the newest `*-name`, else `YY-MM-DD-name`."""
    if (sessions / name).is_dir():
        return name
    for match in sorted(sessions.glob(f"*-{name}"), reverse=True):
        if match.is_dir():
            return match.name
    return f"{(today or datetime.now()).strftime('%y-%m-%d')}-{name}"


def write_samoflow_config(config: SamocodeConfig) -> Path:
    """`samoflow init --from-samocode`: the same three folders, in MAIN_REPO/.samoflow.toml."""
    target = config.main_repo / CONFIG_NAME
    atomic_write_text(
        target,
        f"# samoflow project settings, from {config.path}\n"
        f"main_repo = {_toml_string(config.main_repo)}\n"
        f"worktrees = {_toml_string(config.worktrees)}\n"
        f"sessions = {_toml_string(config.sessions)}\n",
    )
    return target


def _toml_string(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
