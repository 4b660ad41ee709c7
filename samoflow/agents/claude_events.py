"""One-line summaries of Claude Code's stream-json events, for the iteration log and the
progress tracker (what the agent did, in a line a human can scan)."""

from __future__ import annotations

from typing import Any

SUMMARY_CHARS = 200


def clip(text: str) -> str:
    text = " ".join(text.split())  # one log line per event, whatever the model wrote
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _content_blocks(obj: dict[str, Any]) -> list[dict[str, Any]]:
    message = obj.get("message")
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def _tool_target(tool_input: Any) -> str:
    # The most identifying argument of the common tools, so a log reads "Write(/x/y.md)".
    if not isinstance(tool_input, dict):
        return ""
    for key in ("file_path", "path", "command", "pattern", "url", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def summarize_assistant(obj: dict[str, Any]) -> str:
    parts: list[str] = []
    for block in _content_blocks(obj):
        btype = block.get("type")
        if btype == "tool_use":
            parts.append(f"{block.get('name', '?')}({_tool_target(block.get('input'))})")
        elif btype == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(btype, str):
            parts.append(f"[{btype}]")
    if "error" in obj:  # synthetic message the CLI emits for API/auth failures
        parts.insert(0, f"error={obj['error']}")
    return clip(" | ".join(parts))


def summarize_user(obj: dict[str, Any]) -> str:
    parts: list[str] = []
    for block in _content_blocks(obj):
        if block.get("type") != "tool_result":
            parts.append(str(block.get("text", "")))
            continue
        content = block.get("content")
        if isinstance(content, list):
            content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        prefix = "tool_error: " if block.get("is_error") else "tool_result: "
        parts.append(prefix + str(content))
    return clip(" | ".join(parts))


def summarize_system(obj: dict[str, Any], subtype: str | None) -> str:
    if subtype == "init":
        tools = obj.get("tools")
        ntools = len(tools) if isinstance(tools, list) else 0
        return clip(
            f"init model={obj.get('model')} version={obj.get('claude_code_version')} tools={ntools}"
        )
    if subtype == "api_retry":
        return clip(
            f"api_retry attempt {obj.get('attempt')}/{obj.get('max_retries')} "
            f"status={obj.get('error_status')} error={obj.get('error')} "
            f"delay_ms={obj.get('retry_delay_ms')}"
        )
    return clip(str(subtype or "system"))
