"""Live Markdown at linear cost: every token on screen soon, the live text a prefix of the final.

Re-rendering the answer on every token sends O(n²) bytes (chatlas: 11.2 MB for a 14 KB
answer). Here, as in rich's Live, ``append`` only stores text and a draw happens at most once
per ``render_interval`` of an injected clock. A draw sends only what changed, as operations on
one region of a :class:`~oai_magic.surface.LiveSurface`:

* finished top-level blocks are appended once and never parsed or sent again;
* the open (last) block is patched in place: its HTML keeps the prefix the page already has
  and gains a suffix, so a paragraph grows as ONE paragraph, never split into lines;
* a long open block is *committed* at a seam chosen by Markdown structure, not by English
  punctuation: complete lines of a code fence, whole rows of a table, whole items of a list,
  and, inside a paragraph or a list item, any point where no inline construct (emphasis, code
  span, link, math, autolink, entity) is open. That keeps the parsed tail short in every
  script (CJK has no spaces; German and Russian capitals are not ASCII);
* all live bytes are paid from a budget proportional to the content received, so when a block
  cannot be committed, patches get rarer instead of the bytes exploding.

A stall timer draws tokens that arrive just before a pause (coalescing must not hide them).
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

from .markdown import (
    answer_html,
    escape_html,
    markdown_parser,
    render_markdown,
    render_plain,
    unhighlighted_options,
)

# Live bytes ≤ BUDGET_RATIO × (bytes received + frozen HTML bytes) + BUDGET_BURST. The final block
# is at least that content, so everything sent stays near (1 + BUDGET_RATIO) × the final block.
BUDGET_RATIO = 2.0
BUDGET_BURST = 2000
PACING = 6  # a draw may spend 1/PACING of the credit per interval waited: evenly spread draws
SPLIT_AT = 80  # an open block whose uncommitted part is this long (chars) is committed at a seam
MIN_COMMIT = 8  # ... leaving at least this much committed
PLAIN_FREEZE_AT = 120  # --plain: commit complete lines once they are this long
CPU_SHARE = 4  # after a draw that took t seconds, the next waits at least CPU_SHARE × t
MESSAGE_OVERHEAD = 12  # bytes of framing a patch message costs beyond its HTML

# Characters that a later character could still turn into markup: emphasis, code spans, links,
# strikethrough, math, and (at the very end) entities, autolinks and escapes.
_RISKY = re.compile(r"(?<!\s)\*|\*(?!\s)|[`\[\]~]|\\[(\[]|\$(?!\d)|(?:^|(?<=\W))_|&#?\w*$|<[^\s>]*$|\\$")
# The same, seen in rendered text: markup that a render left as literal text is still open.
_RISKY_TEXT = re.compile(r"(?<!\s)\*|\*(?!\s)|[`\[\]~]|\\[(\[]|\$(?!\d)|(?:^|(?<=\W))_")
# Text before a seam must not end inside an entity, autolink or escape.
_RISKY_TAIL = re.compile(r"&#?\w*$|<[^\s>]*$|\\$")
_SETTLED = re.compile(r"<(code|span|a)\b[^>]*>.*?</\1>", re.S)
_TAG = re.compile(r"<[^>]*>")
_ITEM_MARKER = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])[ \t]+(?=\S)")
# A line that, standing alone, would start a block other than a paragraph.
_BLOCK_START = re.compile(r"^(?: {0,3}(?:[-+*>#=|`~_]|\d{1,9}[.)](?:\s|$))| {4}|\t)")
_FENCE_CLOSER = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_LANG_CLASS = re.compile(r'<code class="language-[^"]*">')
_TRAILING_CLOSERS = re.compile(r"(?:\s*</[a-z][a-z0-9]*>)+\s*$")
_LIST_WRAP = re.compile(r"^<(ul|ol)(?: start=\"\d+\")?>\n")
_TABLE_BODY = re.compile(r"^.*?<tbody>\n", re.S)


class Surface(Protocol):
    """The region operations LiveMarkdown needs (``surface.LiveSurface`` has them)."""

    def append_block(self, region: str, html: str) -> None: ...

    def patch_open(self, region: str, keep: int, html: str) -> None: ...

    def seal(self, region: str) -> None: ...

    def flush(self) -> None: ...


def final_answer(text: str, *, mark: Optional[str] = None, footer_html: str = "", footer_text: str = "",
                 plain: bool = False) -> Tuple[str, str]:
    """The answer's one final block: (HTML, text/plain)."""
    body = render_plain(text) if plain else render_markdown(text)
    html = answer_html(body, mark) + footer_html
    return html, "\n\n".join(p for p in (text, mark or "", footer_text) if p)


