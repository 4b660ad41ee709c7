"""Pictures published behind a loop: the newest of a burst goes, and settling waits for it."""

from __future__ import annotations

import threading
import time

from samoflow.prefect_api import artifacts_behind
from samoflow.prefect_api.artifacts_behind import picture_behind, settle_picture


def test_a_burst_of_pictures_publishes_the_newest_and_settle_waits_for_it() -> None:
    published: list[int] = []
    release = threading.Event()

    def picture(number: int) -> None:
        release.wait(10)  # the first publish is slow: the API is busy
        published.append(number)

    key = "convoy:/tmp/burst"
    for number in range(6):
        picture_behind(key, "burst", lambda number=number: picture(number))
    release.set()
    settle_picture(key)
    assert published[-1] == 5  # the last picture asked for is the one left standing
    assert len(published) <= 2  # the first (maybe already in flight) and the newest


def test_a_failing_picture_is_logged_and_the_next_one_still_goes() -> None:
    published: list[str] = []

    def broken() -> None:
        raise RuntimeError("the API is down")

    key = "convoy:/tmp/failing"
    picture_behind(key, "failing", broken)
    settle_picture(key)
    picture_behind(key, "failing", lambda: published.append("after"))
    settle_picture(key)
    assert published == ["after"]


def test_a_new_keys_first_picture_waits_its_spacing_and_settle_sends_it_at_once() -> None:
    """A run of fast iterations sends its cards once, at its end: the first request of a
    key is spaced from itself, and the run's settle sends what is pending at once."""
    published: list[str] = []
    key = "session:/tmp/spaced-first"
    started = time.monotonic()
    picture_behind(key, "spaced", lambda: published.append("first"))
    with artifacts_behind._PUBLISHER._changed:
        pending = artifacts_behind._PUBLISHER._pending[key]
    assert pending.due >= started + artifacts_behind.PUBLISH_SPACING_SECONDS
    picture_behind(key, "spaced", lambda: published.append("newest"))
    settle_picture(key)
    assert published == ["newest"]  # one publish for the run, its newest picture
