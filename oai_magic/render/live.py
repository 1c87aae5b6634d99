"""Live Markdown at linear cost: every token on screen soon, the live text a prefix of the final.

Re-rendering the answer on every token sends O(n²) bytes (chatlas: 11.2 MB for a 14 KB
answer). Here, as in rich's Live, ``append`` only stores text, and draws follow the screen's
frames (``frames.py``): at once when the last draw is a frame (``render_interval``, 16 ms) old,
else at the next frame boundary, so tokens within a frame coalesce into one draw. A draw sends
only what changed, as operations on one region of a :class:`~oai_magic.surface.LiveSurface`:

* finished top-level blocks are appended once and never parsed or sent again;
* the open (last) block is patched in place: its HTML keeps the prefix the page already has
  and gains a suffix, so a paragraph grows as ONE paragraph, never split into lines;
* a long open block is *committed* at a seam chosen by Markdown structure, not by English
  punctuation (``seams.py``): complete lines of a code fence, whole rows of a table, whole
  items of a list, and inside a paragraph or a list item any point where no inline construct
  is open. That keeps the parsed tail short in every script;
* all live bytes are paid from a budget proportional to the content received, so when a block
  cannot be committed, patches get rarer instead of the bytes exploding.

The draw at a frame boundary comes from a timer, so tokens that arrive just before a pause are
shown in the pause (coalescing must not hide them).
``finish`` returns the answer's one final block, ``render_markdown(text)``: the view puts it in
place of the live widget, so nothing of the live machinery reaches the saved notebook.

A few CommonMark constructs let later text restyle earlier text (a reference definition after
its use, a setext underline, a list turning loose). They may show differently while streaming
and are right in the final block; guarding against them would slow every answer.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from .chrome import answer_html
from .frames import FRAME_S, HELD, MORE, SHOWN, FramePacer
from .markdown import (
    escape_html,
    markdown_parser,
    render_markdown,
    render_plain,
    unhighlighted_options,
)
from .seams import OpenBlockCommits, common_prefix, is_top_block, line_offset, without_trailing_closers
from .settled import SettledBlocks

# Live bytes ≤ BUDGET_RATIO × (bytes received + frozen HTML bytes) + BUDGET_BURST. The final block
# is at least that content, so everything sent stays near (1 + BUDGET_RATIO) × the final block.
BUDGET_RATIO = 2.0
BUDGET_BURST = 2000
PACING = 6  # a draw may spend 1/PACING of the credit per frame waited: evenly spread draws
SPLIT_AT = 80  # an open block whose uncommitted part is this long (chars) is committed at a seam
PLAIN_FREEZE_AT = 120  # --plain: commit complete lines once they are this long
CPU_SHARE = 4  # after a draw that took t seconds, the next waits at least CPU_SHARE × t
DRAW_CHARS = 500  # a draw takes at most this much new text: a burst is shown over a few frames
MESSAGE_OVERHEAD = 4  # bytes of framing a patch message costs beyond its HTML (surface.py: 2-9)

_LANG_CLASS = re.compile(r'<code class="language-[^"]*">')


class Surface(Protocol):
    """The region operations LiveMarkdown needs (``surface.LiveSurface`` has them)."""

    def append_block(self, region: str, html: str) -> None: ...

    def patch_open(self, region: str, keep: int, html: str) -> None: ...

    def seal(self, region: str) -> None: ...

    def flush(self) -> None: ...


def final_answer(text: str, *, mark: Optional[str] = None, footer_html: str = "", footer_text: str = "",
                 plain: bool = False, body_html: Optional[str] = None) -> Tuple[str, str]:
    """The answer's one final block: (HTML, text/plain); ``body_html`` replaces the rendered
    Markdown (``--confidence``), in the same block."""
    body = body_html
    if body is None:
        body = render_plain(text) if plain else render_markdown(text)
    html = answer_html(body, mark) + footer_html
    return html, "\n\n".join(p for p in (text, mark or "", footer_text) if p)


class LiveMarkdown(OpenBlockCommits):
    """Streams Markdown into one region of a surface; see the module docstring."""

    def __init__(
        self,
        surface: Surface,
        region: str = "a",
        *,
        render_interval: float = FRAME_S,
        clock: Callable[[], float] = time.monotonic,
        plain: bool = False,
        timers: Any = None,
    ) -> None:
        self.surface = surface
        self.region = region
        self.render_interval = render_interval  # one frame: see frames.py
        self.clock = clock
        self.plain = plain
        self.stats: Dict[str, Any] = {
            "draws": 0,  # refreshes that sent something
            "updates": 0,  # operations that sent bytes
            "bytes": 0,  # UTF-8 bytes of HTML sent live (the final block is the view's)
            "frozen_pieces": 0,  # blocks appended or sealed
            "commits": 0,  # seams inside an open block
            "deferred": 0,  # patches postponed by the byte budget
            "parsed_chars": 0,  # chars given to the Markdown parser and the highlighter
            "render_seconds": 0.0,
        }
        self.shown_chars = 0  # how much of ``text`` is on screen (for latency figures)
        if not plain:
            markdown_parser()  # built once per kernel here, so the CPU guard never counts it
        self._lock = threading.RLock()  # the draw at a frame boundary comes from the timer thread
        # ``timers`` runs the draws at frame boundaries (frames.timers_for: the process's thread
        # for the real clock, a test clock that can schedule, or none).
        # A draw that cannot commit (one huge paragraph with an open construct) costs time in
        # proportion to its tail: such draws are spaced out so rendering stays under ~1/4 of the CPU.
        self.pacer = FramePacer(self._paced_draw, frame_s=render_interval, clock=clock, timers=timers,
                                lock=self._lock, min_gap=lambda: CPU_SHARE * self._last_render_cost)
        self._received: List[str] = []
        self._received_chars = 0
        self._received_bytes = 0  # merged so far; the budget is in bytes: CJK is 3 bytes a char
        self._text: Optional[str] = ""
        self._pending: List[str] = []
        self._tail = ""  # uncommitted source of the open block, newlines normalised
        self._tail_start = 0  # where the tail starts in ``text``
        self._context = ""  # source the tail continues (fence opener, table header, item marker)
        self._head = ""  # HTML of the open block up to its committed part ("" until a commit)
        self._committed = ""  # committed inner HTML of the open block
        self._kind = ""  # how the open block was committed: "", p, fence, table, list, item
        self._shown = ""  # the open block's HTML as the page has it (closing tags left off)
        self._split_retry_at = SPLIT_AT
        self._spent = 0  # live bytes sent
        self._frozen_html = 0  # HTML chars of frozen content
        self._last_render_cost = 0.0  # seconds the last draw took to render
        self._last_draw: Optional[float] = None
        self._forcing = False
        self._finished = False
        # The final block's settled blocks, rendered a step at a time as the answer streams.
        self._settled = None if plain else SettledBlocks(lambda: self.text)  # under self._lock

    @property
    def text(self) -> str:
        """Everything received so far."""
        if self._text is None:
            self._text = "".join(self._received)
            self._received = [self._text]
        return self._text

    def append(self, delta: str) -> None:
        """Store ``delta``; draw now if the last draw is a frame old, else at the frame boundary."""
        if not delta:
            return
        with self._lock:
            if self._finished:
                return
            self._received.append(delta)
            self._received_chars += len(delta)
            self._text = None
            self._pending.append(delta)
            if not self.pacer.boundary_armed:  # else the draw at the frame boundary takes it
                self.pacer.changed()
            if self._settled is not None:  # after the draw: the screen first
                self._settled.grew(self._received_chars)

    def refresh(self) -> None:
        """Draw now, whatever the budget and the frame."""
        with self._lock:
            self.pacer.last = self.clock()
            self._draw(force=True)

    def catch_up(self) -> bool:
        """Draw what arrived since the last draw, within the budget; True once all is shown."""
        with self._lock:
            self._draw(force=False)
            return self.caught_up

    def _paced_draw(self) -> str:
        """The pacer's draw: what is still to show decides when it comes back."""
        if self.catch_up():
            return SHOWN
        return MORE if self._pending and self._pending != ["\r"] else HELD

    @property
    def caught_up(self) -> bool:
        """Everything received is on screen (a lone "\\r" waits for its possible "\\n")."""
        return self._finished or (not self._pending
                                  and self.shown_chars >= self._tail_start + len(self._tail))

    def finish(self, *, footer_html: str = "", mark: Optional[str] = None, text: Optional[str] = None,
               footer_text: str = "", body_html: Optional[str] = None) -> Tuple[str, str]:
        """Stop drawing; return the final block (HTML, text/plain) of the answer (or ``text``)."""
        with self._lock:
            self._finished = True
            self.pacer.stop()
            self._merge_pending(final=True)
            source = self.text if text is None else text
            started = time.perf_counter()
            if self._settled is not None:
                if body_html is None and (text is None or text == self.text):
                    body_html = self._settled.body(source)  # == render_markdown(source)
                self._settled.close()
            result = final_answer(source, mark=mark, footer_html=footer_html, footer_text=footer_text,
                                  plain=self.plain, body_html=body_html)
            self.stats["render_seconds"] += time.perf_counter() - started
            self.stats["parsed_chars"] += len(source)
            self.shown_chars = len(self.text)
            return result

    # --- one draw ----------------------------------------------------------------------------

    def _draw(self, *, force: bool) -> None:
        if self._finished:
            return
        self._forcing = force
        self._merge_pending(whole=force)
        if not self._tail.strip():
            self.shown_chars = self._tail_start + len(self._tail)  # nothing to show yet
            return
        started = time.perf_counter()
        sent_before = self._spent
        if self.plain:
            self._step_plain()
        else:
            self._step_markdown()
        self._last_render_cost = time.perf_counter() - started
        self.stats["render_seconds"] += self._last_render_cost
        if not self._tail.strip():
            self.shown_chars = self._tail_start + len(self._tail)
        if self._spent != sent_before:
            self.surface.flush()
            self.stats["draws"] += 1
            self._last_draw = self.clock()

    def _merge_pending(self, final: bool = False, whole: bool = False) -> None:
        if not self._pending:
            return
        chunk = "".join(self._pending)
        self._pending = []
        if not (final or whole) and len(chunk) > DRAW_CHARS:  # per-draw work stays small; the rest next frame
            chunk, self._pending = chunk[:DRAW_CHARS], [chunk[DRAW_CHARS:]]
        if "\r" in chunk:
            if chunk.endswith("\r") and not final:  # "\r\n" may be split across deltas
                self._pending.insert(0, "\r")
                chunk = chunk[:-1]
            chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
        self._received_bytes += len(chunk.encode("utf-8", "surrogatepass"))
        self._tail += chunk

    def _affordable(self, cost: float) -> bool:
        if self._forcing:
            return True
        budget = BUDGET_RATIO * (self._received_bytes + self._frozen_html) + BUDGET_BURST
        credit = budget - self._spent
        if self._last_draw is not None and PACING:
            waited = (self.clock() - self._last_draw) / max(self.render_interval, 1e-9)
            credit *= min(1.0, waited / PACING)
        return cost <= credit

    def _cut(self, offset: int) -> None:
        """Drop the first ``offset`` chars of the tail (committed, frozen or blank)."""
        self._tail = self._tail[offset:]
        self._tail_start += offset
        self._split_retry_at = SPLIT_AT

    def _show_open(self, html: str, *, forced: bool = False) -> None:
        """Patch the open block to ``html`` (closing tags left off: the page closes them)."""
        html = without_trailing_closers(html)
        if html == self._shown:
            self.shown_chars = self._tail_start + len(self._tail)
            return
        keep = common_prefix(self._shown, html)  # the page re-parses the whole open block
        suffix = html[keep:]
        cost = len(suffix.encode("utf-8", "surrogatepass")) + MESSAGE_OVERHEAD
        if not forced and not self._affordable(cost):
            self.stats["deferred"] += 1
            return
        from .surface import js_length

        self.surface.patch_open(self.region, js_length(html[:keep]), suffix)
        self._pay(cost)
        self._shown = html
        self.shown_chars = self._tail_start + len(self._tail)

    def _seal(self, html: str) -> None:
        """The open block is finished: make sure the page has exactly ``html``, then seal it."""
        if self._shown or self._head:
            self._show_open(html, forced=True)
            self.surface.seal(self.region)
        else:
            self.surface.append_block(self.region, html)
            self._pay(len(html.encode("utf-8")) + MESSAGE_OVERHEAD)
        self._frozen_html += len(html.encode("utf-8", "surrogatepass"))
        self.stats["frozen_pieces"] += 1
        self._shown, self._head, self._committed, self._kind, self._context = "", "", "", "", ""

    def _pay(self, cost: int) -> None:
        self._spent += cost
        self.stats["updates"] += 1
        self.stats["bytes"] += cost

    # --- plain text (--plain) ----------------------------------------------------------------

    def _step_plain(self) -> None:
        if not self._head:
            self._head = '<pre style="white-space:pre-wrap;margin:0">'
        end = self._tail.rfind("\n") + 1
        if end >= PLAIN_FREEZE_AT:
            self._committed += escape_html(self._tail[:end])
            self._cut(end)
        self._show_open(self._head + self._committed + escape_html(self._tail))

    # --- Markdown ------------------------------------------------------------------------------

    def _step_markdown(self) -> None:
        src = self._context + self._tail
        tokens = self._parse(src)
        starts = [(i, t.map[0]) for i, t in enumerate(tokens) if is_top_block(t)]
        if len(starts) > 1:  # the open block and any block after it but the last are finished
            second, (last, last_line) = starts[1][0], starts[-1]
            offset = line_offset(src, last_line) - len(self._context)
            self._seal(self._open_html(tokens[:second]))
            if last > second:
                finished = self._render(tokens[second:last])
                self.surface.append_block(self.region, finished)
                self._pay(len(finished.encode("utf-8")) + MESSAGE_OVERHEAD)
                self._frozen_html += len(finished.encode("utf-8", "surrogatepass"))
                self.stats["frozen_pieces"] += 1
            self._cut(offset)
            src = self._tail
            if not src.strip():
                return
            tokens = self._parse(src)  # line numbers start again at the open block
        elif starts and starts[0][1] > 0 and not self._context:
            self._cut(line_offset(src, starts[0][1]))  # blank lines before the block
            src = self._tail
            tokens = self._parse(src)
        if not tokens:
            return
        if len(self._tail) >= self._split_retry_at:
            if self._commit(tokens, src):
                src = self._context + self._tail
                tokens = self._parse(src) if self._tail.strip() else []
            else:
                self._split_retry_at = int(len(self._tail) * 1.5)  # geometric: linear CPU
        self._show_open(self._open_html(tokens))

    def _open_html(self, tokens: List[Any]) -> str:
        """The open block's HTML: the committed part, then the tail's render inside it."""
        html = self._render(tokens) if tokens else ""
        if not self._kind:
            return html
        return self._head + self._committed + self._inner(html)

    def _parse(self, src: str) -> List[Any]:
        self.stats["parsed_chars"] += len(src)
        return markdown_parser().parse(src, {})

    def _render(self, tokens: List[Any]) -> str:
        """Live HTML: code is not highlighted (the final block is), and has no class hint."""
        md = markdown_parser()
        return _LANG_CLASS.sub("<code>", md.renderer.render(tokens, unhighlighted_options(), {}))
