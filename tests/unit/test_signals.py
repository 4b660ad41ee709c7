from pathlib import Path

from samoflow.session.phases import SignalStatus
from samoflow.session.signals import MAX_SIGNAL_BYTES, read_signal


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "_signal.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_signal_file_is_a_problem(tmp_path: Path) -> None:
    assert read_signal(tmp_path / "_signal.json").problem == "signal file not created"


def test_empty_object_means_continue(tmp_path: Path) -> None:
    reading = read_signal(write(tmp_path, "{}"))
    assert reading.empty and reading.problem is None and reading.signal is None


def test_bad_json_names_the_error(tmp_path: Path) -> None:
    reading = read_signal(write(tmp_path, '{"status": "continue"'))
    assert reading.problem is not None and "not valid JSON" in reading.problem


def test_unknown_status_is_a_problem(tmp_path: Path) -> None:
    reading = read_signal(write(tmp_path, '{"status": "finished"}'))
    assert reading.problem == "unknown signal status 'finished'"


def test_status_is_case_insensitive_and_for_is_read(tmp_path: Path) -> None:
    reading = read_signal(write(tmp_path, '{"status": "WAITING", "for": "qa", "x": 1}'))
    assert reading.signal is not None
    assert reading.signal.status is SignalStatus.WAITING and reading.signal.for_ == "qa"


def test_a_json_list_is_refused(tmp_path: Path) -> None:
    assert read_signal(write(tmp_path, "[1, 2]")).problem == "signal file must hold a JSON object"


def test_a_wrongly_typed_field_is_refused(tmp_path: Path) -> None:
    reading = read_signal(write(tmp_path, '{"status": "continue", "phase": 3}'))
    assert reading.problem is not None and "phase" in reading.problem


def test_a_huge_signal_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = write(tmp_path, '{"status": "continue", "summary": "' + "x" * MAX_SIGNAL_BYTES + '"}')
    assert "byte limit" in (read_signal(path).problem or "")


def test_non_utf8_signal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "_signal.json"
    path.write_bytes(b'{"status": "\xff"}')
    assert read_signal(path).problem == "signal file is not UTF-8 text"


def test_handoff_keeps_its_state(tmp_path: Path) -> None:
    reading = read_signal(write(tmp_path, '{"status": "handoff", "state": {"done": [1, 2]}}'))
    assert reading.signal is not None and reading.signal.state == {"done": [1, 2]}
