"""A ``tools/call`` result as the text the model gets back.

Text blocks are joined; structured content goes as JSON, unless the text blocks only repeat
it (servers add them for older clients): then it is sent once, as one text or as JSON. An
image, audio clip, resource or resource link is one line saying what it is (a ``tool`` message
carries text only).
``isError`` raises :class:`McpToolError`, so the tool loop tells the model it failed, as it
does for a kernel function that raised. The tool loop's result cap applies afterwards.
Everything is redacted: a server may echo the key. Works on the wire form (camelCase).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from ...errors import OAIError
from ...plain_text import shortened
from ...redaction import redact, redact_data


class McpToolError(OAIError):
    """The server said the call failed (``isError``); the message is what it said."""


def result_text(result: Dict[str, Any], key: Optional[str]) -> str:
    """The model's text for a ``CallToolResult`` (wire form); raises McpToolError on isError."""
    blocks = result.get("content") or []
    texts = [str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    others = [block_line(b) for b in blocks if not (isinstance(b, dict) and b.get("type") == "text")]
    parts: List[str] = []
    structured = result.get("structuredContent")
    if structured is not None:
        repeated = _repeated_as(texts, structured)
        if repeated is None:
            parts.extend(["\n".join(texts)] if texts else [])
        parts.append(texts[0] if repeated == "text" else json.dumps(structured, ensure_ascii=False))
    elif texts:
        parts.append("\n".join(texts))
    parts.extend(others)
    text = redact("\n".join(parts), key)
    if result.get("isError"):
        raise McpToolError(text or "the tool reported an error and said nothing more")
    return text


def block_line(block: Any) -> str:
    """One line for a block that is not text: what it is and how big, never its bytes."""
    if not isinstance(block, dict):
        return f"[unknown content: {type(block).__name__}]"
    kind = block.get("type")
    if kind in ("image", "audio"):
        return f"[{kind} {_mime(block)}, {_size(block.get('data'))}: not shown to the model]"
    if kind == "resource_link":
        name = block.get("name") or block.get("title") or ""
        return f"[resource link {_short(block.get('uri'))}{f' ({_short(name)})' if name else ''}]"
    if kind == "resource":
        resource = block.get("resource") or {}
        if isinstance(resource, dict) and isinstance(resource.get("text"), str):
            return f"[resource {_short(resource.get('uri'))}]\n{resource['text']}"
        return (f"[resource {_short((resource or {}).get('uri'))} {_mime(resource)}, "
                f"{_size((resource or {}).get('blob'))}: binary, not shown to the model]")
    return f"[{_short(kind)} content: not shown to the model]"


def wire(result: Any, key: Optional[str]) -> Dict[str, Any]:
    """An SDK model (pydantic) as its wire form, every string redacted."""
    dumped = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return redact_data(dumped, key)


def _repeated_as(texts: List[str], structured: Any) -> Optional[str]:
    """How to send structured content its text blocks only repeat: ``"text"`` (one block, the
    same value as the server wrote it) or ``"json"`` (a list sent one block per item, which only
    JSON keeps a list); None when the text says something else, or nothing. Servers repeat it
    for older clients; the SDK's servers wrap a plain value as ``{"result": value}``."""
    if not texts:
        return None
    candidates = [structured]
    if isinstance(structured, dict) and len(structured) == 1:
        candidates.extend(structured.values())
    values = [_value(text) for text in texts]
    for candidate in candidates:
        if isinstance(candidate, list) and values == candidate:
            return "json"
        if len(texts) == 1 and values[0] == candidate:
            return "text"
    return None


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _mime(block: Any) -> str:
    return _short(block.get("mimeType") or "of unknown type") if isinstance(block, dict) else "?"


def _size(data: Any) -> str:
    """The decoded size of base64 ``data``, from its length (no need to decode megabytes)."""
    if not isinstance(data, str):
        return "no data"
    return f"{max(0, len(data) * 3 // 4 - data[-2:].count('=')):,} bytes"


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value or "").split())
    return shortened(text, limit, "…")
