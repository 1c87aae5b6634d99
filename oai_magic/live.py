"""Live Markdown at linear cost: show every token soon without re-sending the whole answer.

A display update replaces a whole output, so re-rendering the answer on every token sends
O(n²) bytes (chatlas: 11.2 MB for a 14 KB answer). Here, as in rich's Live, ``append`` only
stores text and ``refresh`` draws at most once per ``render_interval`` of an injected clock:

* finished top-level blocks are *frozen*: drawn once, never parsed or sent again;
* a long open block is cut at a safe seam (complete lines of a code fence, whole sentences
  of a paragraph, whole items of a list, whole rows of a table), so the live *tail* stays
  short;
* all live bytes are paid from a budget proportional to the content received, so when a
  block cannot be cut, tail updates get rarer instead of the bytes exploding.

``finish`` replaces all of it with one block, ``render_markdown(text)``, so the seams never
reach the saved notebook. Only that block carries ``text/plain``: live pieces are transient,
and plain-text frontends then print the answer once instead of in fragments.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from .render import (
    answer_html,
    escape_html,
    markdown_parser,
    render_markdown,
    render_plain,
    unhighlighted_options,
)

# Live bytes (frozen pieces + tails) ≤ BUDGET_RATIO × 2 × (chars received + frozen content
# HTML) + BUDGET_BURST. The final block is at least that content, so everything sent stays
# under (1 + 2 × BUDGET_RATIO) × the final block, plus the burst.
BUDGET_RATIO = 0.8
BUDGET_BURST = 2000
PACING = 6  # a draw may spend 1/PACING of the credit per interval waited: evenly spread draws
SPLIT_AT = 100  # an open block this long (chars) is cut at a seam when it safely can be
MIN_PIECE = 30  # ... into a frozen piece at least this long
PLAIN_FREEZE_AT = 120  # --plain: freeze complete lines once they are this long

_SENTENCE_END = re.compile(r"(?P<head>[.!?:;][\"')\]]*)[ \t]+(?=[A-Za-z\"'(])|\n(?=[A-Za-z\"'(])")
# Literal text that a later character could still turn into markup across a seam.
_UNSAFE_IN_TEXT = re.compile(r"[*`\[]|~~|<(?=[A-Za-z])|\$(?!\d)|(?:^|[^A-Za-z0-9])_")
_FENCE_CLOSER = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_LANG_CLASS = re.compile(r'<code class="language-[^"]*">')
_FIRST_TAG = re.compile(r"<(\w+)")
_THEAD = re.compile(r"<thead>.*?</thead>\n", re.S)


class Surface(Protocol):
    """Where a live answer is drawn (display handles today, widgets later).

    A surface may also set ``piece_overhead``: the bytes each new piece costs beyond its
    HTML (opening an ipywidget sends ~600). Pieces are then cut big enough to amortise it.
    """

    def freeze(self, html: str) -> None:
        """The current tail becomes ``html`` for good; a new empty tail starts after it."""

    def set_tail(self, html: str) -> None:
        """Replace the live tail's content."""

    def finish(self, html: str, text: str) -> None:
        """Replace everything drawn with one final block (HTML and raw Markdown)."""


class DisplaySurface:
    """IPython display handles: one per frozen piece plus the tail; one block at the end.

    ``prefix_html``/``prefix_text`` (e.g. a "history trimmed" notice) are shown at once
    and again in the final block, since ``clear_output`` removes them.
    """

    def __init__(self, *, prefix_html: str = "", prefix_text: str = "") -> None:
        self.prefix_html = prefix_html
        self.prefix_text = prefix_text
        self._handle: Any = None  # the live tail's display handle
        self._tail_html: Optional[str] = None
        if prefix_html:
            from IPython.display import display

            display({"text/html": prefix_html, "text/plain": prefix_text}, raw=True)

    def set_tail(self, html: str) -> None:
        if html == self._tail_html:
            return
        if self._handle is None:
            from IPython.display import display

            self._handle = display({"text/html": html}, raw=True, display_id=True)
        else:
            self._handle.update({"text/html": html}, raw=True)
        self._tail_html = html

    def freeze(self, html: str) -> None:
        self.set_tail(html)
        self._handle = None
        self._tail_html = None

    def finish(self, html: str, text: str) -> None:
        from IPython.display import clear_output, display

        if self.prefix_text:
            text = f"{self.prefix_text}\n\n{text}" if text else self.prefix_text
        clear_output(wait=True)
        display({"text/html": self.prefix_html + html, "text/plain": text}, raw=True)
        self._handle = None
        self._tail_html = None


