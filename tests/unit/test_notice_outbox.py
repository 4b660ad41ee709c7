"""The notice outbox: queued once per key, kept on failure, sent once even when flushed at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from samoflow.notices.outbox import NoticeOutbox
from samoflow.notices.slack import SlackPayload


def payload(text: str) -> SlackPayload:
    return SlackPayload(text=text, blocks=({"type": "section"},))


def test_a_key_is_queued_once_and_sent_once(tmp_path: Path) -> None:
    outbox = NoticeOutbox(tmp_path)
    sent: list[str] = []
    assert outbox.enqueue("k1", payload("one")) is True
    assert outbox.enqueue("k1", payload("one again")) is False
    assert outbox.flush(lambda p: sent.append(p.text)).sent == ("k1",)
    assert outbox.enqueue("k1", payload("after sending")) is False
    assert outbox.flush(lambda p: sent.append(p.text)).sent == ()
    assert sent == ["one"] and outbox.sent_item("k1") is not None


def test_a_failed_send_keeps_the_message_for_the_next_flush(tmp_path: Path) -> None:
    outbox = NoticeOutbox(tmp_path)
    outbox.enqueue("k1", payload("one"))

    def refuse(_: SlackPayload) -> None:
        raise RuntimeError("HTTP 500")

    first = outbox.flush(refuse)
    assert first.failed == (("k1", "HTTP 500"),) and first.pending == 1
    item = outbox.find("k1")
    assert item is not None and item.attempts == 1 and item.last_error == "HTTP 500"
    sent: list[str] = []
    assert outbox.flush(lambda p: sent.append(p.text)).sent == ("k1",) and sent == ["one"]


def test_concurrent_flushers_send_each_message_once(tmp_path: Path) -> None:
    outbox = NoticeOutbox(tmp_path)
    for i in range(20):
        outbox.enqueue(f"k{i}", payload(str(i)))
    sent: list[str] = []
    lock = threading.Lock()

    def send(p: SlackPayload) -> None:
        with lock:
            sent.append(p.text)

    threads = [
        threading.Thread(target=NoticeOutbox(tmp_path).flush, args=(send,)) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent, key=int) == [str(i) for i in range(20)]


def test_a_claim_of_a_dead_process_is_sent_again(tmp_path: Path) -> None:
    outbox = NoticeOutbox(tmp_path)
    outbox.enqueue("k1", payload("one"))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    os.replace(outbox.pending / "k1.json", outbox.sending / f"k1@{pid}-12345.000000.json")
    sent: list[str] = []
    assert outbox.flush(lambda p: sent.append(p.text)).sent == ("k1",) and sent == ["one"]
    assert list(outbox.sending.iterdir()) == []


def test_a_claim_whose_message_was_delivered_is_only_cleaned_up(tmp_path: Path) -> None:
    outbox = NoticeOutbox(tmp_path)
    outbox.enqueue("k1", payload("one"))
    outbox.flush(lambda p: None)
    (outbox.sending / "k1@999999-1.000000.json").write_text((outbox.sent / "k1.json").read_text())
    sent: list[str] = []
    outbox.flush(lambda p: sent.append(p.text))
    assert sent == [] and list(outbox.sending.iterdir()) == []


def test_an_interrupted_send_puts_the_message_back(tmp_path: Path) -> None:
    outbox = NoticeOutbox(tmp_path)
    outbox.enqueue("k1", payload("one"))

    def interrupted(_: SlackPayload) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outbox.flush(interrupted)
    assert outbox.pending_count() == 1


@pytest.mark.parametrize("key", ["../x", "A", "", "a/b"])
def test_keys_are_slugs(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="slug"):
        NoticeOutbox(tmp_path).enqueue(key, payload("x"))
