"""Inboxes on a real Prefect API: delivery once and in order, replies, restarts, bad input."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prefect.variables import Variable

from samoflow.flows.session import session_flow
from samoflow.inbox.messages import MAX_INLINE_CHARS, Message, deliver, new_message
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer
from samoflow.session.history import read_history
from samoflow.session.journal import read_journal
from samoflow.session.state import Lifecycle
from samoflow.session.store import leave_answer
from samoflow.settings import get_settings
from samoflow.tasks.inbox import PrefectInboxStore, send_message, sent_variable
from tests.conftest import wait_until
from tests.support.sessions import new_session

pytestmark = pytest.mark.usefixtures("prefect_api")

ECHO_EVERY_ITERATION = """
repeat_last = true
[[steps]]
overview = "init"
signal = { status = "continue" }
[[steps]]
overview = "update"
sleep = 0.3
echo_inbox = true
signal = { status = "continue" }
"""


def echoed(files: SessionFiles, text: str) -> int:
    return files.overview.read_text().count(f"inbox from human: {text}")


def test_a_message_sent_while_the_session_runs_reaches_the_agent_once(repo: Path) -> None:
    files = new_session(repo, ECHO_EVERY_ITERATION, name="listener")
    context = contextvars.copy_context()  # the thread uses the test's Prefect API
    runner = threading.Thread(target=context.run, args=(session_flow, str(files.root)))
    runner.start()
    wait_until(
        lambda: (j := read_journal(files.journal)) is not None and j.iteration == 2,
        60,
        "iteration 2 to start",
    )
    sent = send_message(load_config(repo).sessions, new_message("listener", "use JWT, not cookies"))
    runner.join(timeout=120)

    assert sent.seq == 1
    assert echoed(files, "use JWT, not cookies") == 1  # seen by exactly one iteration
    assert [p.name for p in files.inbox_read.glob("msg-*.json")] == [sent.file_name]
    assert not list(files.inbox.glob("msg-*.json"))
    assert read_history(files.history)[-1].reason == "Phase 'init' exceeded 5 iteration limit"


def test_sessions_reply_to_each_other_and_a_dead_session_gets_its_mail_on_restart(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asker = new_session(
        repo,
        """
[[steps]]
overview = "init"
send = [{ to = "helper", text = "which port?" }]
signal = { status = "continue", phase = "investigation" }
[[steps]]
signal = { status = "continue", phase = "requirements" }
[[steps]]
signal = { status = "waiting", for = "qa" }
[[steps]]
echo_inbox = true
signal = { status = "blocked", reason = "read my mail" }
""",
        name="asker",
        auto_approve=False,
    )
    helper = new_session(
        repo,
        """
[[steps]]
overview = "init"
echo_inbox = true
send = [{ to = "asker", text = "port 8080", kind = "answer" }]
signal = { status = "blocked", reason = "replied" }
""",
        name="helper",
    )
    monkeypatch.setenv("SAMOFLOW_GATE_TIMEOUT_SECONDS", "1")  # the asker's run ends at its gate
    get_settings.cache_clear()
    assert session_flow(str(asker.root)).lifecycle is Lifecycle.WAITING
    assert session_flow(str(helper.root)).reason == "replied"
    assert "inbox from asker: which port?" in helper.overview.read_text()

    leave_answer(asker, GateAnswer(text="go on"))  # nobody runs the asker meanwhile
    report = session_flow(str(asker.root))
    assert report.reason == "read my mail"
    assert asker.overview.read_text().count("inbox from helper: port 8080") == 1
    assert [p.name for p in (asker.root / "_outbox" / "sent").iterdir()] == ["0001-1-helper.json"]


SENDER = """
import sys
from pathlib import Path
from samoflow.inbox.messages import new_message
from samoflow.tasks.inbox import send_message
root, worker = Path(sys.argv[1]), sys.argv[2]
for n in range(25):
    send_message(root, new_message("crowd", f"{worker}:{n:02d}", sender=worker))
