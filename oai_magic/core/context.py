"""The notebook as context: the last error, summaries of data objects, images, and the line
that says what went with the prompt.

Everything is duck-typed: pandas, polars, numpy, PIL and matplotlib are never imported here
(``%load_ext`` stays light, and none of them is a dependency). A user who has a DataFrame has
pandas loaded already; we only call methods on objects they gave us.
"""

from __future__ import annotations

import base64
import io
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..errors import InputError
from ..image_header import read_header

ERROR_CAP = 8000  # characters of cell + traceback sent for the last error
SUMMARY_OVER = 2000  # dicts and lists whose repr is longer are summarised
MAX_IMAGE_BYTES = 20 * 1024 * 1024
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
class Attachment:
    """An image that goes with the prompt: bytes for a data URL, or an https URL as is."""

    label: str
    data: Optional[bytes] = None
    url: Optional[str] = None

    @property
    def header(self) -> Any:
        return read_header(self.data) if self.data is not None else None

    def data_url(self) -> str:
        if self.url:
            return self.url
        return f"data:{self.header.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def part(self, detail: Optional[str] = None) -> Dict[str, Any]:
        image: Dict[str, Any] = {"url": self.data_url()}
        if detail:
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}

    def describe(self) -> str:
        if self.data is None:
            return f"{self.label} (URL)"
        head = self.header
        return f"{self.label} {head.width}×{head.height} {head.format} {human_size(len(self.data))}"


@dataclass
class SentPart:
    """One thing that went with the prompt, for the sent-line and the cap."""

    label: str
    text: str = ""
    capped: bool = True  # counts toward max_context_chars

    def describe(self) -> str:
        return f"{self.label} ({kilo(len(self.text))} chars)"


def kilo(count: int) -> str:
    return f"{count / 1000:.1f} k" if count >= 1000 else str(count)


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} B"


@dataclass
class Sent:
    """Everything that goes with one prompt; says it in one line and checks the cap."""

    parts: List[SentPart] = field(default_factory=list)
    images: List[Attachment] = field(default_factory=list)

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


# --------------------------------------------------------------------------- images


def figure_png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _checked(label: str, data: bytes) -> Attachment:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"--image {label}: {human_size(len(data))} is over the 20 MB limit; nothing sent.")
    if read_header(data) is None:
        raise InputError(f"--image {label}: not a PNG, JPEG, GIF or WebP image (by its first bytes); "
                         "nothing sent.")
    return Attachment(label, data)


def resolve_image(spec: str, namespace: Mapping[str, Any], last_figure: Any = None) -> Attachment:
    """``--image SPEC``: a file, a variable (bytes, Image, PIL image, Figure), ``figure`` or a URL."""
    if spec.startswith("https://"):
        return Attachment("image", url=spec)
    if spec.startswith("http://"):
        raise InputError(f"--image {spec}: only https:// URLs are sent as is (download it, or use https).")
    if spec == "figure" and "figure" not in namespace:
        if last_figure is None:
            raise InputError("--image figure: no matplotlib figure has been shown in this kernel yet.")
        return _checked("figure", figure_png(last_figure))
    if spec.isidentifier() and spec in namespace:
        return _checked(spec, image_bytes(spec, namespace[spec]))
    path = os.path.expanduser(spec)
    if not os.path.isfile(path):
        raise InputError(f"--image {spec}: no such file or variable.")
    size = os.path.getsize(path)
    if size > MAX_IMAGE_BYTES:
        raise InputError(f"--image {spec}: {human_size(size)} is over the 20 MB limit; nothing sent.")
    with open(path, "rb") as handle:
        return _checked(os.path.basename(path), handle.read())


def image_bytes(name: str, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    data = getattr(value, "data", None)
    if isinstance(data, bytes):
        return data  # IPython.display.Image
    if callable(getattr(value, "savefig", None)):  # a matplotlib Figure
        return figure_png(value)
    if callable(getattr(value, "save", None)) and hasattr(value, "size") and hasattr(value, "mode"):
        out = io.BytesIO()  # a PIL image
        value.save(out, format="PNG")
        return out.getvalue()
    if isinstance(getattr(value, "url", None), str) and data is None:
        raise InputError(f"--image {name}: an Image with only a URL: pass the https:// URL itself.")
    raise InputError(f"--image {name}: expected bytes, an IPython Image, a PIL image or a "
                     f"matplotlib Figure, got {type(value).__name__}.")


class FigureWatcher:
    """Keeps the last matplotlib figure drawn, before the inline backend closes it.

    ``%%chat`` must start its own cell, and the inline backend closes figures at the end of each
    cell, so ``plt.gcf()`` is blank by then. This ``post_execute`` hook runs first and keeps a
    reference to the active figure; ``saw`` is told of every figure displayed (a display
    formatter in ``magics``). It never imports matplotlib: it looks only when the user did.
    """

    def __init__(self) -> None:
        self.last_figure: Any = None

    def saw(self, figure: Any) -> None:
        """A figure was displayed (the inline backend's ``plt.show()``, or ``display(fig)``)."""
        self.last_figure = figure

    def __call__(self, *args: Any) -> None:
        helpers = sys.modules.get("matplotlib._pylab_helpers")
        if helpers is None:
            return
        try:
            manager = helpers.Gcf.get_active()
        except Exception:
            return
        if manager is not None and getattr(manager.canvas, "figure", None) is not None:
            self.last_figure = manager.canvas.figure


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


def context_block(names: List[str], namespace: Mapping[str, Any]) -> Tuple[str, List[SentPart]]:
    """``--context a,b``: each variable summarised (or its text), under a "Context" heading."""
    pieces, parts = [], []
    for name in names:
        if name not in namespace:
            raise InputError(f"--context: no variable named {name!r}.")
        value = namespace[name]
        text = summary(name, value)
        label = f"{name} summary" if text is not None else name
        if text is None:
            text = f"`{name}` = {value}"
        pieces.append(text)
        parts.append(SentPart(label, text))
    return "Context:\n\n" + "\n\n".join(pieces), parts


def parse_names(value: str) -> List[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if not n.isidentifier()]
    if bad or not names:
        raise InputError(f"--context takes variable names separated by commas, got {value!r}.")
    return names
