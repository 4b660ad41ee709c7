from pathlib import Path

from samoflow.session.overview import parse_status, read_overview, set_field, update_overview

OVERVIEW = """# Session: x
Phase: not-this-one

## Task
Phase: also not this

## Status
Phase: investigation
Iteration: 3
Blocked: no

## Flow Log
- [001 @ 01-01 10:00] start
"""


def test_status_fields_come_from_the_status_section() -> None:
    status = parse_status(OVERVIEW)
    assert status.phase == "investigation" and status.iteration == 3
    assert status.total_iterations is None


def test_update_touches_only_the_orchestrator_fields(tmp_path: Path) -> None:
    path = tmp_path / "_overview.md"
    path.write_text(OVERVIEW)
    update_overview(path, phase="requirements", total=7)
    text = path.read_text()
    assert "Phase: requirements\nIteration: 3\nTotal Iterations: 7\nBlocked: no" in text
    assert (
        text.replace("Phase: requirements", "Phase: investigation").replace(
            "Total Iterations: 7\n", ""
        )
        == OVERVIEW
    )
    status = read_overview(path)
    assert status is not None and status.total_iterations == 7


def test_a_missing_status_section_is_added() -> None:
    text = set_field("# Session: y\n", "Phase", "init")
    assert parse_status(text).phase == "init" and text.startswith("# Session: y\n")


def test_update_of_a_missing_overview_does_nothing(tmp_path: Path) -> None:
    update_overview(tmp_path / "_overview.md", phase="init")
    assert not (tmp_path / "_overview.md").exists()