"""


def test_order_holds_for_100_messages_from_4_processes(repo: Path) -> None:
    files = new_session(repo, name="crowd")
    root = load_config(repo).sessions
    senders = [
        subprocess.Popen([sys.executable, "-c", SENDER, str(root), f"p{n}"]) for n in range(4)
    ]
    assert [p.wait(timeout=240) for p in senders] == [0, 0, 0, 0]

    delivered = deliver(files, PrefectInboxStore())
    assert [m.seq for m in delivered] == list(range(1, 101))
    for worker in ("p0", "p1", "p2", "p3"):
        mine = [m.text for m in delivered if m.from_ == worker]
        assert mine == [f"{worker}:{n:02d}" for n in range(25)]  # each sender's order kept
    assert deliver(files, PrefectInboxStore()) == []  # nothing twice
    assert len(list(files.inbox.glob("msg-*.json"))) == 100


def test_a_large_message_travels_as_an_artifact(repo: Path) -> None:
    files = new_session(repo, name="big")
    text = "x" * (MAX_INLINE_CHARS * 3)
    send_message(load_config(repo).sessions, new_message("big", text))
    (message,) = deliver(files, PrefectInboxStore())
    on_disk = Message.model_validate_json((files.inbox / message.file_name).read_text())
    assert on_disk.text == text


def samoflow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", "send", *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_messages_are_refused_and_nothing_is_stored(repo: Path, tmp_path: Path) -> None:
    new_session(repo, name="strict")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    huge = tmp_path / "huge.txt"
    huge.write_text("y" * 100_001)
    cases = {
        ("nobody", "hi"): "unknown session 'nobody'",
        ("strict", "   "): "the message is empty",
        ("strict", "hi", "--from", "../evil"): "sender '../evil' looks like a path",
        ("strict", "--file", str(latin1)): "is not UTF-8 text",
        ("strict", "--file", str(huge)): "the limit is 100000",
        ("../x", "hi"): "looks like a path",
    }
    for args, error in cases.items():
        result = samoflow(repo, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert error in result.stdout.replace("\n", ""), (args, result.stdout)
    assert Variable.get(sent_variable("strict"), default=None) is None


def test_send_from_the_cli_waits_in_prefect_until_the_session_runs(repo: Path) -> None:
    files = new_session(
        repo,
        '[[steps]]\noverview = "init"\necho_inbox = true\n'
        'signal = { status = "blocked", reason = "echoed" }\n',
        name="later",
    )
    result = samoflow(repo, "later", "hello from the CLI")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "#1" in result.stdout and "note:" not in result.stdout  # a new session reads it
    session_flow(str(files.root))
    assert echoed(files, "hello from the CLI") == 1
    late = samoflow(repo, "later", "are you there?")
    assert late.returncode == 0 and "#2" in late.stdout, late.stdout + late.stderr
    said = " ".join(late.stdout.split())
    assert "later is blocked: its next iteration reads it, after `samoflow run --session later`" \
        in said


def exchanging(peer: str) -> str:
    """Iteration 1 writes to `peer`; iterations 1-6 each show their new inbox messages
    (a member the convoy starts late may get the peer's message at its first iteration)."""
    echo = (
        '[[steps]]\nsleep = 1\noverview = "update"\necho_inbox = true\n'
        'signal = { status = "continue" }\n'
    )
    return (
        f'[[steps]]\noverview = "init"\necho_inbox = true\n'
        f'send = [{{ to = "{peer}", text = "hello {peer}" }}]\n'
        'signal = { status = "continue", phase = "investigation" }\n'
        + echo * 5
        + '[[steps]]\nsignal = { status = "blocked", reason = "exchanged" }\n'
    )


def test_two_convoy_members_exchange_messages_and_a_convoy_gets_a_broadcast(repo: Path) -> None:
    from tests.support.convoys import run_plan, write_plan

    plan = write_plan(repo.parent, "pair", {"ping": exchanging("pong"), "pong": exchanging("ping")})
    record = run_plan(plan, repo)
    for member in record.members:
        overview = (Path(member.session_dir) / "_overview.md").read_text()
        peer = "pong" if member.name == "ping" else "ping"
        assert overview.count(f"inbox from {peer}: hello {member.name}") == 1, member.name

    result = samoflow(repo, "--convoy", "pair", "everyone: wrap up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sent to 2 members of pair" in result.stdout
    for member in record.members:
        files = SessionFiles(Path(member.session_dir))
        (message,) = deliver(files, PrefectInboxStore())
        assert message.text == "everyone: wrap up" and message.from_ == "human"
    unknown = samoflow(repo, "--convoy", "nosuch", "hi")
    assert unknown.returncode == 2 and "nosuch" in unknown.stdout


def plant_unrung(session: str) -> None:
    """The session's first message written straight into Prefect, as a sender with another
    SAMOFLOW_HOME would: no bell rings, only a request to the API can see it."""
    from samoflow.tasks.inbox import message_variable

    planted = new_message(session, "from afar").model_dump(mode="json", by_alias=True)
    Variable.set(message_variable(session, 1), {"message": {**planted, "seq": 1}})


def test_the_look_before_an_attempt_asks_the_api_again_when_a_bell_rang_or_it_is_stale(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samoflow.economy.accounts import AccountState
    from samoflow.serve.bells import INBOX, ring
    from samoflow.tasks.account_store import update_status
    from samoflow.tasks.accounts import session_account
    from samoflow.tasks.before_attempt import look_before_attempt
    from samoflow.tasks.inbox import message_variable

    monkeypatch.setenv("SAMOFLOW_API_LOOK_SECONDS", "3600")
    get_settings.cache_clear()
    files = new_session(repo, ECHO_EVERY_ITERATION, name="looker")
    assert not look_before_attempt(files).mail_waiting
    plant_unrung("looker")
    assert not look_before_attempt(files).mail_waiting  # the kept answer: fresh, no bell
    ring(INBOX, "looker")
    assert look_before_attempt(files).mail_waiting  # the bell: asked again at once
    Variable.unset(message_variable("looker", 1))
    assert not look_before_attempt(files).mail_waiting  # mail waiting is never kept

    # samoflow's own writers ring: a sent message, a paused account are seen at once.
    send_message(load_config(repo).sessions, new_message("looker", "from here"))
    assert look_before_attempt(files).mail_waiting
    Variable.unset(message_variable("looker", 1))
    assert not look_before_attempt(files).mail_waiting
    account = session_account(files)
    paused = lambda status: status.model_copy(update={"state": AccountState.PAUSED})  # noqa: E731
    update_status(account, paused)
    assert look_before_attempt(files).account.state is AccountState.PAUSED
    update_status(account, lambda status: status.model_copy(update={"state": AccountState.ACTIVE}))
    assert look_before_attempt(files).account.state is AccountState.ACTIVE  # rang: asked

    # A stale answer is asked again even with every bell silent.
    plant_unrung("looker")
    assert not look_before_attempt(files).mail_waiting
    monkeypatch.setenv("SAMOFLOW_API_LOOK_SECONDS", "0")
    get_settings.cache_clear()
    assert look_before_attempt(files).mail_waiting


def test_the_sessions_of_one_process_share_the_look_before_their_attempts(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A convoy's members look from one process: one request answers for all of them."""
    from samoflow.tasks.before_attempt import look_before_attempt

    monkeypatch.setenv("SAMOFLOW_API_LOOK_SECONDS", "3600")
    get_settings.cache_clear()
    first = new_session(repo, ECHO_EVERY_ITERATION, name="sharer-one")
    second = new_session(repo, ECHO_EVERY_ITERATION, name="sharer-two")
    assert not look_before_attempt(first).mail_waiting
    plant_unrung("sharer-two")
    assert look_before_attempt(second).mail_waiting  # never looked: asked, for both
    plant_unrung("sharer-one")
    # The first's answer came with the second's request, fresh: no request of its own.
    assert not look_before_attempt(first).mail_waiting
    assert look_before_attempt(second).mail_waiting  # mail waiting is never kept: asked
    assert look_before_attempt(first).mail_waiting  # its mail was not kept either: asked
