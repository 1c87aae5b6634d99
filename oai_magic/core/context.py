"""The notebook as context: the last error, summaries of data objects, images, and the line
that says what went with the prompt.

Everything is duck-typed: pandas, polars, numpy, PIL and matplotlib are never imported here
(``%load_ext`` stays light, and none of them is a dependency). A user who has a DataFrame has
pandas loaded already; we only call methods on objects they gave us.
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..errors import InputError
from .images import (
    Attachment,
)

ERROR_CAP = 8000  # characters of cell + traceback sent for the last error
SUMMARY_OVER = 2000  # dicts and lists whose repr is longer are summarised
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def redact_text(text: str, key: Optional[str]) -> str:
    """Mask the key in text we send (a traceback can hold it): the project's one redaction."""
    from ..state import redact

    return redact(text, key) if text else text


# --------------------------------------------------------------------------- the last error


@dataclass
class LastError:
    """The most recent exception of the kernel (not our own UsageErrors) and the cell it came from."""

    cell: str
    exception: BaseException

    def text(self, key: Optional[str] = None, cap: int = ERROR_CAP) -> str:
        """The failing cell and its traceback as plain text: no ANSI codes, within ``cap``
        characters (the middle frames go first, with a note), the key masked."""
        source = _strip_ansi(self.cell.strip("\n"))
        if len(source) > cap // 3:
            cut = cap // 3
            source = source[:cut] + f"\n# … ({len(source) - cut} more characters of the cell)"
        tb = _traceback_text(self.exception, cap - len(source) - 120)
        text = f"The cell that failed:\n```python\n{source}\n```\n\nIts traceback:\n```\n{tb}\n```"
        return redact_text(text, key)

    @property
    def name(self) -> str:
        return type(self.exception).__name__


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _user_frames(tb: Any) -> Any:
    """Skip IPython's own frames (run_code's ``exec``) above the user's cell."""
    while tb is not None and "IPython" + os.sep + "core" in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    return tb


