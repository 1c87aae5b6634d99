"""The final block's Markdown rendered while the answer streams, one run of settled blocks at a time.

At the end of a long answer the final block (``render_markdown`` of the whole text: parse, then
Pygments for every code fence) was a third of the kernel's work, all of it after the last token.
The top-level blocks before the last blank line that starts a new block are settled: CommonMark
never reopens a block once a later one has started, and a blank line stops every construct that
could still reach back (a paragraph, a setext underline, a table, ``$$`` display math). So they are
rendered, highlighted, while the stream is read, and ``finish`` renders only the rest:
``html(settled) + render_markdown(rest) == render_markdown(text)``.

A step is taken by the thread that appends the text, right after its draw, under the view's
lock: the server keeps sending into the socket meanwhile, so the work overlaps the network, and
the next read takes what piled up. A step renders at most ``MAX_STEP_CHARS`` when a block ends
within them; a longer block (a long code fence) is settled once it has ended, trying again each
time it doubles, up to ``MAX_BLOCK_CHARS``: a block longer still is left to ``body`` with all
that follows, so no step parses more than that and an endless block is not parsed again and
again. Steps on the
frame thread were worse both ways (bench_kernel_path.py): they competed with the reading thread
for the GIL, each read waiting for it, and on a fast stream ran too seldom, leaving 20-80% of the
answer for the end.

Two constructs reach back across blank lines and are not settled at all: a reference definition
(``[label]: url`` restyles an earlier ``[label]``) and an amsmath environment (``\\begin{align}``
closes at its ``\\end``, however far). A text holding ``]:`` or ``\\begin{`` is rendered whole, and
so is one with ``\\r`` or NUL (markdown-it rewrites them, which shifts offsets). tests/test_settled.py
checks the identity over generated answers.
"""

from __future__ import annotations

from typing import Callable, List

from .markdown import MAX_MARKDOWN_CHARS, markdown_parser, render_markdown
from .seams import is_top_block, line_offset

STEP_CHARS = 4000  # a settling step is taken when this much text arrived since the last one
# A step renders at most this much (to a line end) when a block ends within it, about 5 ms.
# What is left over is taken by the next append's step.
MAX_STEP_CHARS = 8000
# A block longer than this (a 400-line code fence, a loose list that never ends) is not waited
# for: it and what follows are rendered by ``body``. A step parses at most this much.
MAX_BLOCK_CHARS = 16_000
_REACHES_BACK = ("]:", "\\begin{", "\r", "\x00")


def whole_render_needed(text: str) -> bool:
    """Whether ``text`` holds a construct that can restyle earlier blocks (module docstring)."""
    return any(mark in text for mark in _REACHES_BACK)


class SettledBlocks:
    """Renders the settled blocks of a growing text, a step at a time; ``body`` at the end.

    ``source`` returns the text received so far (it only grows). ``grew`` takes a step when
    enough arrived; ``body`` joins what is settled and renders the rest. One thread at a time
    (the view's lock): nothing here runs on another thread.
    """

    def __init__(self, source: Callable[[], str], step_chars: int = STEP_CHARS) -> None:
        self._source = source
        self._step_chars = step_chars
        self._parts: List[str] = []
        self._done = 0  # chars of the text whose final HTML is in _parts
        self._next_at = step_chars  # the text length at which the next step is taken
        self._closed = False
        self.parsed_chars = 0  # chars given to the Markdown parser by the steps

    def grew(self, length: int) -> None:
        """The text is now ``length`` chars long: take a step if enough arrived."""
        if not self._closed and length >= self._next_at:
            self._settle()

    def close(self) -> None:
        """No more steps (the final block is rendered another way)."""
        self._closed = True

    def body(self, text: str) -> str:
        """The final Markdown body of ``text`` (the whole received text): what is settled, then the
        rest rendered now. Stops the steps."""
        self._closed = True
        parts, done = self._parts, self._done
        if not parts or len(text) > MAX_MARKDOWN_CHARS or whole_render_needed(text):
            return render_markdown(text)
        return "".join(parts) + render_markdown(text[done:])

    def _settle(self) -> None:
        text = self._source()
        start = self._done
        last = text.rfind("\n") + 1  # complete lines only: a partial line may yet be a list item
        if self._closed or last <= start:
            return
        if whole_render_needed(text[start:last]) or len(text) > MAX_MARKDOWN_CHARS:
            self._closed = True  # the final block is rendered whole: nothing here is needed
            return
        capped = text.rfind("\n", start, start + MAX_STEP_CHARS) + 1
        if start < capped < last and self._settle_segment(text[start:capped], start):
            self._next_at = 0  # more has arrived than one step takes: the next append goes on
            return
        window = text.rfind("\n", start, start + MAX_BLOCK_CHARS) + 1
        settled = window > start and self._settle_segment(text[start:window], start)
        if not settled and last - start > MAX_BLOCK_CHARS:
            self._closed = True  # a block this long: left to the final block, with what follows
        elif settled or text.find("\n\n", start + 1, last) < 0:  # (no blank line: nothing to settle)
            self._next_at = len(text) + self._step_chars
        else:  # one long block: wait until it is longer still
            self._next_at = len(text) + max(self._step_chars, last - start)

    def _settle_segment(self, segment: str, start: int) -> bool:
        """Render the blocks of ``segment`` (at ``start`` in the text) before its last block that
        follows a blank line; whether there were any."""
        if segment.find("\n\n", 1) < 0:  # no blank line, nothing settled: no parse either
            return False
        md = markdown_parser()
        self.parsed_chars += len(segment)
        tokens = md.parse(segment, {})
        starts = [(i, t.map[0]) for i, t in enumerate(tokens) if is_top_block(t)]
        for index, line in reversed(starts[1:]):
            offset = line_offset(segment, line)
            if segment[offset - 2: offset] == "\n\n":  # a blank line before it: settled up to here
                self._parts.append(md.renderer.render(tokens[:index], md.options, {}))
                self._done = start + offset
                return True
        return False
