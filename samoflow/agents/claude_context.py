"""Context watch for Claude Code: how full the agent's context is, read from its stream.

Context use is the last main-agent `assistant` message's input side (input + cache reads +
cache writes); `result.usage` sums every call, so it is not the context. The window is the
result's `modelUsage.<model>.contextWindow`, else the setting. `system/compact_boundary`
events are compactions. When a handoff fraction is set and crossed, the watch asks for the
agent to end at the next turn boundary (the tool results of that turn) and builds the
handoff state from the stream: the last TodoWrite list, the last text, files, commits.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
MAX_LISTED = 50  # files and commits kept for the handoff


class ContextReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    peak_tokens: int = 0
    window_tokens: int = 0
    compactions: int = 0
    ended_for_handoff: bool = False

    @property
    def peak_fraction(self) -> float:
        return self.peak_tokens / self.window_tokens if self.window_tokens else 0.0


def _blocks(obj: dict[str, Any]) -> list[dict[str, Any]]:
    message = obj.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _context_of(obj: dict[str, Any]) -> int:
    message = obj.get("message")
    usage = message.get("usage") if isinstance(message, dict) else None
    if not isinstance(usage, dict):
        return 0
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    return sum(int(usage.get(k) or 0) for k in keys)


class ContextWatch:
    def __init__(self, window_tokens: int, handoff_fraction: float | None) -> None:
        self._window = window_tokens
        self._fraction = handoff_fraction
        self.peak = 0
        self.compactions = 0
        self.crossed = False  # the fraction was passed: end at the next turn boundary
        self.end_now = False  # a turn boundary came after the crossing
        self.todos: Any = None
        self.last_text: str | None = None
        self.files: list[str] = []
        self.commits: list[str] = []

    def feed(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind == "system" and obj.get("subtype") == "compact_boundary":
            self.compactions += 1
        elif kind == "assistant" and obj.get("parent_tool_use_id") is None:
            self._assistant(obj)  # a sub-agent's messages are its own context
        elif kind == "user" and self.crossed:
            self.end_now = True  # the turn's tool results are in: a clean place to stop
        elif kind == "result":
            self._window = _window_of(obj) or self._window

    def _assistant(self, obj: dict[str, Any]) -> None:
        self.peak = max(self.peak, _context_of(obj))
        for block in _blocks(obj):
            if block.get("type") == "text" and str(block.get("text", "")).strip():
                self.last_text = str(block["text"])
            elif block.get("type") == "tool_use":
                self._tool(str(block.get("name")), block.get("input"))
        if self._fraction is not None and self.peak >= self._fraction * self._window:
            self.crossed = True

    def _tool(self, name: str, tool_input: Any) -> None:
        if not isinstance(tool_input, dict):
            return
        if name == "TodoWrite":
            self.todos = tool_input.get("todos")
        elif name in EDIT_TOOLS and isinstance(tool_input.get("file_path"), str):
            path = tool_input["file_path"]
            if path not in self.files and len(self.files) < MAX_LISTED:
                self.files.append(path)
        elif (
            name == "Bash"
            and "git commit" in str(tool_input.get("command", ""))
            and len(self.commits) < MAX_LISTED
        ):
            self.commits.append(str(tool_input["command"]))

    def report(self, ended_for_handoff: bool = False) -> ContextReport:
        return ContextReport(
            peak_tokens=self.peak,
            window_tokens=self._window,
            compactions=self.compactions,
            ended_for_handoff=ended_for_handoff,
        )

    def handoff_state(self) -> dict[str, Any]:
        return {
            "todos": self.todos,
            "last_text": self.last_text,
            "files_touched": self.files,
            "commits": self.commits,
            "context": self.report(ended_for_handoff=True).model_dump(),
        }


def _window_of(obj: dict[str, Any]) -> int | None:
    usage = obj.get("modelUsage")
    if not isinstance(usage, dict):
        return None
    windows = [
        int(m["contextWindow"])
        for m in usage.values()
        if isinstance(m, dict) and m.get("contextWindow")
    ]
    return max(windows) if windows else None
