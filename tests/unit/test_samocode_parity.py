"""The parity table: each input, samocode's outcome as measured (data), samoflow's outcome.

samocode's outcomes were measured by running samocode db1f044's own functions on each input
(docs/samocode-parity.md says how); they are data here, not code. A case either matches, or
is a deliberate difference listed in the README's "Differences from samocode" table.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from samoflow.samocode.config import (
    SamocodeConfigError,
    load_samocode_config,
    resolve_session_name,
)
from samoflow.session.history import HistoryError, read_history
from samoflow.session.overview import parse_status, set_field
from samoflow.session.phases import REGISTRY, Phase, SignalStatus, parse_phase
from samoflow.session.state import load_state
from tests.support.samocode_replay import (
    OVERVIEW,
    iterate,
    loop_outcome,
    signal_outcome,
    taken_over_folder,
)

ROOT = Path(__file__).resolve().parents[2]
MEASURED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "samocode_measured.json").read_text(encoding="utf-8")
)

# Every case where samoflow keeps a different outcome on purpose (the README says why).
DIFFERENCES = {
    "signals_allowed.investigation:handoff",
    "signals_allowed.requirements:handoff",
    "signals_allowed.planning:handoff",
    "signals_allowed.implementation:handoff",
    "signals_allowed.testing:handoff",
    "signals_allowed.quality:handoff",
    "signals.handoff_status",
    "signals.spaced_done_in_done",
    "signals.agent_leaves_prewritten_empty",
    "signals.planning_waiting_naming_implementation",
    "signals.blocked_naming_other_phase",
    "loops.empty_signals_forever",
    "loops.implementation_stays_after_transition_row",
    "rows.continue_next",
    "history.corrupt_line_between",
    "overview.extract_roadmap_in_task",
    "overview.update_roadmap_in_task",
    "overview.update_no_phase_line",
    "overview.trailing_spaces_iteration",
    "overview.trailing_spaces_total",
    "overview.total_after_four_fresh",
    "config.exit_code",
}
# Loops where a human's answer only answers questions (samocode: the phase stays).
QA_ANSWER_LOOPS = {"qa_loop_requirements"}


def _registry_cases() -> list[tuple[str, Any, Any]]:
    cases: list[tuple[str, Any, Any]] = []
    for key, allowed in MEASURED["transitions"].items():
        source, target = (Phase(p) for p in key.split("->"))
        ours = target is source or target in REGISTRY[source].next_phases
        cases.append((f"transitions.{key}", allowed, ours))
    for key, allowed in MEASURED["signals_allowed"].items():
        phase, status = key.split(":")
        ours = SignalStatus(status) in REGISTRY[Phase(phase)].allowed_signals
        cases.append((f"signals_allowed.{key}", allowed, ours))
    for phase, limit in MEASURED["limits"].items():
        cases.append((f"limits.{phase}", limit, REGISTRY[Phase(phase)].iteration_limit))
    for phase, gated in MEASURED["gates"].items():
        cases.append((f"gates.{phase}", gated, REGISTRY[Phase(phase)].gated))
    return cases


def _signal_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    cases = []
    for name, case in MEASURED["signals"].items():
        theirs = {k: case[k] for k in ("status", "needs", "phase_after")}
        ours = signal_outcome(tmp / f"sig-{name}", case["phase"], case["raw"])
        cases.append((f"signals.{name}", theirs, ours))
    return cases


def _row_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    """The `phase` a history row records: samocode's is the signal's, ours the one it ran in."""
    cases = []
    for name in ("continue_next", "continue_stay", "requirements_waiting_qa"):
        case = MEASURED["signals"][name]
        files = taken_over_folder(tmp / f"row-{name}", case["phase"])
        iterate(files, case["raw"])
        cases.append((f"rows.{name}", case["row"]["phase"], read_history(files.history)[-1].phase))
    fallback = MEASURED["history"]["row_phase_fallback"]
    files = taken_over_folder(tmp / "row-fallback", "testing")
    iterate(files, '{"status": "continue"}')
    cases.append(("rows.fallback", fallback["phase"], read_history(files.history)[-1].phase))
    return cases


def _loop_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    cases = []
    for name, case in MEASURED["loops"].items():
        theirs = {k: case.get(k) for k in ("stopped", "at_iteration", "phase_after")}
        ours = loop_outcome(
            tmp / f"loop-{name}", case["start_phase"], case["steps"], name not in QA_ANSWER_LOOPS
        )
        cases.append((f"loops.{name}", theirs, {k: ours.get(k) for k in theirs}))
    return cases


def _history_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    cases = []
    for name, case in MEASURED["history"].items():
        if name == "row_phase_fallback":
            continue
        files = taken_over_folder(tmp / f"hist-{name}", "implementation")
        files.history.write_text(case["text"], encoding="utf-8")
        theirs = {"count": case["count"], "entries": case["entries"]}
        try:
            counts = load_state(files).standing_for(Phase.IMPLEMENTATION).requested_counts
            ours: Any = {
                "count": counts.get("implementation", 0),
                "entries": len(read_history(files.history)),
            }
        except HistoryError:
            ours = "refused"
        cases.append((f"history.{name}", theirs, ours))
    return cases


def _overview_outcome(case: dict[str, Any]) -> Any:
    text, op = case["text"], case["op"]
    if text is None:
        return None
    status = parse_status(text)
    if op == "extract_phase":
        return status.phase
    if op == "extract_iteration":
        return status.iteration
    if op == "extract_total":
        return status.total_iterations or 0
    if op == "update_phase":
        changed = set_field(text, "Phase", case["arg"])
        return {"updated": changed != text, "text": changed}
    assert op == "increment_total"
    return {"value": 1, "text": set_field(text, "Total Iterations", "1", after="Iteration")}


def _overview_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    cases = []
    for name, case in MEASURED["overview"].items():
        if name == "total_after_four_fresh":
            files = taken_over_folder(tmp / "fresh", None)
            for number in range(1, 5):
                if number == 1:  # the first agent writes the overview (samocode's init does)
                    files.overview.write_text(OVERVIEW.format(phase="investigation"))
                iterate(files, '{"status": "continue"}')
            ours = parse_status(files.overview.read_text()).total_iterations
            cases.append((f"overview.{name}", case["result"], ours))
            continue
        cases.append((f"overview.{name}", case["result"], _overview_outcome(case)))
    return cases


def _config_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    cases: list[tuple[str, Any, Any]] = []
    names = {"s", "26-01-20-task", "26-01-21-task", "26-01-19-task"}
    for folder in names:
        (tmp / "sessions" / folder).mkdir(parents=True)
    today = datetime.now().strftime("%y-%m-%d")
    for name, theirs in MEASURED["resolve"].items():
        ours = resolve_session_name(tmp / "sessions", name)
        expected = re.sub(r"^\d\d-\d\d-\d\d-brand-new$", f"{today}-brand-new", theirs)
        cases.append((f"resolve.{name}", expected, ours))
    texts = {
        "missing_file": None,
        "missing_keys": "MAIN_REPO=/tmp\n",
        "comments_and_equals": "# c\n\nMAIN_REPO=/tmp\nWORKTREES = /tmp\nSESSIONS=/tmp/a=b\n",
        "tilde": "MAIN_REPO=~\nWORKTREES=~\nSESSIONS=~\n",
    }
    for name, text in texts.items():
        path = tmp / f"cfg-{name}" / ".samocode"
        path.parent.mkdir()
        if text is not None:
            path.write_text(text)
        theirs = dict(MEASURED["config"][name])
        try:
            config = load_samocode_config(path)
            ours: Any = {"main_repo": str(config.main_repo), "sessions": str(config.sessions)}
            theirs.pop("errors", None)
            theirs = {k: v.replace("/root", str(Path.home())) for k, v in theirs.items()}
        except SamocodeConfigError as error:
            message = str(error).replace(str(path.resolve()), "<PATH>")
            if "errors" in theirs:  # samocode lists path errors under "Configuration errors:"
                theirs = {
                    "error": "Configuration errors:\n"
                    + "".join(f"  - {e}" for e in theirs["errors"])
                }
            ours = {"error": message}
        cases.append((f"config.{name}", theirs, ours))
    cases.append(("config.exit_code", 1, 2))  # a refused config: samocode exits 1, samoflow 2
    return cases


def all_cases(tmp: Path) -> list[tuple[str, Any, Any]]:
    return [
        *_registry_cases(),
        *_signal_cases(tmp),
        *_row_cases(tmp),
        *_loop_cases(tmp),
        *_history_cases(tmp),
        *_overview_cases(tmp),
        *_config_cases(tmp),
    ]


def readme_differences() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Differences from samocode", 1)[1].split("\n## ", 1)[0]
    return {
        case
        for line in section.splitlines()
        if line.startswith("|")
        for case in re.findall(r"`([a-z_]+\.[^`]+)`", line.split("|")[1])
    }


def test_every_case_matches_samocode_or_is_a_listed_difference(tmp_path: Path) -> None:
    cases = all_cases(tmp_path)
    assert len(cases) > 180  # the whole measured table, not a sample
    undocumented = [(c, t, o) for c, t, o in cases if t != o and c not in DIFFERENCES]
    assert undocumented == []
    stale = sorted(c for c, t, o in cases if t == o and c in DIFFERENCES)
    assert stale == [], "listed as differences but samoflow now matches samocode"
    assert {c for c, _, _ in cases} >= DIFFERENCES


def test_the_readme_lists_every_difference() -> None:
    listed = readme_differences()
    assert sorted(DIFFERENCES - listed) == []
    assert sorted(listed - DIFFERENCES) == []


@pytest.mark.parametrize("loop", ["ping_pong_testing_quality", "qa_loop_requirements"])
def test_the_money_burning_loops_are_caught_by_a_limit(tmp_path: Path, loop: str) -> None:
    case = MEASURED["loops"][loop]
    ours = loop_outcome(
        tmp_path / "s", case["start_phase"], case["steps"], loop not in QA_ANSWER_LOOPS
    )
    assert ours["stopped"] == "blocked" and ours["at_iteration"] == case["at_iteration"]
    assert parse_phase(ours["phase_after"]) is not None
