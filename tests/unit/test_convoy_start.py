"""When the first wave of a convoy's subflows starts its work."""

from __future__ import annotations

import pytest

from samoflow.flows.convoy_members import turn_delay


def test_a_member_waits_for_its_place_in_the_spacing_counted_from_the_first_creation() -> None:
    assert turn_delay(0, 0.25, first_created=100.0, now=100.0) == 0.0
    assert turn_delay(3, 0.25, first_created=100.0, now=100.25) == pytest.approx(0.5)
    # Its creation took longer than its turn: it starts at once, never a negative wait.
    assert turn_delay(3, 0.25, first_created=100.0, now=102.0) == 0.0
    assert turn_delay(5, 0.0, first_created=100.0, now=100.0) == 0.0
