"""A model's reasoning as it is shown: collapsed with its length in a notebook (live while it
streams), dim text before the answer in a terminal. It is model output, so escaped."""

from __future__ import annotations

from typing import Any, Callable, List, TextIO

from ..plain_text import terminal_safe
from .frames import SHOWN, FramePacer
from .markdown import IGNORE_MATH, escape_html
from .surface import LiveRegion

# Where streamed reasoning goes (above the answer); empty, so invisible, until something is set.
REASONING_REGION = f'<div class="oai-reasoning {IGNORE_MATH}"></div>'


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
    when the answer starts."""

    def __init__(self, surface: Any, region: str, interval: float, clock: Callable[[], float]
                 ) -> None:
        self.view = LiveRegion(surface, region)
        self.pacer = FramePacer(self._draw, frame_s=interval, clock=clock)
        self.parts: List[str] = []
        self.settled = False

    def append(self, text: str) -> None:
        with self.pacer.lock:
            self.parts.append(text)
            if not self.settled:
                self.pacer.changed()

    def settle(self) -> None:
        if self.settled:  # called on every answer token: nothing to do after the first
            return
        with self.pacer.lock:
            if self.parts and not self.settled:
                self.pacer.force()
            self.settled = True
            self.pacer.stop()

    def _draw(self) -> str:
        self.view.show(reasoning_html("".join(self.parts), live=True))
        return SHOWN


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