class LiveMarkdown:
    """Streams Markdown into a Surface; see the module docstring for the cost model."""

    def __init__(
        self,
        surface: Surface,
        *,
        render_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        plain: bool = False,
    ) -> None:
        self.surface = surface
        self.render_interval = render_interval
        self.clock = clock
        self.plain = plain
        self.stats: Dict[str, Any] = {
            "draws": 0,  # refreshes that sent something
            "updates": 0,  # surface calls that sent bytes
            "bytes": 0,  # UTF-8 bytes sent: HTML, plus text/plain of the final block
            "frozen_pieces": 0,
            "deferred": 0,  # tail draws postponed by the byte budget
            "parsed_chars": 0,  # chars given to the Markdown parser and the highlighter
            "render_seconds": 0.0,
        }
        self.shown_chars = 0  # how much of ``text`` is on screen (for latency figures)
        self._received: List[str] = []
        self._received_chars = 0
        self._text: Optional[str] = ""
        self._pending: List[str] = []
        self._tail = ""  # text after the frozen prefix, newlines normalised
        self._tail_start = 0  # where the tail starts in ``text``
        self._context = ""  # an open fence's first line, which the tail continues
        self._continues = False  # the tail continues a block cut at a seam
        self._shown_tail: Optional[str] = None
        self._structure_dirty = False  # a line began: a block may have finished
        self._overhead = int(getattr(surface, "piece_overhead", 0) or 0)
        self._split_at = max(SPLIT_AT, 2 * self._overhead)
        self._min_piece = max(MIN_PIECE, self._overhead)
        self._split_retry_at = self._split_at
        self._html_ratio = 1.3  # tail HTML / source chars, last seen
        self._spent = 0  # live HTML chars sent
        self._frozen_html = 0  # HTML chars of frozen content (without seams/wrappers)
        self._last_refresh: Optional[float] = None
        self._last_draw: Optional[float] = None
        self._forcing = False  # an explicit refresh(): draw whatever the budget says
        self._finished = False

    @property
    def text(self) -> str:
        """Everything received so far."""
        if self._text is None:
            self._text = "".join(self._received)
            self._received = [self._text]
        return self._text

    def append(self, delta: str) -> None:
        """Store ``delta``; draw if it is the first, or ``render_interval`` has passed."""
        if not delta or self._finished:
            return
        self._received.append(delta)
        self._received_chars += len(delta)
        self._text = None
        self._pending.append(delta)
        if "\n" in delta:
            self._structure_dirty = True
        now = self.clock()
        if self._last_refresh is None or now - self._last_refresh >= self.render_interval:
            self._draw(force=False)

    def refresh(self) -> None:
        """Draw now, whatever the budget: freeze finished blocks, re-render the tail."""
        self._draw(force=True)

    def catch_up(self) -> bool:
        """Draw what arrived since the last draw, within the budget (a stalled stream's tail).

        Returns True once everything received is on screen.
        """
        self._draw(force=False)
        return self.caught_up

    @property
    def caught_up(self) -> bool:
        return self._finished or self.shown_chars >= self._received_chars

    def _draw(self, *, force: bool) -> None:
        """Freeze finished blocks, then re-render the tail (if affordable, unless forced)."""
        if self._finished:
            return
        self._forcing = force
        self._last_refresh = self.clock()
        self._merge_pending()
        if not self._tail:
            return
        started = time.perf_counter()
        frozen, tail = self._step_plain() if self.plain else self._step_markdown()
        self.stats["render_seconds"] += time.perf_counter() - started
        if frozen:
            new = self._overhead if self._shown_tail is None else 0
            self._send(frozen, cost=0 if frozen == self._shown_tail else len(frozen) + new)
            self.surface.freeze(frozen)
            self._shown_tail = None
            self.stats["frozen_pieces"] += 1
            self.shown_chars = self._tail_start
        if tail is not None and tail != self._shown_tail:
            self._send(tail, cost=len(tail) + (self._overhead if self._shown_tail is None else 0))
            self.surface.set_tail(tail)
            self._shown_tail = tail
            self.shown_chars = self._tail_start + len(self._tail)
        elif not frozen:
            return
        self.stats["draws"] += 1
        self._last_draw = self._last_refresh

    def finish(
        self,
        *,
        footer_html: str = "",
        mark: Optional[str] = None,
        text: Optional[str] = None,
        footer_text: str = "",
    ) -> None:
        """Replace the live pieces by one block: the answer (or ``text``), mark, footer."""
        if self._finished:
            return
        self._finished = True
        self._merge_pending(final=True)
        source = self.text if text is None else text
        started = time.perf_counter()
        body = render_plain(source) if self.plain else render_markdown(source)
        self.stats["render_seconds"] += time.perf_counter() - started
        self.stats["parsed_chars"] += len(source)
        html = answer_html(body, mark) + footer_html
        plain = "\n\n".join(p for p in (source, mark or "", footer_text) if p)
        self.surface.finish(html, plain)
        self.stats["updates"] += 1
        self.stats["bytes"] += len(html.encode()) + len(plain.encode())
        self.stats["draws"] += 1
        self.shown_chars = len(self.text)

    # --- bookkeeping -----------------------------------------------------------------------

    def _send(self, html: str, *, cost: int) -> None:
        if cost:
            self._spent += cost
            self.stats["updates"] += 1
            self.stats["bytes"] += len(html.encode())

    def _merge_pending(self, final: bool = False) -> None:
        if not self._pending:
            return
        chunk = "".join(self._pending)
        self._pending = []
        if "\r" in chunk:
            if chunk.endswith("\r") and not final:  # "\r\n" may be split across deltas
                self._pending = ["\r"]
                chunk = chunk[:-1]
            chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
        self._tail += chunk

    def _affordable(self, cost: float, *, forced: bool = False) -> bool:
        """Within the byte budget; ``forced`` when text already on screen would vanish."""
        if forced or self._forcing:
            return True
        budget = BUDGET_RATIO * 2 * (self._received_chars + self._frozen_html) + BUDGET_BURST
        credit = budget - self._spent
        if self._last_draw is not None and PACING:
            waited = (self.clock() - self._last_draw) / max(self.render_interval, 1e-9)
            credit *= min(1.0, waited / PACING)
        return cost <= credit

    def _cut(self, offset: int) -> None:
        """Drop the first ``offset`` chars of the tail (just frozen, or blank)."""
        self._tail = self._tail[offset:]
        self._tail_start += offset
        self._split_retry_at = self._split_at

    # --- one refresh -----------------------------------------------------------------------

    def _step_plain(self) -> Tuple[str, Optional[str]]:
        frozen = ""
        end = self._tail.rfind("\n") + 1
        if end >= PLAIN_FREEZE_AT:
            body = _plain_html(self._tail[:end])
            self._frozen_html += len(body)
            frozen = _live_piece(body)
            self._cut(end)
        tail = None
        forced = bool(frozen) and self.shown_chars > self._tail_start
        if self._tail and self._affordable(len(self._tail) * 1.1 + 60, forced=forced):
            tail = _live_piece(_plain_html(self._tail))
        return frozen, tail

    def _step_markdown(self) -> Tuple[str, Optional[str]]:
        structure = self._structure_dirty or len(self._tail) >= self._split_retry_at
        if not structure and not self._affordable(len(self._tail) * self._html_ratio + 60):
            self.stats["deferred"] += 1
            return "", None
        src = self._context + self._tail
        tokens = self._parse(src)
        starts = [(i, t.map[0]) for i, t in enumerate(tokens) if _is_top_block(t)]
        pieces: List[str] = []
        base = 0  # token line numbers are relative to the source before any cut
        if len(starts) > 1:  # every block but the last is finished: freeze them
            index, base = starts[-1]
            pieces.append(self._piece(tokens[:index], top=self._continues))
            self._cut(_line_offset(src, base) - len(self._context))
            self._context, self._continues = "", False
            tokens, src = tokens[index:], self._tail
        elif starts and starts[0][1] > 0 and not self._context:
            base = starts[0][1]
            self._cut(_line_offset(src, base))  # blank lines before the block
            src = self._tail
        self._structure_dirty = "\n" in src and not src[src.rfind("\n") + 1 :].strip()
        if tokens and len(src) >= self._split_retry_at:
            piece = self._split_open_block(tokens, src, base)
            if piece:
                pieces.append(piece)
                src = self._context + self._tail
                tokens = self._parse(src) if self._tail.strip() else []
            else:
                self._split_retry_at = int(len(src) * 1.5)  # geometric: linear CPU overall
        frozen = _live_piece("".join(pieces)) if pieces else ""
        tail = None
        if self._tail.strip():
            forced = bool(frozen) and self.shown_chars > self._tail_start
            if self._affordable(len(src) * self._html_ratio + 60, forced=forced):
                # Highlighted HTML is several times larger, and the tail is re-sent.
                body = _seam(self._render(tokens, highlight=False), top=self._continues)
                self._html_ratio = max(1.0, len(body) / max(1, len(src)))
                tail = _live_piece(body)
            if tail is None:
                self.stats["deferred"] += 1
        return frozen, tail

    def _parse(self, src: str) -> List[Any]:
        self.stats["parsed_chars"] += len(src)
        return markdown_parser().parse(src, {})

    def _render(self, tokens: List[Any], *, highlight: bool = True) -> str:
        md = markdown_parser()
        if highlight:
            self.stats["parsed_chars"] += sum(len(t.content) for t in tokens if t.type == "fence")
            return md.renderer.render(tokens, md.options, {})
        # A re-sent tail: plain code (highlighting can wait for the freeze), no class hint.
        return _LANG_CLASS.sub("<code>", md.renderer.render(tokens, unhighlighted_options(), {}))

    def _piece(self, tokens: List[Any], *, top: bool = False, bottom: bool = False) -> str:
        """HTML of tokens about to be frozen."""
        html = self._render(tokens)
        self._frozen_html += len(html)
        return _seam(html, top=top, bottom=bottom)

    # --- cutting an open block at a seam ---------------------------------------------------

    def _split_open_block(self, tokens: List[Any], src: str, base: int) -> str:
        """Freeze the safe first part of the open last block; return its HTML or ""."""
        first = tokens[0]
        if first.level != 0:
            return ""
        if first.type == "fence":
            return self._split_fence(first, src)
        if first.type == "table_open":
            return self._split_table(tokens, src, base)
        if self._context:
            return ""
        if first.type == "paragraph_open":
            return self._split_paragraph(src)
        if first.type in ("bullet_list_open", "ordered_list_open"):
            return self._split_list(tokens, src, base)
        return ""

    def _split_fence(self, token: Any, src: str) -> str:
        """Complete lines of an open code fence; the tail goes on under the same opener."""
        opener_end = src.find("\n") + 1
        last_nl = src.rfind("\n") + 1
        if opener_end == 0 or last_nl - opener_end < self._min_piece:
            return ""
        for line in src[opener_end:].split("\n"):
            m = _FENCE_CLOSER.match(line)
            if m and m.group(1)[0] == token.markup[0] and len(m.group(1)) >= len(token.markup):
                return ""  # closed: it freezes whole once the next block starts
        content = token.content[: token.content.rfind("\n") + 1]
        html = self._piece([token.copy(content=content)], top=self._continues, bottom=True)
        self._cut(last_nl - len(self._context))
        self._context, self._continues = src[:opener_end], True
        return html

    def _split_paragraph(self, src: str) -> str:
        """Whole sentences whose inline markup is closed; the rest starts a new paragraph."""
        cuts = [m for m in _SENTENCE_END.finditer(src) if m.start() >= self._min_piece]
        for match in reversed(cuts[-3:]):
            head = src[: match.end("head")] if match.group("head") else src[: match.start()]
            if head.count("\\(") != head.count("\\)") or head.count("\\[") != head.count("\\]"):
                continue
            tokens = self._parse(head)
            if [t.type for t in tokens] != ["paragraph_open", "inline", "paragraph_close"]:
                continue
            children = tokens[1].children or []
            if any(c.type == "text" and _UNSAFE_IN_TEXT.search(c.content) for c in children):
                continue
            html = self._piece(tokens, top=self._continues, bottom=True)
            self._cut(match.end())
            self._continues = True
            return html
        return ""

    def _split_list(self, tokens: List[Any], src: str, base: int) -> str:
        """All items but the last; an ordered list goes on with ``start`` set."""
        items = [t.map[0] - base for t in tokens if t.type == "list_item_open" and t.level == 1]
        if len(items) < 2:
            return ""
        offset = _line_offset(src, items[-1])
        if offset < self._min_piece:
            return ""
        head = self._parse(src[:offset])
        if sum(1 for t in head if _is_top_block(t)) != 1:
            return ""
        html = self._piece(head, top=self._continues, bottom=True)
        self._cut(offset)
        self._continues = True
        return html

    def _split_table(self, tokens: List[Any], src: str, base: int) -> str:
        """All rows but the last; the tail goes on under the same header (shown once)."""
        rows = [t.map[0] - base for t in tokens if t.type == "tr_open" and t.map]
        header_end = _line_offset(src, 2)  # the header row and the delimiter row
        offset = _line_offset(src, rows[-1]) if len(rows) > 2 else 0
        if offset - header_end < self._min_piece:
            return ""
        head = self._parse(src[:offset])
        if sum(1 for t in head if _is_top_block(t)) != 1:
            return ""
        html = self._piece(head, top=self._continues, bottom=True)
        self._cut(offset - len(self._context))
        self._context, self._continues = src[:header_end], True
        return html


