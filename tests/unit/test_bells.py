"""Doorbells under SAMOFLOW_HOME: each ring shows something new, a silent bell shows None."""

from __future__ import annotations

from pathlib import Path

import pytest

from samoflow.serve.bells import ACCOUNT, INBOX, chime, ring


def test_every_ring_changes_what_the_bell_shows_and_names_stay_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMOFLOW_HOME", str(tmp_path / "home"))
    assert chime(INBOX, "api") is None
    seen = set()
    for _ in range(50):  # many rings within one clock tick: each is still news
        ring(INBOX, "api")
        shown = chime(INBOX, "api")
        assert shown is not None and shown not in seen
        seen.add(shown)
    assert chime(ACCOUNT, "api") is None  # another kind, the same name: another bell
    assert chime(INBOX, "web") is None
    ring(INBOX, "../../etc/passwd")  # a hostile name stays inside the bells folder
    assert [p.parent for p in (tmp_path / "home").rglob("inbox-*")] == [
        tmp_path / "home" / "bells"
    ] * 2


def test_a_bell_that_cannot_ring_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the home folder should be\n")
    monkeypatch.setenv("SAMOFLOW_HOME", str(blocker))
    ring(INBOX, "api")  # the listeners hear of it at their next timed look
    assert chime(INBOX, "api") is None
