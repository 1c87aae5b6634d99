"""What a row holds: strings redacted, numbers checked, attachments split off as blobs.

Every string the log writes passes through :class:`Cleaner` first (CONTRACTS 5): the key, and
any run of 12 of its characters, never reaches the file, even when a server echoed it. JSON is
redacted as the text that is written, so the keys and values inside are covered too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..redaction import redact

BLOB_REF = "oai-blob:"  # a data: URL kept in the blobs table, by its sha256
# A user's own text that starts like one of our marks is kept behind this prefix, so a prompt
# reading "oai-blob:" is never taken for an attachment on resume.
LITERAL = "oai-literal:"
OMITTED = "oai-omitted:"  # a data: URL not kept (too large, or it held the key)
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII)


class Cleaner:
    """Redaction with the key as it is now (``%oai key`` may change it during a session)."""

    def __init__(self, secret: Optional[Callable[[], Optional[str]]] = None) -> None:
        self._secret = secret or (lambda: None)

    def key(self) -> Optional[str]:
        try:
            return self._secret()
        except Exception:  # a broken key source must not stop the log (nor chat)
            return None

    def text(self, value: Any) -> Optional[str]:
        if value is None:
            return None
        return redact(value if isinstance(value, str) else str(value), self.key())

    def json(self, data: Any) -> Optional[str]:
        if data is None:
            return None
        return redact(json.dumps(data, ensure_ascii=False, default=str), self.key())

    def holds_key(self, data: bytes) -> bool:
        """Does this attachment carry a run of the key? (It is then not kept at all: its
        bytes cannot be masked without breaking the file.)"""
        key = self.key()
        if not key or len(key) < 4:
            return False
        text = data.decode("latin-1")
        return redact(text, key) != text


def amount(value: Any) -> Optional[float]:
    """A number from outside (cost, tokens): finite and not negative, else nothing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def token_count(usage: Optional[Dict[str, Any]], *names: str) -> int:
    for name in names:
        number = amount((usage or {}).get(name))
        if number is not None:
            return int(number)
    return 0


def usage_amounts(usage: Any) -> Optional[Dict[str, Any]]:
    """The numbers of a usage object (nested details included), nothing else."""
    if not isinstance(usage, dict):
        return None
    kept: Dict[str, Any] = {}
    for name, value in usage.items():
        if isinstance(value, dict):
            inner = usage_amounts(value)
            if inner:
                kept[str(name)] = inner
        elif amount(value) is not None:
            kept[str(name)] = value
    return kept


@dataclass
class Attachments:
    """The blobs a row refers to, by sha256: (mime, bytes)."""

    blobs: Dict[str, Tuple[str, bytes]] = field(default_factory=dict)


def split_attachments(messages: List[Dict[str, Any]], max_bytes: int, cleaner: Cleaner
                      ) -> Tuple[List[Dict[str, Any]], Attachments]:
    """Messages with each base64 ``data:`` URL in their content parts replaced by a blob ref.

    A URL over ``max_bytes`` (decoded), or one whose bytes carry the key, becomes an
    "omitted" mark with its type and size, so a resumed conversation says what is missing.
    """
    found = Attachments()

    def keep(value: Any) -> Any:
        if isinstance(value, dict):
            return {name: keep(inner) for name, inner in value.items()}
        if isinstance(value, list):
            return [keep(inner) for inner in value]
        if not isinstance(value, str):
            return value
        if value.startswith((BLOB_REF, OMITTED, LITERAL)):
            return LITERAL + value
        match = _DATA_URL.match(value)
        if match is None:
            return value
        mime = match.group(1) or "application/octet-stream"
        try:
            data = base64.b64decode(value[match.end():], validate=False)
        except (binascii.Error, ValueError):
            return f"{OMITTED}{mime}:unreadable"
        if len(data) > max_bytes:
            return f"{OMITTED}{mime}:{len(data)}"
        if cleaner.holds_key(data):
            return f"{OMITTED}{mime}:key"
        sha = hashlib.sha256(data).hexdigest()
        found.blobs[sha] = (mime, data)
        return BLOB_REF + sha

    kept = []
    for message in messages:
        content = message.get("content")
        kept.append({**message, "content": keep(content)} if isinstance(content, list) else message)
    return kept, found


def join_attachments(messages: List[Dict[str, Any]], blobs: Dict[str, Tuple[str, bytes]]
                     ) -> List[Dict[str, Any]]:
    """The messages as sent: blob refs back as ``data:`` URLs; a part whose attachment was not
    kept becomes a text part that says so (a URL the API cannot read would fail the request)."""

    def refs(value: Any) -> List[str]:
        if isinstance(value, dict):
            return [r for inner in value.values() for r in refs(inner)]
        if isinstance(value, list):
            return [r for inner in value for r in refs(inner)]
        return [value] if isinstance(value, str) and value.startswith((BLOB_REF, OMITTED)) else []

    def restore(value: Any) -> Any:
        if isinstance(value, dict):
            return {name: restore(inner) for name, inner in value.items()}
        if isinstance(value, list):
            return [restore(inner) for inner in value]
        if isinstance(value, str) and value.startswith(LITERAL):
            return value[len(LITERAL):]
        if isinstance(value, str) and value.startswith(BLOB_REF):
            mime, data = blobs[value[len(BLOB_REF):]]
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        return value

    out = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            out.append(message)
            continue
        parts = []
        for part in content:
            missing = [r for r in refs(part) if r.startswith(OMITTED)
                       or r[len(BLOB_REF):] not in blobs]
            if missing:
                parts.append({"type": "text", "text": f"[{_missing_text(missing[0])}]"})
            else:
                parts.append(restore(part))
        out.append({**message, "content": parts})
    return out


def blob_refs(messages: List[Dict[str, Any]]) -> List[str]:
    """The sha256 of every blob these messages point at."""
    text = json.dumps(messages)
    return sorted(set(re.findall(re.escape(BLOB_REF) + r"([0-9a-f]{64})", text)))


def _missing_text(mark: str) -> str:
    if mark.startswith(BLOB_REF):
        return "attachment not in the log"
    mime, _, why = mark[len(OMITTED):].rpartition(":")
    if why == "key":
        return f"{mime} not kept in the log: it contained the API key"
    if why.isdigit():
        return f"{mime} not kept in the log: {int(why):,} bytes, over log_max_blob_bytes"
    return f"{mime} not kept in the log"
