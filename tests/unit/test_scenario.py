"""Scenario files: validated once by the orchestrator, read as they stand by the agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from samoflow.agents.scenario import (
    BUILTIN_DIR,
    ScenarioError,
    load_scenario,
    read_validated_scenario,
)

EVERY_FIELD = """
name = "every field"
repeat_last = true
[[steps]]
summary = "start"
sleep = 1
wait_for = "/tmp/never"
hang_on_attempts = [3]
kill_on_attempts = [2]
crash_on_attempts = [1]
overview = "init"
write = { "a.txt" = "a" }
commit = "add a"
echo_inbox = true
echo_handoff = true
send = [{ to = "parent", text = "hi" }]
usage = { input_tokens = 10, cost_usd = 0.5 }
signal = { status = "continue", phase = "investigation" }
exit_code = 0
[[on_merge_fixup]]
merge_integration = "union"
signal = { status = "continue" }
[on_check_failure]
raw_signal = "{broken"
"""


def test_the_agent_reads_every_field_as_the_orchestrator_validated_it(tmp_path: Path) -> None:
    path = tmp_path / "every.toml"
    path.write_text(EVERY_FIELD)
    checked = load_scenario(path)
    assert read_validated_scenario(path) == checked
    assert checked.steps[0].send == [{"to": "parent", "text": "hi"}]
    assert checked.on_merge_fixup[0].merge_integration == "union"
    assert checked.on_check_failure is not None
    assert checked.on_check_failure.raw_signal == "{broken"
    for builtin in sorted(BUILTIN_DIR.glob("*.toml")):
        assert read_validated_scenario(builtin) == load_scenario(builtin), builtin.name


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[steps]]\nsumary = "typo"\n', "sumary"),
        ('[[steps]]\nsleep = "long"\n', "sleep"),
        ('[[steps]]\nmerge_integration = "both"\n', "merge_integration"),
        ('nmae = "x"\n[[steps]]\n', "nmae"),
        ('name = "no steps"\n', "steps"),
        ("[[steps]\n", "Expected"),
    ],
)
def test_a_broken_scenario_is_refused_naming_the_field(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="is unusable") as refused:
        load_scenario(path)
    assert named in str(refused.value)


def test_the_agent_process_starts_without_pydantic() -> None:
    """Why the scenario is a dataclass: the agent is a process per iteration."""
    probe = (
        "import sys, samoflow.agents.scripted_agent; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
