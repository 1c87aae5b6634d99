"""The final block's Markdown rendered while the answer streams, one run of settled blocks at a time.

At the end of a long answer the final block (``render_markdown`` of the whole text: parse, then
Pygments for every code fence) was a third of the kernel's work, all of it after the last token.
The top-level blocks before the last blank line that starts a new block are settled: CommonMark
never reopens a block once a later one has started, and a blank line stops every construct that
could still reach back (a paragraph, a setext underline, a table, ``$$`` display math). So they are
rendered, highlighted, on the frame thread (``frames.FrameTimers``) while the stream is read, in the
time the kernel waits for the network, and ``finish`` renders only the rest:
``html(settled) + render_markdown(rest) == render_markdown(text)``.

Two constructs reach back across blank lines and are not settled at all: a reference definition
(``[label]: url`` restyles an earlier ``[label]``) and an amsmath environment (``\\begin{align}``
closes at its ``\\end``, however far). A text holding ``]:`` or ``\\begin{`` is rendered whole, and
so is one with ``\\r`` or NUL (markdown-it rewrites them, which shifts offsets). tests/test_settled.py
checks the identity over generated answers.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, List

from .frames import FRAME_S
from .markdown import MAX_MARKDOWN_CHARS, markdown_parser, render_markdown
from .seams import is_top_block, line_offset

STEP_CHARS = 4000  # a settling step is run when this much text arrived since the last one
_REACHES_BACK = ("]:", "\\begin{", "\r", "\x00")


def whole_render_needed(text: str) -> bool:
    """Whether ``text`` holds a construct that can restyle earlier blocks (module docstring)."""
    return any(mark in text for mark in _REACHES_BACK)


class SettledBlocks:
    """Renders the settled blocks of a growing text on ``timers``' thread; ``body`` at the end.

    ``source`` returns the text received so far (it only grows). A step takes no lock of the
    view's while it renders: the reader of the stream is never held up by it.
    """

    def __init__(self, source: Callable[[], str], timers: Any, clock: Callable[[], float],
                 step_chars: int = STEP_CHARS) -> None:
        self._source = source
        self._step_chars = step_chars
        self._timers = timers
        self._clock = clock
        self._lock = threading.Lock()
        self._parts: List[str] = []
        self._done = 0  # chars of the text whose final HTML is in _parts
        self._next_at = step_chars  # the text length at which the next step is scheduled
        self._scheduled = False
        self._closed = timers is None

    def grew(self, length: int) -> None:
        """The text is now ``length`` chars long: schedule a step if enough arrived."""
        if self._closed or self._scheduled or length < self._next_at:
            return
        self._scheduled = True
        # A frame later: a whole answer in one piece (--no-stream) is finished by then, and then
        # rendered once, by ``body``.
        self._timers.call_at(self._clock() + FRAME_S, self._step)

    def close(self) -> None:
        """No more steps (the final block is rendered another way)."""
        with self._lock:
            self._closed = True

    def body(self, text: str) -> str:
        """The final Markdown body of ``text`` (the whole received text): what is settled, then the
        rest rendered now. Stops the steps."""
        with self._lock:
            self._closed = True
            parts, done = self._parts, self._done
        if not parts or len(text) > MAX_MARKDOWN_CHARS or whole_render_needed(text):
            return render_markdown(text)
        return "".join(parts) + render_markdown(text[done:])

    def _step(self) -> None:
        try:
            self._settle()
        finally:
            self._scheduled = False

    def _settle(self) -> None:
        text = self._source()
        start = self._done
        end = text.rfind("\n") + 1  # complete lines only: a partial line may yet be a list item
        if self._closed or end <= start:
            return
        segment = text[start:end]
        if segment.find("\n\n", 1) < 0:  # no blank line, nothing settled: no parse either
            self._next_at = len(text) + self._step_chars
            return
        if whole_render_needed(segment) or len(text) > MAX_MARKDOWN_CHARS:
            self._closed = True  # the final block is rendered whole: nothing here is needed
            return
        md = markdown_parser()
        tokens = md.parse(segment, {})
        starts = [(i, t.map[0]) for i, t in enumerate(tokens) if is_top_block(t)]
        for index, line in reversed(starts[1:]):
            offset = line_offset(segment, line)
            if segment[offset - 2: offset] == "\n\n":  # a blank line before it: settled up to here
                html = md.renderer.render(tokens[:index], md.options, {})
                with self._lock:
                    if not self._closed and self._done == start:
                        self._parts.append(html)
                        self._done = start + offset
                self._next_at = len(text) + self._step_chars
                return
        self._next_at = len(text) + max(self._step_chars, len(segment))  # one long block: wait for more
