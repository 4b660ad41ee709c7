"""Block Kit payloads: a session notice and the one convoy completion message."""

from __future__ import annotations

from datetime import timedelta

from samoflow.clock import utcnow
from samoflow.convoy.announcement import convoy_payload
from samoflow.convoy.record import ConvoyMember, ConvoyRecord, MemberState
from samoflow.notices.notice import Notice, NoticeKind
from samoflow.notices.slack import notice_key, notice_payload
from samoflow.workspace.merge import MergeResult, MergeStatus


def test_a_blocked_notice_has_header_fields_reason_and_next_step() -> None:
    notice = Notice(
        kind=NoticeKind.BLOCKED,
        session="auth",
        phase="testing",
        iteration=7,
        text="tests fail",
        cost_usd=0.5,
        next_step="fix it",
    )
    payload = notice_payload(notice)
    types = [b["type"] for b in payload.blocks]
    assert types == ["header", "section", "section", "context"]
    assert payload.blocks[0]["text"]["text"] == "⛔ samoflow session auth is blocked"
    assert "tests fail" in payload.text and notice_key(notice) == "session-auth-blocked-7"
    over = notice.model_copy(update={"kind": NoticeKind.OVER_BUDGET})
    assert notice_key(over) == "session-auth-over-budget-7"


def member(name: str, state: MemberState, merge: MergeResult | None) -> ConvoyMember:
    start = utcnow()
    return ConvoyMember(
        name=name,
        session_dir=f"/s/{name}",
        branch=f"samoflow/{name}",
        state=state,
        iterations=8,
        cost_usd=0.25,
        note="reason here",
        started_at=start,
        finished_at=start + timedelta(seconds=42),
        merge=merge,
    )


def test_the_convoy_message_lists_each_member_outcome_duration_merge_and_cost() -> None:
    record = ConvoyRecord(
        name="trio",
        repo="/r",
        sessions_root="/r/s",
        base_branch="main",
        integration_branch="samoflow/convoy/trio",
        integration_worktree="/w",
        concurrency=2,
        members=(
            member("a", MemberState.DONE, MergeResult(status=MergeStatus.MERGED, branch="x")),
            member(
                "b",
                MemberState.DONE,
                MergeResult(status=MergeStatus.CONFLICT, branch="samoflow/b", files=("f.py",)),
            ),
            member("c", MemberState.BLOCKED, None),
        ),
    )
    payload = convoy_payload(record)
    assert payload.blocks[0]["text"]["text"].startswith("⚠️ samoflow convoy trio finished: 2 done")
    assert "1 merge conflict" in payload.blocks[0]["text"]["text"]
    assert "a: done · 8 it · 42 s · $0.2500 · merged" in payload.text
    assert "conflict in f.py (branch samoflow/b kept)" in payload.text
    assert "⚠️ b: done, merge conflict · 8 it" in payload.text.splitlines()[2]
    assert "✅ b" not in payload.text and "✅ *b*" not in str(payload.blocks)  # never a tick
    assert "c: blocked" in payload.text and "reason here" in payload.text
    assert payload.digest() == convoy_payload(record).digest()  # stable: the idempotency hash


def test_a_failed_merge_is_no_tick_either_and_the_convoy_is_not_clean() -> None:
    failed = MergeResult(status=MergeStatus.FAILED, branch="samoflow/f", detail="branch gone")
    record = ConvoyRecord(
        name="solo",
        repo="/r",
        sessions_root="/r/s",
        base_branch="main",
        integration_branch="samoflow/convoy/solo",
        integration_worktree="/w",
        concurrency=1,
        members=(member("f", MemberState.DONE, failed),),
    )
    payload = convoy_payload(record)
    assert payload.text.startswith("⚠️ samoflow convoy solo finished: 1 done, 1 merge failed")
    assert "⚠️ f: done, merge failed" in payload.text and "✅" not in payload.text