def _is_top_block(token: Any) -> bool:
    return token.level == 0 and token.nesting >= 0 and token.map is not None


def _line_offset(src: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = src.index("\n", offset) + 1
    return offset


def _live_piece(body_html: str) -> str:
    # The MathJax-ignore wrapper only matters where a dollar or backslash could be read as
    # math; most pieces have neither, and it would be a third of a small update.
    if "$" in body_html or "\\" in body_html:
        return answer_html(body_html)
    return body_html


def _plain_html(text: str) -> str:
    return f'<pre style="white-space:pre-wrap;margin:0">{escape_html(text)}</pre>'


def _seam(html: str, *, top: bool = False, bottom: bool = False) -> str:
    """Pull the first element flush against its neighbour at a live seam."""
    match = _FIRST_TAG.match(html) if (top or bottom) else None
    if match is None:
        return html
    if top and match.group(1) == "table":  # a continued table: its header is shown above
        html = _THEAD.sub("", html, count=1)
    sides = (["top"] if top else []) + (["bottom"] if bottom else [])
    props = ["margin"] + (["padding"] if match.group(1) == "pre" else [])
    style = ";".join(f"{p}-{s}:0" for p in props for s in sides)
    return f'{html[: match.end()]} style="{style}"{html[match.end() :]}'