class LiveMarkdown:
    """Streams Markdown into one region of a surface; see the module docstring."""

    def __init__(
        self,
        surface: Surface,
        region: str = "a",
        *,
        render_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        plain: bool = False,
        stall_timer: Optional[bool] = None,
    ) -> None:
        self.surface = surface
        self.region = region
        self.render_interval = render_interval
        self.clock = clock
        self.plain = plain
        # A stall timer waits in real time: with an injected (test) clock it is off unless asked.
        self.stall_timer = clock is time.monotonic if stall_timer is None else stall_timer
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
        self._lock = threading.RLock()  # the stall timer draws from its own thread
        self._timer: Optional[threading.Timer] = None
        self._received: List[str] = []
        self._received_chars = 0
        self._received_bytes = 0  # the budget is in bytes: CJK text is 3 bytes a character
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
        self._last_refresh: Optional[float] = None
        self._last_render_cost = 0.0  # seconds the last draw took to render
        self._last_draw: Optional[float] = None
        self._forcing = False
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
        if not delta:
            return
        with self._lock:
            if self._finished:
                return
            self._received.append(delta)
            self._received_chars += len(delta)
            self._received_bytes += len(delta.encode("utf-8", "surrogatepass"))
            self._text = None
            self._pending.append(delta)
            now = self.clock()
            # A draw that cannot commit (one huge paragraph with an open construct) costs time in
            # proportion to its tail: space such draws out so rendering stays under ~1/4 of the CPU.
            wait = max(self.render_interval, CPU_SHARE * self._last_render_cost)
            if self._last_refresh is None or now - self._last_refresh >= wait:
                self._draw(force=False)
            if self.stall_timer and not self.caught_up:
                self._arm_stall_timer(self.render_interval)

    def refresh(self) -> None:
        """Draw now, whatever the budget."""
        with self._lock:
            self._draw(force=True)

    def catch_up(self) -> bool:
        """Draw what arrived since the last draw, within the budget; True once all is shown."""
        with self._lock:
            self._draw(force=False)
            return self.caught_up

    @property
    def caught_up(self) -> bool:
        return self._finished or self.shown_chars >= self._received_chars

    def _arm_stall_timer(self, delay: float) -> None:
        """Draw the last tokens if no more arrive soon: coalescing must not hide them in a pause."""
        if self._timer is None:
            self._timer = threading.Timer(delay, self._on_stall, args=(delay,))
            self._timer.daemon = True
            self._timer.start()

    def _on_stall(self, delay: float) -> None:
        with self._lock:
            self._timer = None
            if self._finished or self.catch_up():
                return
            self._arm_stall_timer(min(2 * delay, 1.0))

    def finish(self, *, footer_html: str = "", mark: Optional[str] = None, text: Optional[str] = None,
               footer_text: str = "") -> Tuple[str, str]:
        """Stop drawing; return the final block (HTML, text/plain) of the answer (or ``text``)."""
        with self._lock:
            self._finished = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._merge_pending(final=True)
            source = self.text if text is None else text
            started = time.perf_counter()
            result = final_answer(source, mark=mark, footer_html=footer_html, footer_text=footer_text,
                                  plain=self.plain)
            self.stats["render_seconds"] += time.perf_counter() - started
            self.stats["parsed_chars"] += len(source)
            self.shown_chars = len(self.text)
            return result

    # --- one draw ----------------------------------------------------------------------------

    def _draw(self, *, force: bool) -> None:
        if self._finished:
            return
        self._forcing = force
        self._last_refresh = self.clock()
        self._merge_pending()
        if not self._tail:
            return
        started = time.perf_counter()
        sent_before = self._spent
        if self.plain:
            self._step_plain()
        else:
            self._step_markdown()
        self._last_render_cost = time.perf_counter() - started
        self.stats["render_seconds"] += self._last_render_cost
        if self._spent != sent_before:
            self.surface.flush()
            self.stats["draws"] += 1
            self._last_draw = self._last_refresh

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
        html = _TRAILING_CLOSERS.sub("", html)
        if html == self._shown:
            self.shown_chars = self._tail_start + len(self._tail)
            return
        keep = _common_prefix(self._shown, html)  # the page re-parses the whole open block
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
        starts = [(i, t.map[0]) for i, t in enumerate(tokens) if _is_top_block(t)]
        if len(starts) > 1:  # the open block and any block after it but the last are finished
            second, (last, last_line) = starts[1][0], starts[-1]
            offset = _line_offset(src, last_line) - len(self._context)
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
            self._cut(_line_offset(src, starts[0][1]))  # blank lines before the block
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

    # --- commits: seams inside the open block --------------------------------------------------
    #
    # After the first commit the open block is shown as head + committed + inner(tail render):
    # ``_kind`` says how to find the inner HTML of a render of ``context + tail``.

    def _commit(self, tokens: List[Any], src: str) -> bool:
        """Commit the safe first part of the open block; True if something was committed."""
        first = tokens[0]
        kind = self._kind
        if first.level != 0:
            return False
        if first.type == "fence" and kind in ("", "fence"):
            done = self._commit_fence(first, src)
        elif first.type == "table_open" and kind in ("", "table"):
            done = self._commit_rows(tokens, src)
        elif first.type == "paragraph_open" and kind in ("", "p"):
            done = self._commit_inline(src, "p")
        elif first.type in ("bullet_list_open", "ordered_list_open") and kind in ("", "list", "item"):
            done = self._commit_items(tokens, src)
        else:
            done = False
        if done:
            self.stats["commits"] += 1
        return done

    def _inner(self, html: str) -> str:
        """The part of a render of ``context + tail`` that goes after head + committed."""
        kind = self._kind
        if kind == "p":
            return _strip(html, "<p>", "</p>\n")
        if kind == "fence":
            return _strip(html, "<pre><code>", "</code></pre>\n")
        if kind == "table":
            return _strip(html, self._head, "</tbody>\n</table>\n")
        match = _LIST_WRAP.match(html)
        if match is None:
            return ""
        inner = _strip(html, match.group(0), f"</{match.group(1)}>\n")
        return inner[len("<li>"):] if kind == "item" and inner.startswith("<li>") else inner

    def _commit_fence(self, token: Any, src: str) -> bool:
        """Complete lines of an open code fence; the tail goes on under the same opener."""
        opener_end = src.find("\n") + 1
        last_nl = src.rfind("\n") + 1
        if opener_end == 0 or last_nl - opener_end < MIN_COMMIT:
            return False
        for line in src[opener_end:].split("\n"):
            m = _FENCE_CLOSER.match(line)
            if m and m.group(1)[0] == token.markup[0] and len(m.group(1)) >= len(token.markup):
                return False  # closed: it is sealed whole once the next block starts
        from markdown_it.common.utils import escapeHtml

        if not self._kind:
            self._kind, self._head = "fence", "<pre><code>"
        self._committed += escapeHtml(token.content[: token.content.rfind("\n") + 1])
        self._cut(last_nl - len(self._context))
        self._context = src[:opener_end]
        return True

    def _commit_rows(self, tokens: List[Any], src: str) -> bool:
        """All body rows but the last; the tail goes on under the same header."""
        rows = [t.map[0] for t in tokens if t.type == "tr_open" and t.map]
        if len(rows) < 3:  # the header row and at least two body rows
            return False
        header_end = _line_offset(src, 2)
        offset = _line_offset(src, rows[-1])
        html = self._render(self._parse(src[:offset]))
        match = _TABLE_BODY.match(html)
        if match is None or (self._kind and match.group(0) != self._head):
            return False
        if not self._kind:
            self._kind, self._head = "table", match.group(0)
        self._committed += self._inner(html)
        self._cut(offset - len(self._context))
        self._context = src[:header_end]
        return True

    def _commit_items(self, tokens: List[Any], src: str) -> bool:
        """All items but the last; a single long item is committed inside, like a paragraph."""
        items = [t.map[0] for t in tokens if t.type == "list_item_open" and t.level == 1]
        if len(items) < 2:
            return self._commit_inline(src, "item")
        offset = _line_offset(src, items[-1])
        html = self._render(self._parse(src[:offset]))
        match = _LIST_WRAP.match(html)
        if match is None:
            return False
        if not self._kind:
            self._kind, self._head = "list", match.group(0)
        self._committed += self._inner(html)  # an item committed inside is closed here
        self._kind = "list"
        self._cut(offset - len(self._context))
        self._context = ""
        return True

    def _commit_inline(self, src: str, kind: str) -> bool:
        """Commit a paragraph's (or a tight list item's) text up to a seam later text cannot change."""
        context, text = self._context, src[len(self._context):]
        opening = ""
        if kind == "item" and self._kind != "item":
            marker = _ITEM_MARKER.match(text)
            if marker is None:
                return False
            context, text = text[: marker.end()], text[marker.end():]
        for at, sep in _seams(text):
            head, rest = text[:at], text[at + len(sep):]
            first = self._render(self._parse(context + head))
            wrap = _inline_wrap(first)
            if wrap is None or _RISKY_TEXT.search(_text_of(first)):
                continue
            whole = self._render(self._parse(context + text))
            second = self._render(self._parse(context + rest))
            if _inline_wrap(whole) != wrap or _inline_wrap(second) != wrap:
                continue
            if _strip(first, *wrap) + sep + _strip(second, *wrap) != _strip(whole, *wrap):
                continue
            if kind == "item" and self._kind != "item":
                opening = "<li>"
                if not self._kind:
                    self._head = _LIST_WRAP.match(first).group(0)  # type: ignore[union-attr]
            elif kind == "p" and not self._kind:
                self._head = "<p>"
            self._kind = kind
            self._committed += opening + _strip(first, *wrap) + sep
            self._context = context
            self._cut(len(self._tail) - len(rest))
            return True
        return False


