"""Redaction: the API key never shows itself, and no server-derived text carries it.

CONTRACTS 5: one function masks the key (and any run of 12 or more of its characters) in every
string a server sent, before it is displayed, stored or raised; streamed text is held back just
long enough to be safe. ``Secret`` holds the key itself and masks it in every repr.
"""

from __future__ import annotations

import html
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import unquote


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


# What a renderer or a browser decodes: HTML character references (the regex of the stdlib's
# ``html.unescape``: decimal, hex, named, with or without ";") and percent-escapes.
_CHARREF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_ENCODED_UNIT = re.compile(f"{_CHARREF.pattern}|{_PERCENT.pattern}")
# A unit cut off at the end of a streamed piece: it may still become one.
_PARTIAL_UNIT = re.compile(r"(?:&(?:#[0-9]*|#[xX][0-9a-fA-F]*|[^\t\n\f <&#;]{0,32})|%[0-9a-fA-F]?)$")
MAX_DECODE_LEVELS = 4


def _decode_unit(unit: str) -> Optional[str]:
    if unit[0] == "%":
        value = chr(int(unit[1:], 16))
        return value if value < "\x80" else None  # a key is ASCII; UTF-8 bytes stay as typed
    value = html.unescape(unit)
    return None if value == unit else value


def _decoded_views(text: str, open_end: bool = False) -> Iterator[Tuple[str, List[int], List[int]]]:
    """Each step of decoding of ``text``, with every decoded character's span in ``text``.

    Steps alternate as a browser decodes (and as ``fully_decoded`` does): the character
    references of the whole text first, then its percent-escapes, then again. With
    ``open_end`` (a stream not over) a reference at the very end without its ";" stays as
    typed: more digits may follow."""
    starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
    unchanged = 0
    for step in range(2 * MAX_DECODE_LEVELS):
        units = _CHARREF if step % 2 == 0 else _PERCENT
        out, new_starts, new_ends, pos, changed = [], [], [], 0, False
        for match in units.finditer(text):
            if open_end and match.end() == len(text) and match.group()[0] == "&" \
                    and not match.group().endswith(";"):
                continue
            value = _decode_unit(match.group())
            if value is None:
                continue
            a, b = match.span()
            out.append(text[pos:a])
            new_starts += starts[pos:a]
            new_ends += ends[pos:a]
            out.append(value)
            new_starts += [starts[a]] * len(value)
            new_ends += [ends[b - 1]] * len(value)
            pos, changed = b, True
        if not changed:
            unchanged += 1
            if unchanged == 2:
                return
            continue
        unchanged = 0
        out.append(text[pos:])
        text, starts, ends = "".join(out), new_starts + starts[pos:], new_ends + ends[pos:]
        yield text, starts, ends


def fully_decoded(text: str) -> str:
    """``text`` as a renderer and a browser could end up reading it: references and
    percent-escapes decoded, again and again (``MAX_DECODE_LEVELS`` times at most)."""
    for _ in range(MAX_DECODE_LEVELS):
        decoded = unquote(html.unescape(text))
        if decoded == text:
            break
        text = decoded
    return text


def _encoded_spans(text: str, key: str) -> List[Tuple[int, int]]:
    """Spans of ``text`` that decode to a run of the key. A cheap check first: most text
    has no ``&`` or ``%``, and most that has them decodes to no key."""
    if "&" not in text and "%" not in text:
        return []
    if not _key_matches(fully_decoded(text), key):
        return []
    return [(starts[a], ends[b - 1]) for view, starts, ends in _decoded_views(text)
            for a, b in _key_matches(view, key)]


