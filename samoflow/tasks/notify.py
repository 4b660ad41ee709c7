"""Tell a human: through the SlackAlerts block when one is configured, printed otherwise.

Every message goes through the outbox (`<sessions>/_outbox/`) under an idempotency key:
queued first, then sent; a failure (Slack down, the Prefect API unreachable) is logged and
leaves it queued for the next notify call or convoy run. Nothing here ever raises into a
session or a convoy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_API_URL

from samoflow.blocks.slack import SlackAlerts
from samoflow.notices.channel import Channel
from samoflow.notices.notice import Notice, NoticeKind
from samoflow.notices.outbox import FlushReport, NoticeOutbox
from samoflow.notices.slack import SlackPayload, notice_key, notice_payload
from samoflow.session.files import SessionFiles
from samoflow.session.spec import read_spec
from samoflow.settings import get_settings

Sender = Callable[[SlackPayload], object]


class ChannelUnavailableError(RuntimeError):
    """The block could not be loaded (API down): keep messages queued, do not print them."""


def print_payload(payload: SlackPayload) -> None:
    """The channel when no Slack is configured: the message as Slack would show it."""
    if get_settings().print_slack_json:
        shown = payload.pretty()
    else:  # indented: the message reads as a quoted block among samoflow's own lines
        shown = "\n".join(f"  > {line}".rstrip() for line in payload.rendered().splitlines())
    print(f"[samoflow] Slack message (no SlackAlerts block configured):\n{shown}", flush=True)


# Seconds a missing SlackAlerts block is taken as still missing without asking the API again:
# each ask is a 404 of 40-70 ms (measured), paid by every notice of every session and convoy
# member in this process. A block saved meanwhile is used from the next notice after this.
MISSING_BLOCK_SECONDS = 30.0
_missing_blocks: dict[tuple[str, str], float] = {}


def slack_sender() -> Sender:
    """The configured block's sender, or the printer when no block has the setting's name."""
    name = get_settings().slack_block
    where = (str(PREFECT_API_URL.value() or ""), name)
    if time.monotonic() < _missing_blocks.get(where, 0.0):
        return print_payload
    try:
        block = cast(SlackAlerts, SlackAlerts.load(name))
    except ValueError as error:
        if "Unable to find block document" in str(error):
            _missing_blocks[where] = time.monotonic() + MISSING_BLOCK_SECONDS
            return print_payload
        raise ChannelUnavailableError(f"SlackAlerts block {name!r} is unusable: {error}") from None
    except Exception as error:
        raise ChannelUnavailableError(f"cannot load SlackAlerts block {name!r}: {error}") from None
    return block.send_payload


def deliver(
    outbox: NoticeOutbox, key: str, payload: SlackPayload | None, session: str | None = None
) -> FlushReport:
    """Queue `payload` under `key` (when given) and flush everything queued; never raises."""
    logger = get_run_logger()
    try:
        if payload is not None and not outbox.enqueue(key, payload, session):
            logger.info("notice %s was queued before: not queued again", key)
        report = outbox.flush(slack_sender())
    except Exception as error:  # the channel or the disk: the message stays queued
        logger.warning("notification %s not delivered now (kept in the outbox): %s", key, error)
        return FlushReport(pending=outbox.pending_count())
    for failed_key, reason in report.failed:
        logger.warning("Slack did not take %s (kept for the next try): %s", failed_key, reason)
    if report.sent:
        logger.info("delivered %s", ", ".join(report.sent))
    return report


def extra_channels() -> list[tuple[str, type[Channel]]]:
    """(block name, block class) of every channel the settings switch on beside Slack."""
    from samoflow.blocks.telegram import TelegramAlerts
    from samoflow.blocks.webhook import WebhookAlerts

    settings = get_settings()
    named: list[tuple[str | None, type[Channel]]] = [
        (settings.telegram_block, TelegramAlerts), (settings.webhook_block, WebhookAlerts)
    ]
    return [(name, kind) for name, kind in named if name]


def deliver_to_channels(
    sessions_root: Path, key: str, payload: SlackPayload | None, session: str | None = None
) -> None:
    """Queue in each extra channel's own outbox, then flush it; a channel down waits there."""
    logger = get_run_logger()
    for block_name, kind in extra_channels():
        channel = kind.__name__.removesuffix("Alerts").lower()
        outbox = NoticeOutbox.for_channel(sessions_root, channel)
        try:
            if payload is not None:
                outbox.enqueue(key, payload, session)
            block = cast(Channel, kind.load(block_name))  # type: ignore[attr-defined]
            report = outbox.flush(block.send_payload)
        except Exception as error:  # the API, the block or the disk: kept for the next flush
            logger.warning("%s: %s not delivered now (kept): %s", channel, key, error)
            continue
        for failed_key, reason in report.failed:
            logger.warning("%s did not take %s (kept for the next try): %s", channel, failed_key,
                           reason)


def _reported_by_its_convoy(notice: Notice, files: SessionFiles) -> bool:
    """A convoy member's `done` is part of the convoy's one message, not a message of its own."""
    if notice.kind is not NoticeKind.DONE or not files.spec.exists():
        return False
    return read_spec(files.spec).convoy is not None


@task(name="notify-humans", cache_policy=NO_CACHE, retries=0)
def notify_humans(notice: Notice, files: SessionFiles | None = None) -> None:
    """Log the notice; with its session's files, queue it for Slack once (by its key)."""
    logger = get_run_logger()
    logger.warning("%s", notice.plain_text())
    if files is None:
        return
    if _reported_by_its_convoy(notice, files):
        return
    key, payload = notice_key(notice), notice_payload(notice)
    deliver(NoticeOutbox.for_sessions(files.sessions_root), key, payload, notice.session)
    deliver_to_channels(files.sessions_root, key, payload, notice.session)


@task(name="flush-outbox", cache_policy=NO_CACHE, retries=0)
def flush_outbox(sessions_root: str) -> FlushReport:
    """Re-send what earlier tries could not deliver (Slack, then every extra channel)."""
    deliver_to_channels(Path(sessions_root), "earlier notices", None)
    outbox = NoticeOutbox.for_sessions(Path(sessions_root))
    if outbox.pending_count() == 0:
        return FlushReport()
    return deliver(outbox, "earlier notices", None)
