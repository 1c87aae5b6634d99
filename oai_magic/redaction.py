"""Redaction: the API key never shows itself, and no server-derived text carries it.

CONTRACTS 5: one function masks the key (and any run of 12 or more of its characters) in every
string a server sent, before it is displayed, stored or raised; streamed text is held back just
long enough to be safe. ``Secret`` holds the key itself and masks it in every repr.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from .errors import InputError


def mask_key(key: Optional[str]) -> str:
    """Show a key as ``sk-…abcd``: enough to recognise it, never enough to use it."""
    if not key:
        return "(not set)"
    prefix = "sk-" if key.startswith("sk-") else ""
    tail = key[-4:] if len(key) >= 12 else ""
    return f"{prefix}…{tail}"


MIN_KEY_RUN = 12


def _key_pieces(key: str) -> Tuple[re.Pattern, int, Tuple[str, ...]]:
    """A regex finding any run of ``MIN_KEY_RUN`` key characters, that run length, and anchors.

    The regex tries every piece at every position; the anchors (the key cut in blocks of half
    a run) let most text skip it: every run of the key holds one whole block, and ``in`` finds
    a block in C at a glance. Streamed text is checked 20,000 times for a long answer.
    """
    run = min(MIN_KEY_RUN, len(key))
    grams = {key[i : i + run] for i in range(len(key) - run + 1)}
    pattern = re.compile("|".join(re.escape(g) for g in sorted(grams, key=len, reverse=True)))
    half = max(1, run // 2)
    anchors = tuple({key[i : i + half] for i in range(0, len(key) - half + 1, half)})
    return pattern, run, anchors


_PATTERNS: Dict[str, Tuple[re.Pattern, int, Tuple[str, ...]]] = {}


def _pattern(key: str) -> Tuple[re.Pattern, int, Tuple[str, ...]]:
    found = _PATTERNS.get(key)
    if found is None:
        if len(_PATTERNS) > 8:
            _PATTERNS.clear()
        found = _PATTERNS[key] = _key_pieces(key)
    return found


def _may_hold_key(text: str, key: str) -> bool:
    """False when ``text`` surely holds no run of the key (too short, or none of its blocks)."""
    _, run, anchors = _pattern(key)
    return len(text) >= run and any(anchor in text for anchor in anchors)


def _key_matches(text: str, key: str) -> List[Tuple[int, int]]:
    """Spans of ``text`` that are runs of the key (12 or more of its characters), maximal."""
    if not _may_hold_key(text, key):
        return []
    pattern, run, _ = _pattern(key)
    spans: List[Tuple[int, int]] = []
    pos = 0
    while True:
        match = pattern.search(text, pos)
        if match is None:
            return spans
        start, end = match.span()
        # Grow the run while it is still a piece of the key (the key may appear cut anywhere).
        while end < len(text) and text[start : end + 1] in key:
            end += 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        pos = end


def redact(text: str, key: Optional[str]) -> str:
    """The one place a server-derived string loses the key: every run of it becomes ``sk-…abcd``.

    A hostile or careless server can echo the key (in an error, a header, a model id, the
    answer); it must never reach an output, a result, an exception, a conversation or widget
    state. Any run of 12 or more of the key's characters is masked, not only the whole key.
    """
    if not key or not text or not isinstance(text, str) or len(key) < 4:
        return text
    spans = _key_matches(text, key)
    if not spans:
        return text
    masked, last = [], 0
    for start, end in spans:
        masked.append(text[last:start])
        masked.append(mask_key(key))
        last = end
    masked.append(text[last:])
    return "".join(masked)


_SECRET_HEADER = re.compile(r"key|token|auth|secret|password|cookie|signature|credential", re.I)
_SECRET_VALUE = re.compile(r"(?:bearer\s+)?[A-Za-z0-9_\-.=+/]{20,}", re.I)


def looks_secret(name: str, value: str) -> bool:
    """A header value to keep masked: a secret-sounding name (``api-key``, ``Authorization``,
    ``x-auth-token``) or a long key-like value."""
    return bool(_SECRET_HEADER.search(name) or _SECRET_VALUE.fullmatch(value.strip()))


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_OWN_HEADERS = ("content-type", "content-length", "host", "accept", "transfer-encoding")


def checked_extra_headers(headers: Any) -> Dict[str, Any]:
    """``OAIMagics.extra_headers`` checked once, at ``%config``: names are HTTP tokens, values
    one line of text; a value that looks like a secret is kept as a ``Secret`` (masked in
    ``%config``, ``%oai`` and every repr, revealed only into the request)."""
    if not isinstance(headers, dict):
        raise InputError('OAIMagics.extra_headers takes a dict, e.g. {"api-key": "…"}')
    checked: Dict[str, Any] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InputError(f"OAIMagics.extra_headers: {name!r} is not a header name")
        if name.lower() in _OWN_HEADERS:
            raise InputError(f"OAIMagics.extra_headers: {name} is set by oai_magic itself")
        text = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(text, str) or any(c in text for c in "\r\n\0"):
            raise InputError(f"OAIMagics.extra_headers[{name!r}] must be one line of text")
        checked[name] = Secret(text) if looks_secret(name, text) else text
    return checked


def shown_headers(headers: Dict[str, Any]) -> str:
    """``name: value`` pairs for ``%oai``, secret values masked."""
    return ", ".join(f"{name}: {mask_key(v.reveal()) if isinstance(v, Secret) else v}"
                     for name, v in headers.items())


def redact_pieces(pieces: List[str], key: Optional[str]) -> List[str]:
    """Redaction of text that came in pieces kept apart (logprobs tokens): the pieces are
    checked joined, and every piece that touches a run of the key is masked (the first of
    them shows the mask, the others become empty), so a key split across tokens is masked too."""
    if not key or len(key) < 4 or not pieces:
        return list(pieces)
    spans = _key_matches("".join(pieces), key)
    if not spans:
        return list(pieces)
    out, pos, masked_spans = [], 0, set()
    for piece in pieces:
        start, end = pos, pos + len(piece)
        pos = end
        hit = next((i for i, (a, b) in enumerate(spans) if a < end and start < b), None)
        if hit is None:
            out.append(piece)
        else:
            out.append("" if hit in masked_spans else mask_key(key))
            masked_spans.add(hit)
    return out


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def redact_data(data: Any, key: Optional[str]) -> Any:
    """``redact`` over every string (keys and values) of decoded JSON.

    Lone surrogates (JSON allows ``"\\ud800"``) become U+FFFD on the way: they cannot be
    encoded as UTF-8, so they would break every display and export later.
    """
    if isinstance(data, str):
        if _LONE_SURROGATE.search(data):
            data = _LONE_SURROGATE.sub("\ufffd", data)
        return redact(data, key)
    if isinstance(data, dict):
        return {redact_data(k, key): redact_data(v, key) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_data(v, key) for v in data]
    return data


_JSON_ESCAPE_RESULTS = frozenset('"\\/\b\f\n\r\t')  # what JSON escapes other than \\u make


def json_needs_redaction(raw: str, key: Optional[str]) -> bool:
    """Whether ``redact_data(json.loads(raw), key)`` could change anything: False lets a stream
    skip walking most of its events (20,000 of them for a long answer).

    Without ``\\u`` escapes (the only way to a lone surrogate), JSON's escapes make only the
    characters ``" \\ / \\b \\f \\n \\r \\t``; for a key with none of them, a run of the key in a
    decoded string is a run of the key in the raw text, so one search of the raw text decides.
    """
    if "\\u" in raw:
        return True
    if not key or len(key) < 4:
        return False
    if not _JSON_ESCAPE_RESULTS.isdisjoint(key):
        return True
    return _may_hold_key(raw, key) and _pattern(key)[0].search(raw) is not None


class StreamRedactor:
    """Redaction for text that arrives in pieces: a key split across two deltas is still masked.

    ``feed`` returns the part of the text that is safe to show. Of the last ``len(key) - 1``
    characters it holds back only a tail that could still grow into a run of the key (a tail
    that is itself a piece of the key with room to reach 12 characters), so ordinary text is
    not delayed; ``flush`` gives the rest when the stream is over.
    """

    def __init__(self, key: Optional[str]) -> None:
        self.key = key if key and len(key) >= 4 else None
        self._key_chars = frozenset(key or "")
        self._pending = ""

    def feed(self, piece: str) -> str:
        key = self.key
        if key is None:
            return piece
        text = self._pending + piece
        cut = self._held_from(text, key)
        spans = _key_matches(text, key)
        for start, end in spans:
            if start < cut < end:
                cut = start
                break
        self._pending = text[cut:]
        return redact(text[:cut], key) if spans else text[:cut]

    def _held_from(self, text: str, key: str) -> int:
        """Where the tail that could still grow into a run of the key starts (``len(text)``: none).

        Only a tail made of the key's characters can be a piece of it: the search starts there,
        so a streamed token costs a few comparisons, not one per character of the key.
        """
        start, lowest = len(text), max(0, len(text) - len(key) + 1)
        while start > lowest and text[start - 1] in self._key_chars:
            start -= 1
        run = min(MIN_KEY_RUN, len(key))
        for at_text in range(start, len(text)):
            at = key.find(text[at_text:])
            if at != -1 and len(key) - at >= run:
                return at_text
        return len(text)

    def flush(self) -> str:
        """The held-back tail, redacted: the stream is over."""
        text, self._pending = self._pending, ""
        return redact(text, self.key) if self.key else text


class Secret:
    """A string that never shows itself: repr, str and format all mask it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({mask_key(self._value)!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        raise TypeError("an API key is not pickled")
