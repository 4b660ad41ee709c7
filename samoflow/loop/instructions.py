"""The instructions an agent is given: built-in texts, a project's overrides, its context files.

Order: workflow, role, phase, then the project's context files. `<dir>/<name>.md` replaces
the built-in text of that name (`workflow`, `coordinator` / `worker`, a phase); a session
taken over from samocode may use samocode's `<phase>-agent.md`. A file the project names
that is missing or unreadable is an error, never a silent fallback to the built-in text.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.project import LOCAL_DIR, PromptConfig, load_config
from samoflow.session.phases import Phase
from samoflow.session.spec import SessionSpec

FRONTMATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


class PromptError(ValueError):
    """An instruction file the project asked for that cannot be used."""


class PromptSources(BaseModel):
    """Where this session's instructions come from."""

    model_config = ConfigDict(frozen=True)

    main_repo: Path | None = None  # None: built-in texts only
    config: PromptConfig = PromptConfig()
    taken_over: bool = False


def sources_for(spec: SessionSpec) -> PromptSources:
    repo = Path(spec.repo)
    return PromptSources(
        main_repo=repo,
        config=load_config(repo).prompts,
        taken_over=spec.taken_over_from is not None,
    )


@functools.cache  # files of the installed package: read once per process, not per prompt
def builtin_text(name: str) -> str:
    return resources.files("samoflow.loop").joinpath(f"prompts/{name}.md").read_text("utf-8")


def _read(path: Path, why: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise PromptError(f"{path} ({why}) does not exist") from error
    except (OSError, UnicodeDecodeError) as error:
        raise PromptError(f"{path} ({why}) is unreadable: {error}") from error


def _override_dir(sources: PromptSources) -> Path | None:
    assert sources.main_repo is not None
    if sources.config.dir is None:
        return sources.main_repo / LOCAL_DIR / "prompts"  # looked for, not required
    named = (sources.main_repo / sources.config.dir).expanduser()
    if not named.is_dir():
        raise PromptError(f"{named} (prompts dir in .samoflow.toml) is not a directory")
    return named


def _section(sources: PromptSources, name: str, samocode_name: str | None = None) -> str:
    """The project's file for `name` when there is one, else samocode's, else the built-in."""
    if sources.main_repo is None:
        return builtin_text(name)
    folder = _override_dir(sources)
    short = name.removeprefix("role-")
    candidate = folder / f"{short}.md" if folder is not None else None
    if candidate is not None and (candidate.exists() or candidate.is_symlink()):
        return f"<!-- from {candidate} -->\n" + _read(candidate, "project prompt override")
    if samocode_name and sources.taken_over and sources.config.samocode_agents:
        agents = (sources.main_repo / sources.config.samocode_agents).expanduser()
        agent = agents / samocode_name
        text = FRONTMATTER.sub("", _read(agent, "samocode agent named in .samoflow.toml"))
        return f"<!-- from {agent} -->\n" + text
    return builtin_text(name)


def _context(sources: PromptSources) -> list[str]:
    if sources.main_repo is None:
        return []
    parts = []
    for name in sources.config.context:
        path = (sources.main_repo / name).expanduser()
        text = _read(path, "context file named in .samoflow.toml")
        parts.append(f"## Project context: {name}\n\n{text.strip()}")
    return parts


def instructions_for(phase: Phase, role: str, sources: PromptSources | None = None) -> str:
    sources = sources or PromptSources()
    return "\n\n".join(
        (
            _section(sources, "workflow"),
            _section(sources, f"role-{role}"),
            _section(sources, phase.value, f"{phase.value}-agent.md"),
            *_context(sources),
        )
    )
