"""Seams: where the open block of a live answer can be committed, chosen by Markdown structure.

A long open block is cut where later text can no longer change what came before: complete
lines of a code fence, whole rows of a table, whole items of a list, and inside a paragraph
(or a tight list item) any point where no inline construct (emphasis, code span, link, math,
autolink, entity) is open. English punctuation plays no part, so this works in every script.

After the first commit the open block is shown as ``head + committed + inner(tail render)``;
``_kind`` says how to find the inner HTML of a render of ``context + tail``.
:class:`OpenBlockCommits` is the half of :class:`~oai_magic.render.live.LiveMarkdown` that
decides and records commits; the functions below it find seams in text and HTML.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

MIN_COMMIT = 8  # a commit leaves at least this many characters committed

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
_LIST_WRAP = re.compile(r"^<(ul|ol)(?: start=\"\d+\")?>\n")
_TABLE_BODY = re.compile(r"^.*?<tbody>\n", re.S)
_CLOSER = re.compile(r"</[a-z][a-z0-9]*>")


class OpenBlockCommits:
    """Commits inside the open block; LiveMarkdown holds the state these methods keep."""

    _tail: str  # uncommitted source of the open block
    _context: str  # source the tail continues (fence opener, table header, item marker)
    _head: str  # HTML of the open block up to its committed part
    _committed: str  # committed inner HTML of the open block
    _kind: str  # how the open block was committed: "", p, fence, table, list, item
    stats: Dict[str, Any]
    _cut: Callable[[int], None]
    _parse: Callable[[str], List[Any]]
    _render: Callable[[List[Any]], str]

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
        header_end = line_offset(src, 2)
        offset = line_offset(src, rows[-1])
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
        offset = line_offset(src, items[-1])
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


def without_trailing_closers(html: str) -> str:
    """``html`` without the closing tags it ends with (and the whitespace around them): the page
    closes them itself. Read from the end only, so a draw of a long open block (a paragraph or a
    list of thousands of words) costs no more than one of a short block; a regular expression
    anchored at the end would try every position of the block on every draw."""
    end = _end_of_text(html, len(html))
    cut = None
    while end and html[end - 1] == ">":
        start = html.rfind("<", 0, end)
        if start < 0 or not _CLOSER.fullmatch(html, start, end):
            break
        end = cut = _end_of_text(html, start)
    return html if cut is None else html[:cut]


def _end_of_text(html: str, end: int) -> int:
    """Where the whitespace ending ``html[:end]`` starts."""
    while end and html[end - 1].isspace():
        end -= 1
    return end


def common_prefix(a: str, b: str) -> int:
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


def is_top_block(token: Any) -> bool:
    return token.level == 0 and token.nesting >= 0 and token.map is not None


def line_offset(src: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = src.index("\n", offset) + 1
    return offset