def _seams(text: str) -> List[Tuple[int, str]]:
    """Candidate seams in a paragraph's uncommitted text, latest first: (offset, separator).

    A seam is before any character that later text could still turn into markup, and between
    two non-space characters (any script: CJK needs no spaces) or at one space or newline
    between them, so whitespace never sits at the edge of a render. The text after it must not
    start a block of its own when rendered alone. Two candidates: near the end, and just before
    the first risky character (in case that one is still open).
    """
    last_line = text.rfind("\n") + 1
    end = len(text) - 1  # the last character stays live
    if "|" in text[last_line:]:  # the line may yet be a table's header row
        end = min(end, last_line - 1)
    candidates = []
    for limit in (end, _first_risky(text)):
        seam = _seam_before(text, min(limit, end))
        if seam is not None and seam not in candidates:
            candidates.append(seam)
    return candidates


def _first_risky(text: str) -> int:
    risky = _RISKY.search(text)
    return risky.start() if risky else len(text)


def _seam_before(text: str, limit: int) -> Optional[Tuple[int, str]]:
    at = limit
    while at >= MIN_COMMIT and limit - at <= 64:
        before, here = text[at - 1], text[at]
        if not before.isspace() and before != "!":
            if not here.isspace():
                sep, rest = "", text[at:]
            elif here in " \n" and at + 1 < len(text) and not text[at + 1].isspace():
                sep, rest = here, text[at + 1:]
            else:
                at -= 1
                continue
            if not _BLOCK_START.match(rest) and not _RISKY_TAIL.search(text[:at]):
                return at, sep
        at -= 1
    return None


def _text_of(html: str) -> str:
    """The text outside tags, math and code of a render: where unmatched markup would show."""
    html = _SETTLED.sub("", html)
    return _TAG.sub("", html)


def _inline_wrap(html: str) -> Optional[Tuple[str, str]]:
    """The wrapper of a one-paragraph render (or a one-item tight list): (open, close)."""
    if html.startswith("<p>") and html.endswith("</p>\n") and html.count("<p>") == 1:
        return "<p>", "</p>\n"
    match = _LIST_WRAP.match(html)
    closing = f"</li>\n</{match.group(1)}>\n" if match else ""
    if match and html.endswith(closing) and html.count("<li>") == 1 and "<p>" not in html:
        return match.group(0) + "<li>", closing
    return None


def _strip(html: str, opening: str, closing: str) -> str:
    if not html.startswith(opening) or not html.endswith(closing):
        return ""
    return html[len(opening): len(html) - len(closing)]


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _is_top_block(token: Any) -> bool:
    return token.level == 0 and token.nesting >= 0 and token.map is not None


def _line_offset(src: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = src.index("\n", offset) + 1
    return offset