def _traceback_text(exc: BaseException, cap: int) -> str:
    """``traceback`` text; when over ``cap``, the first frame and the last ones are kept."""
    tb = _user_frames(exc.__traceback__)
    frames = traceback.format_tb(tb) if tb is not None else []
    tail = "".join(traceback.format_exception_only(type(exc), exc))
    tail = _strip_ansi(tail)
    if len(tail) > cap // 2:
        tail = tail[: cap // 2] + f"… ({len(tail) - cap // 2} more characters)\n"
    frames = [_strip_ansi(f) for f in frames]
    head = "Traceback (most recent call last):\n"
    if len(head) + sum(map(len, frames)) + len(tail) <= cap:
        return (head + "".join(frames) + tail).rstrip("\n")
    budget = cap - len(head) - len(tail) - 60
    first = frames[:1] if frames and len(frames[0]) < budget // 3 else []
    budget -= sum(map(len, first))
    last: List[str] = []
    for frame in reversed(frames[len(first):]):
        if len(frame) > budget:
            if not last:  # even one frame is too long: keep its end
                last.append("  …" + frame[-max(budget, 0):])
            break
        last.insert(0, frame)
        budget -= len(frame)
    dropped = len(frames) - len(first) - len(last)
    note = [f"  … {dropped} frame{'s' if dropped != 1 else ''} in the middle left out …\n"] if dropped else []
    return (head + "".join(first + note + last) + tail).rstrip("\n")


FIX_REQUEST = ("Explain what went wrong in this cell, briefly, then give a corrected version of "
               "the whole cell as one Python code block.")


def fix_request(state: Any, max_context_chars: Optional[int]) -> Tuple[List[Dict[str, str]],
                                                                       Optional[str], LastError]:
    """What ``%chat fix`` and the panel's "ask about the last error" send, in one place: the
    request, then the failing cell and its traceback (the key masked, within the context cap).
    Returns (user content, the sent-line notice, the error); no error yet is one line."""
    last = state.last_error
    if last is None:
        raise InputError("There has been no error in this kernel yet, so there is nothing to fix.")
    text = last.text(state.settings.resolved_key())
    sent = Sent([SentPart("traceback", text)])
    sent.check_cap(max_context_chars)
    return [{"type": "text", "text": FIX_REQUEST}, {"type": "text", "text": text}], sent.notice(), last


# --------------------------------------------------------------------------- summaries


def _short(value: Any, limit: int = 40) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_dataframe(obj: Any) -> bool:
    shape = getattr(obj, "shape", None)
    return (isinstance(shape, tuple) and len(shape) == 2 and hasattr(obj, "columns")
            and hasattr(obj, "dtypes") and callable(getattr(obj, "head", None)))


def _is_series(obj: Any) -> bool:
    shape = getattr(obj, "shape", None)
    return (isinstance(shape, tuple) and len(shape) == 1 and hasattr(obj, "dtype")
            and callable(getattr(obj, "head", None)))


def _is_array(obj: Any) -> bool:
    return (isinstance(getattr(obj, "shape", None), tuple) and hasattr(obj, "dtype")
            and callable(getattr(obj, "ravel", None)) and callable(getattr(obj, "tolist", None)))


def _rows(frame: Any) -> List[tuple]:
    head = frame.head(5)
    if callable(getattr(head, "rows", None)):  # polars
        return [tuple(r) for r in head.rows()]
    if callable(getattr(head, "itertuples", None)):  # pandas
        return [tuple(r) for r in head.itertuples(index=False)]
    return []


def _dataframe_summary(name: str, frame: Any) -> str:
    rows, cols = frame.shape
    columns = [str(c) for c in list(frame.columns)]
    dtypes = [str(d) for d in list(frame.dtypes)]
    shown = columns[:20]
    described = ", ".join(f"{c} ({d})" for c, d in zip(shown, dtypes))
    more = f", … {len(columns) - 20} more" if len(columns) > 20 else ""
    lines = [f"DataFrame `{name}`: {rows} rows × {cols} columns",
             f"columns: {described}{more}", "", "first 5 rows:", "",
             "| " + " | ".join(_short(c) for c in shown) + " |",
             "|" + "---|" * len(shown)]
    for row in _rows(frame):
        lines.append("| " + " | ".join(_short(v) for v in row[:20]) + " |")
    return "\n".join(lines)


def _series_summary(name: str, series: Any) -> str:
    head = series.head(5)
    values = head.to_list() if callable(getattr(head, "to_list", None)) else list(head)
    label = getattr(series, "name", None)
    called = f" (name {label!r})" if label not in (None, "", name) else ""
    return (f"Series `{name}`{called}: {series.shape[0]} values, dtype {series.dtype}; "
            f"first 5: {', '.join(_short(v) for v in values)}")


def _array_summary(name: str, array: Any) -> str:
    values = array.ravel()[:8].tolist()
    size = 1
    for n in array.shape:
        size *= n
    more = ", …" if size > 8 else ""
    return (f"array `{name}`: shape {tuple(array.shape)}, dtype {array.dtype}; "
            f"values: {', '.join(_short(v, 20) for v in values)}{more}")


def summary(name: str, obj: Any) -> Optional[str]:
    """A bounded summary of a data object, or None when ``str(obj)`` is what should go."""
    if isinstance(obj, (str, bytes, int, float)):
        return None
    if _is_dataframe(obj):
        return _dataframe_summary(name, obj)
    if _is_series(obj):
        return _series_summary(name, obj)
    if _is_array(obj):
        return _array_summary(name, obj)
    if isinstance(obj, (dict, list, tuple, set)):
        text = repr(obj)
        if len(text) > SUMMARY_OVER:
            kind = type(obj).__name__
            items = "keys" if isinstance(obj, dict) else "items"
            return f"{kind} `{name}` ({len(obj)} {items}), cut to {SUMMARY_OVER} characters: " \
                   f"{text[:SUMMARY_OVER]}…"
    return None


# --------------------------------------------------------------------------- what was sent


@dataclass
class SentPart:
    """One thing that went with the prompt, for the sent-line and the cap."""

    label: str
    text: str = ""
    capped: bool = True  # counts toward max_context_chars

    def describe(self) -> str:
        if not self.text and not self.capped:  # a note (the key was masked), not a part
            return self.label
        return f"{self.label} ({kilo(len(self.text))} chars)"


def kilo(count: int) -> str:
    return f"{count / 1000:.1f} k" if count >= 1000 else str(count)


@dataclass
class Sent:
    """Everything that goes with one prompt; says it in one line and checks the cap."""

    parts: List[SentPart] = field(default_factory=list)
    images: List[Attachment] = field(default_factory=list)
    unknown_names: Optional[str] = None  # the notice for {names} sent as typed (no such variable)

    def check_cap(self, cap: Optional[int]) -> None:
        counted = [p for p in self.parts if p.capped]
        total = sum(len(p.text) for p in counted)
        if cap is None or total <= cap:
            return
        biggest = max(counted, key=lambda p: len(p.text))
        raise InputError(
            f"Nothing sent: the context is {total:,} characters, over the {cap:,} allowed "
            f"(%config OAIMagics.max_context_chars); the biggest part is {biggest.label} "
            f"({len(biggest.text):,} characters)."
        )

    def notice(self) -> Optional[str]:
        if not self.parts and not self.images:
            return None
        pieces = [p.describe() for p in self.parts] + [a.describe() for a in self.images]
        return SentNotice("sent with the prompt: " + " · ".join(pieces), self.images)


class SentNotice(str):
    """The sent-line: text everywhere (terminal, dedup), plus the images for thumbnails."""

    images: List[Attachment]

    def __new__(cls, text: str, images: List[Attachment]) -> SentNotice:
        notice = super().__new__(cls, text)
        notice.images = list(images)
        return notice


# --------------------------------------------------------------------------- content parts


def user_content(prompt: str, context_block: Optional[str], images: List[Attachment],
                 detail: Optional[str]) -> Union[str, List[Dict[str, Any]]]:
    """A plain string when only text goes; else text parts (context first) and image parts."""
    if not context_block and not images:
        return prompt
    parts: List[Dict[str, Any]] = []
    if context_block:
        parts.append({"type": "text", "text": context_block})
    parts.append({"type": "text", "text": prompt})
    parts.extend(a.part(detail) for a in images)
    return parts


def context_block(names: List[str], namespace: Mapping[str, Any],
                  key: Optional[str] = None) -> Tuple[str, List[SentPart]]:
    """``--context a,b``: each variable summarised (or its text), under a "Context" heading.

    A value whose ``str`` or summary fails is one line naming it; one that holds the ``key``
    goes with it masked, and the sent-line says so (CONTRACTS 5 and 6)."""
    from ..redaction import masked_label, redact
    from .interpolate import text_of

    pieces, parts, notes = [], [], []
    for name in names:
        if name not in namespace:
            raise InputError(f"--context: no variable named {name!r}.")
        value = namespace[name]
        text = text_of(name, lambda n=name, v=value: summary(n, v), "summary")
        label = f"{name} summary" if text is not None else name
        if text is None:
            text = f"`{name}` = {text_of(name, lambda v=value: str(v))}"
        if key and redact(text, key) != text:
            text = redact(text, key)
            notes.append(SentPart(masked_label(name), "", False))
        pieces.append(text)
        parts.append(SentPart(label, text))
    return "Context:\n\n" + "\n\n".join(pieces), parts + notes


def parse_names(value: str) -> List[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if not n.isidentifier()]
    if bad or not names:
        raise InputError(f"--context takes variable names separated by commas, got {value!r}.")
    return names
