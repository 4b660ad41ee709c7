"""The scripted agent: a real, separate process that follows a scenario, one step per iteration.

It speaks the same contract as Claude Code under samoflow: reads `_hook.json` first, then
`_overview.md`, does its step (files, commits, overview), writes `_signal.json`, exits.
Every run appends what it saw to `_logs/scripted-seen.jsonl`, so tests can check it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from samoflow.agents.scenario import Scenario, Step, read_validated_scenario
from samoflow.agents.scripted_fixup import fixup_branch, fixup_step, merge_integration
from samoflow.atomic import atomic_append_line, atomic_write_json, atomic_write_text
from samoflow.economy.report_lines import USAGE_PREFIX
from samoflow.session import files
from samoflow.session.status_section import set_field

GIT_IDENTITY = [
    "-c",
    "user.name=samoflow scripted agent",
    "-c",
    "user.email=scripted@samoflow.invalid",
]


def _render(text: str, hook: dict[str, Any]) -> str:
    for key in ("session", "iteration", "phase", "task", "attempt"):
        text = text.replace("{" + key + "}", str(hook.get(key, "")))
    return text


def _stamp(iteration: int) -> str:
    return f"[{iteration:03d} @ {datetime.now(UTC):%m-%d %H:%M}]"


def _write_overview(session: Path, hook: dict[str, Any], step: Step) -> None:
    path = session / files.OVERVIEW
    iteration = int(hook["iteration"])
    action = step.summary or f"iteration {iteration}"
    if step.overview == "init" or not path.exists():
        text = (
            f"# Session: {hook['session']}\nStarted: {datetime.now(UTC):%m-%d %H:%M}\n"
            f"Working Dir: {hook['working_dir']}\n\n## Task\n{hook.get('task', '')}\n\n"
            f"## Status\nPhase: {hook['phase']}\nIteration: {iteration}\n"
            f"Total Iterations: {hook['total_iterations']}\nBlocked: no\n"
            f"Last Action: {action}\nNext: investigation\n\n## Flow Log\n"
        )
    else:
        text = path.read_text(encoding="utf-8")
        text = set_field(text, "Iteration", str(iteration))
        text = set_field(text, "Last Action", action)
    atomic_write_text(path, text.rstrip("\n") + f"\n- {_stamp(iteration)} {action}\n")


def _append_to_overview(session: Path, lines: list[str]) -> None:
    path = session / files.OVERVIEW
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic_write_text(path, text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def _commit(working_dir: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=working_dir, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=working_dir)
    if staged.returncode != 0:
        subprocess.run(
            ["git", *GIT_IDENTITY, "commit", "-q", "-m", message], cwd=working_dir, check=True
        )


def _unread_inbox(session: Path) -> list[dict[str, Any]]:
    inbox = session / files.INBOX
    messages = []
    for path in sorted(inbox.glob("msg-*.json")) if inbox.is_dir() else []:
        messages.append(json.loads(path.read_text(encoding="utf-8")))
    return messages


CHECK_FAILURE = "check_failure"


def _check_failures(session: Path) -> tuple[int, int]:
    """(unread, handled) `check_failure` messages: the agent's memory of red checks."""
    counts = []
    for folder in (session / files.INBOX, session / files.INBOX / "read"):
        paths = sorted(folder.glob("msg-*.json")) if folder.is_dir() else []
        kinds = [json.loads(path.read_text(encoding="utf-8")).get("kind") for path in paths]
        counts.append(kinds.count(CHECK_FAILURE))
    return counts[0], counts[1]


def _choose_step(scenario: Scenario, session: Path, iteration: int) -> Step | None:
    if scenario.on_check_failure is None:
        return scenario.step_for(iteration)
    unread, handled = _check_failures(session)
    if unread:
        return scenario.on_check_failure
    return scenario.step_for(iteration - handled)


def _handoff_state(session: Path) -> Any:
    path = session / files.HANDOFF
    return json.loads(path.read_text(encoding="utf-8")).get("state") if path.exists() else None


def _misbehave(step: Step, attempt: int) -> None:
    if attempt in step.hang_on_attempts:
        while True:  # a hung agent: only the orchestrator's timeout ends this
            time.sleep(3600)
    if attempt in step.kill_on_attempts:
        os.kill(os.getpid(), signal.SIGKILL)
    if attempt in step.crash_on_attempts:
        print(f"scripted agent: crashing on purpose at attempt {attempt}", file=sys.stderr)
        sys.exit(3)


def run_step(step: Step, session: Path, working_dir: Path, hook: dict[str, Any]) -> int:
    attempt = int(hook.get("attempt", 1))
    print(f"scripted agent: iteration {hook['iteration']} attempt {attempt} ({hook['phase']})")
    if step.sleep:
        time.sleep(step.sleep)
    while step.wait_for and not Path(step.wait_for).exists():
        time.sleep(0.05)  # the agent's timeout bounds this
    _misbehave(step, attempt)
    if step.overview:
        _write_overview(session, hook, step)
    if step.merge_integration:
        merge_integration(working_dir, fixup_branch(session), step.merge_integration, GIT_IDENTITY)
    for relative, content in step.write.items():
        target = working_dir / _render(relative, hook)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_render(content, hook), encoding="utf-8")
    if step.commit:
        _commit(working_dir, _render(step.commit, hook))
    if step.echo_inbox:
        texts = [f"- inbox from {m.get('from')}: {m.get('text')}" for m in _unread_inbox(session)]
        _append_to_overview(session, texts or ["- inbox: empty"])
    if step.echo_handoff:
        _append_to_overview(session, [f"- handoff state: {json.dumps(_handoff_state(session))}"])
    for number, item in enumerate(step.send, start=1):
        name = f"{hook['iteration']:04d}-{number}-{item['to']}.json"
        message = {**item, "text": _render(item["text"], hook)}
        atomic_write_json(session / files.OUTBOX / name, message)
    if step.usage:
        print(USAGE_PREFIX + json.dumps(step.usage), flush=True)
    if step.raw_signal is not None:
        atomic_write_text(session / files.SIGNAL, step.raw_signal)
    elif step.signal is not None:
        atomic_write_json(session / files.SIGNAL, step.signal)
    return step.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", required=True, type=Path)
    args = parser.parse_args(argv)
    session = Path(os.environ["SAMOFLOW_SESSION_DIR"])
    working_dir = Path(os.environ.get("SAMOFLOW_WORKING_DIR", os.getcwd()))
    hook = json.loads(Path(os.environ["SAMOFLOW_HOOK"]).read_text(encoding="utf-8"))
    prompt = sys.stdin.read() if not sys.stdin.isatty() else ""
    seen = {
        "iteration": hook["iteration"],
        "attempt": hook.get("attempt", 1),
        "phase": hook["phase"],
        "hook": hook,
        "prompt_mentions_handoff": "Handoff" in prompt,
        "prompt_chars": len(prompt),
        "inbox": [m.get("id") for m in _unread_inbox(session)],
    }
    atomic_append_line(session / files.LOGS / "scripted-seen.jsonl", json.dumps(seen))
    scenario = read_validated_scenario(args.scenario)
    iteration = int(hook["iteration"])
    step = fixup_step(scenario, session, iteration) or _choose_step(scenario, session, iteration)
    if step is None:
        atomic_write_json(
            session / files.SIGNAL,
            {"status": "blocked", "reason": f"scenario has no step {hook['iteration']}"},
        )
        return 0
    return run_step(step, session, working_dir, hook)


if __name__ == "__main__":
    sys.exit(main())
