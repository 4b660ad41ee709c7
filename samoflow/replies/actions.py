"""What a reply means: a gate answer, an inbox message, or a command on the session.

At a gate, a reply is the answer exactly as `samoflow answer` takes it (approved unless it
starts with `reject`); while the session runs, free text is an inbox message; `/status`,
`/stop`, `/pause` and `/resume` are commands anywhere.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ActionKind(StrEnum):
    ANSWER = "answer"
    INBOX = "inbox"
    STATUS = "status"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    UNKNOWN = "unknown"  # a command samoflow does not have: answered with the list


COMMANDS = {
    "status": ActionKind.STATUS,
    "stop": ActionKind.STOP,
    "pause": ActionKind.PAUSE,
    "resume": ActionKind.RESUME,
}
REJECT_WORDS = frozenset({"reject", "rejected", "no"})


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    text: str = ""
    approve: bool = True


def interpret(text: str, *, waiting: bool) -> Action:
    body = text.strip()
    if body.startswith("/"):
        word = body[1:].split(maxsplit=1)[0].split("@")[0].lower() if body[1:] else ""
        return Action(kind=COMMANDS.get(word, ActionKind.UNKNOWN), text=body)
    if not waiting:
        return Action(kind=ActionKind.INBOX, text=body)
    first, _, rest = body.partition(" ")
    if first.strip(".,:!").lower() in REJECT_WORDS:
        return Action(kind=ActionKind.ANSWER, text=rest.strip() or body, approve=False)
    return Action(kind=ActionKind.ANSWER, text=body, approve=True)
