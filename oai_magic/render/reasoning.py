"""A model's reasoning as it is shown: collapsed with its length in a notebook (live while it
streams), dim text before the answer in a terminal. It is model output, so escaped."""

from __future__ import annotations

from typing import Any, Callable, List, TextIO

from ..plain_text import terminal_safe
from .budget import ByteBudget
from .frames import HELD, SHOWN, FramePacer
from .markdown import IGNORE_MATH, escape_html
from .surface import js_length

# Where streamed reasoning goes (above the answer); empty, so invisible, until something is set.
REASONING_REGION = f'<div class="oai-reasoning {IGNORE_MATH}"></div>'
SEAL_CHARS = 16_384  # the page re-parses the open block of text on each append: kept this short


def reasoning_html(text: str, *, live: bool = False) -> str:
    """The model's reasoning, collapsed, with its length; model output, so escaped."""
    label = "Thinking…" if live else "Thought"
    return (f'<details class="oai-reasoning-block {IGNORE_MATH}" style="opacity:0.75">'
            f'<summary style="font-size:smaller">{label} ({len(text):,} chars)</summary>'
            f'<div style="white-space:pre-wrap;font-size:smaller">{escape_html(text)}</div>'
            "</details>")


def reasoning_text(text: str) -> str:
    """The ``text/plain`` stand-in for reasoning in a final block."""
    return f"[Thought: {len(text):,} chars]"


class LiveReasoning:
    """Streamed reasoning in one region of a live surface: collapsed, with its length, drawn
    within a frame (``frames.py``: ``interval`` is the frame); ``settle`` draws the last of it
    when the answer starts.

    Only what is new is sent: the region holds a ``<details>`` whose label is replaced (a few
    bytes) and whose text is appended to, in blocks sealed every ``SEAL_CHARS`` so the page
    never re-parses more than one block. Live bytes are paid from a ``ByteBudget``: a fast
    stream's label is redrawn less often, never with bytes that grow with the square of the text.
    """

    def __init__(self, surface: Any, region: str, interval: float, clock: Callable[[], float]
                 ) -> None:
        self.surface, self.region = surface, region
        self.pacer = FramePacer(self._draw, frame_s=interval, clock=clock)
        self.budget = ByteBudget(clock, interval)
        self.parts: List[str] = []
        self.settled = False
        self._drawn = 0  # parts on the page
        self._chars = 0  # their characters
        self._open_length = 0  # the open text block's length on the page (UTF-16 units)
        self._label = ""  # the label the page shows
        self._forced = False

    def append(self, text: str) -> None:
        with self.pacer.lock:
            self.parts.append(text)
            self.budget.receive(len(text.encode("utf-8", "surrogatepass")))
            if not self.settled:
                self.pacer.changed()

    def settle(self) -> None:
        if self.settled:  # called on every answer token: nothing to do after the first
            return
        with self.pacer.lock:
            if self.parts and not self.settled:
                self._forced = True
                self.pacer.force()
                self._forced = False
            self.settled = True
            self.pacer.stop()

    def _draw(self) -> str:
        region, sent = self.region, False
        if not self._label:
            self.surface.add_region(f"{region}:d", f'<details class="oai-reasoning-block {IGNORE_MATH}"'
                                    ' style="opacity:0.75"></details>', parent=region)
            self.surface.add_region(f"{region}:s", '<summary style="font-size:smaller"></summary>',
                                    parent=f"{region}:d")
            self.surface.add_region(f"{region}:b", '<div style="white-space:pre-wrap;'
                                    'font-size:smaller"></div>', parent=f"{region}:d")
            self.budget.pay(300)
        if self._drawn < len(self.parts):
            new = "".join(self.parts[self._drawn:])
            html = escape_html(new)
            cost = len(html.encode("utf-8", "surrogatepass")) + 4
            if self._forced or not self._label or self.budget.affordable(cost):
                self.surface.patch_open(f"{region}:b", self._open_length, html)
                self.budget.pay(cost)
                self._drawn, self._chars = len(self.parts), self._chars + len(new)
                self._open_length += js_length(html)
                if self._open_length >= SEAL_CHARS:
                    self.surface.seal(f"{region}:b")
                    self._open_length = 0
                sent = True
        label = f"Thinking… ({self._chars:,} chars)"
        if label != self._label and (self._forced or not self._label
                                     or self.budget.affordable(len(label) + 40)):
            self.surface.set_html(f"{region}:s", label)
            self.budget.pay(len(label) + 40)
            self._label = label
            sent = True
        if sent:
            self.surface.flush()
        return SHOWN if self._drawn == len(self.parts) and label == self._label else HELD


DIM, UNDIM = "\x1b[2m", "\x1b[22m"


class DimReasoning:
    """A terminal's streamed reasoning: dim text (ANSI faint) before the answer, as it arrives."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.open = out, False

    def append(self, text: str) -> None:
        if not self.open:
            self.open = True
            self.out.write(DIM + "Thinking… ")
        self.out.write(terminal_safe(text))  # server text: our dim codes only
        self.out.flush()

    def close(self) -> None:
        """Back to normal text, a blank line before what follows."""
        if self.open:
            self.open = False
            self.out.write(UNDIM + "\n\n")