def _merged(spans: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def masked_label(name: str) -> str:
    """The notice for a value that would have sent the key (``{env}``, ``--context env``)."""
    return f"the API key in `{name}` was masked"


def redact(text: str, key: Optional[str]) -> str:
    """The one place a server-derived string loses the key: every run of it becomes ``sk-…abcd``.

    A hostile or careless server can echo the key (in an error, a header, a model id, the
    answer); it must never reach an output, a result, an exception, a conversation or widget
    state. Any run of 12 or more of the key's characters is masked, not only the whole key,
    and so is a run written as HTML character references or percent-escapes (nested up to
    ``MAX_DECODE_LEVELS`` deep): the Markdown renderer and the browser would decode it back.
    """
    if not key or not text or not isinstance(text, str) or len(key) < 4:
        return text
    spans = _merged(_key_matches(text, key) + _encoded_spans(text, key))
    if not spans:
        return text
    masked = _masked(text, spans, key)
    if ("&" in text or "%" in text) and _key_matches(fully_decoded(masked), key):
        # decoded across what the steps keep apart (a reference glued to a percent-escape):
        # everything from the first encoded unit to the last goes too, else the whole text
        units = [m.span() for m in _ENCODED_UNIT.finditer(text)]
        masked = _masked(text, _merged(spans + [(units[0][0], units[-1][1])]), key)
        if _key_matches(fully_decoded(masked), key):
            return mask_key(key)
    return masked


def _masked(text: str, spans: List[Tuple[int, int]], key: str) -> str:
    masked, last = [], 0
    for start, end in spans:
        masked.append(text[last:start])
        masked.append(mask_key(key))
        last = end
    masked.append(text[last:])
    return "".join(masked)


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


# The characters a percent-escape or an HTML character reference is made of (plain_text.shortened
# never cuts a preview inside a run of them).
ENCODING_CHARS = frozenset("&#;%abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
ENCODED_WINDOW = 16  # raw characters per key character an encoded tail may take (&#x0073;)


# Where what leaves the kernel finds the key: set once per kernel when the magics load
# (``magics.kernel_hooks.guard_outputs``); the outputs of that kernel are then checked after
# rendering, whatever produced them (CONTRACTS 5, redaction at both ends).
_outbound_key: List[Callable[[], Optional[str]]] = []


def set_outbound_key(source: Callable[[], Optional[str]]) -> None:
    _outbound_key[:] = [source]


def outbound_key() -> Optional[str]:
    """The key what leaves the kernel is checked for (a live view streaming text in pieces
    masks it with a ``StreamRedactor``: a key split across two messages passes each one)."""
    try:
        return _outbound_key[0]() if _outbound_key else None
    except Exception:
        return None


def redact_outbound(data: Any) -> Any:
    """A MIME bundle, a widget message or a log row as it leaves the kernel: every string
    redacted again, after rendering (a renderer or a browser may have decoded a key back)."""
    key = outbound_key()
    return redact_data(data, key) if key else data


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
    if ("&" in raw or "%" in raw) and _key_matches(fully_decoded(raw), key):
        return True  # written as references or percent-escapes (CONTRACTS 5)
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
        self._encoded_chars = self._key_chars | ENCODING_CHARS
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
        cut = min(cut, self._encoded_cut(text, min(MIN_KEY_RUN, len(key))))
        self._pending = text[cut:]
        shown = text[:cut]
        return redact(shown, key) if spans or "&" in shown or "%" in shown else shown

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

    def _encoded_cut(self, text: str, run: int) -> int:
        """Where to hold back a tail that, once decoded, could still grow into a run of the
        key (``&#115;&#107;...`` a piece at a time), or that ends in an encoded unit cut in
        half, at any step of decoding (``&#0038#04`` may still become ``&#045;``)."""
        if "&" not in text and "%" not in text:
            return len(text)
        key = self.key or ""
        # An encoded key is made of the key's characters, letters, digits and "&#;%" only: the
        # tail worth decoding starts after the last other character (a space, a bracket...).
        window, lowest = len(text), max(0, len(text) - ENCODED_WINDOW * len(key))
        allowed = self._encoded_chars
        while window > lowest and text[window - 1] in allowed:
            window -= 1
        tail = text[window:]
        if "&" not in tail and "%" not in tail:
            return len(text)
        cut = len(text)
        partial = _PARTIAL_UNIT.search(tail)
        if partial:  # decoded as it stands, "&#0" would read as a character it may not become
            cut = window + partial.start()
            tail = tail[: partial.start()]
        as_typed = (tail, list(range(len(tail))), list(range(1, len(tail) + 1)))
        for view, starts, ends in [as_typed, *_decoded_views(tail, open_end=True)]:
            partial = _PARTIAL_UNIT.search(view)
            if partial:
                cut = min(cut, window + starts[partial.start()])
                view = view[: partial.start()]
            for start in range(max(0, len(view) - len(key)), len(view)):
                at = key.find(view[start:])
                if at != -1 and len(key) - at >= run:
                    cut = min(cut, window + starts[start])
                    break
            for a, b in _key_matches(view, key):  # a run the cut would split
                if window + starts[a] < cut < window + ends[b - 1]:
                    cut = window + starts[a]
        return cut

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
