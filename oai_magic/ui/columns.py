"""Several choices (``-N``) side by side, each streaming live at bounded cost.

Notebook: one live surface (surface.py) holding a flex row with one column region per choice.
Each column has its own LiveMarkdown, the same one a single answer uses. Streamed chunks
interleave by ``index``; each goes to its own column. At the end the surface is replaced by ONE
static HTML block (a flex row of columns and one footer) and its widget is closed: the saved
notebook shows the answer once, with no widget state, and frontends without widgets get it.

Terminal: interleaved tokens would be unreadable, so the choices are printed one after
another, "Choice 1/3" each, once complete.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, TextIO, Tuple

from ..core.events import View
from ..core.results import ChatResult, Choice
from ..render.chrome import (
    ANSWER_REGION,
    all_notices,
    choice_mark,
    footer_html,
    footer_parts,
    footer_text,
    json_final_text,
    mark_html,
    notice_line,
    notices_html,
    result_mark,
    terminal_safe,
    warnings_block,
    warnings_only,
    write_terminal_closing,
)
from ..render.markdown import escape_html
from ..render.reasoning import REASONING_REGION, LiveReasoning, reasoning_html, reasoning_text
from .notebook import RichView


def choice_label(choice: Optional[Choice], index: int, n: int) -> str:
    reason = f" · {choice.finish_reason}" if choice and choice.finish_reason else ""
    return f"Choice {index + 1}/{n}{reason}"


def overall_mark(result: ChatResult) -> Optional[str]:
    """Interrupted or failed: said once, under the columns (per-choice marks go in columns)."""
    if result.interrupted or result.error:
        return result_mark(result)
    return None


# The same elements hold the live columns and the final ones, so nothing moves at the end.
ROW_OPEN = '<div class="oai-choices" style="display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start">'
COLUMN_OPEN = '<div class="oai-choice" style="flex:1 1 0;min-width:16em;overflow-x:auto">'


def column_label_html(label: str) -> str:
    return f'<div style="font-size:smaller;font-weight:bold;opacity:0.7">{escape_html(label)}</div>'


def columns_html(cells: List[Tuple[str, str]]) -> str:
    """(label, answer HTML) per choice → one flex row that wraps on narrow screens."""
    columns = "".join(f"{COLUMN_OPEN}{column_label_html(label)}{html}</div>" for label, html in cells)
    return f"{ROW_OPEN}{columns}</div>"


class ColumnsView(RichView):
    """``-N`` in a notebook: live columns in one live surface, one static block at the end."""

    def __init__(self, n: int, **options: Any) -> None:
        super().__init__(**options)
        self.n = n
        self.lives: List[Any] = []
        self.thoughts: List[Any] = []
        self.surface: Any = None
        self.notices: List[str] = []

    def begin(self, notices: List[str]) -> None:
        from ..render.live import LiveMarkdown
        from ..render.surface import LiveSurface

        self.notices = list(notices)
        regions = [("n", "", f"<div>{notices_html(notices)}</div>")] if notices else []
        regions.append(("row", "", ROW_OPEN + "</div>"))
        for index in range(self.n):
            regions += [
                (f"c{index}", "row", COLUMN_OPEN + "</div>"),
                (f"l{index}", f"c{index}", column_label_html(choice_label(None, index, self.n))),
                (f"k{index}", f"c{index}", REASONING_REGION),
                (f"a{index}", f"c{index}", ANSWER_REGION),
            ]
        self.surface = LiveSurface(regions, placeholder=f"{self.n} answers streaming…")
        self.lives = [LiveMarkdown(self.surface, f"a{index}", render_interval=self.render_interval,
                                   clock=self.clock, plain=self.plain) for index in range(self.n)]
        self.thoughts = [LiveReasoning(self.surface, f"k{index}", self.render_interval, self.clock)
                         for index in range(self.n)]

    def reasoning(self, index: int, text: str) -> None:
        """Each choice's streamed reasoning, collapsed above its column's answer."""
        if index < self.n:
            self.thoughts[index].append(text)

    def delta(self, index: int, text: str) -> None:
        if index < self.n:  # a choice beyond n is not shown (never more than asked)
            self.thoughts[index].settle()
            self.lives[index].append(text)

    def end(self, result: ChatResult) -> None:
        if result.nothing_arrived:  # CONTRACTS 1: no columns, no footer; the cell's line says it
            for live in self.lives:
                live.finish()
            self.surface.withdraw(*warnings_block(all_notices(self.notices, result)))
            return
        by_index = {c.index: c for c in result.choices}
        cells, texts = [], []
        shown = len(result.choices) if 0 < len(result.choices) < self.n else self.n  # only those that exist
        for index, live in enumerate(self.lives[:shown]):
            choice = by_index.get(index)
            html, text = live.finish(mark=choice_mark(choice), text=None if choice is None else
                                     json_final_text(choice.text, json_mode=self.json_mode,
                                                     partial=result.partial))
            label = choice_label(choice, index, self.n)
            if choice is not None and choice.reasoning:
                html = reasoning_html(choice.reasoning) + html
                text = f"{reasoning_text(choice.reasoning)}\n\n{text}"  # as one answer's form has
            cells.append((label, html))
            texts.append(f"{label}\n\n{text}".rstrip())
        for live in self.lives[shown:]:
            live.finish()  # stops its stall timer
        mark = overall_mark(result)
        notices = all_notices(self.notices, result)
        html = notices_html(notices) + columns_html(cells)
        texts = notices + texts
        if mark:
            html += mark_html(mark)
            texts.append(mark)
        if self.footer:
            html += footer_html(footer_parts(result))
            texts.append(footer_text(footer_parts(result)))
        from ..core.durable import provenance

        self.surface.finish(html, "\n\n".join(texts), metadata=provenance(result))


class TerminalChoicesView(View):
    """``-N`` in a terminal: each choice printed whole, one after another, once all are done."""

    def __init__(self, n: int, *, footer: bool = True, stream: Optional[TextIO] = None) -> None:
        self.n = n
        self.footer = footer
        self.out = stream or sys.stdout
        self.notices: List[str] = []
        self.notices_shown = 0
        self.waiting_said = False

    def begin(self, notices: List[str]) -> None:
        self.notices, self.notices_shown = list(notices), 0
        self.waiting_said = False

    def show_notices(self) -> None:
        """Notices wait for the first piece of an answer (CONTRACTS 1), as in TerminalChatView."""
        for notice in self.notices[self.notices_shown:]:
            self.out.write(notice_line(notice) + "\n")
        self.notices_shown = len(self.notices)
        if not self.waiting_said:
            self.waiting_said = True
            self.out.write(f"(streaming {self.n} choices; each is shown when all are complete)\n")
            self.out.flush()

    def notice(self, text: str) -> None:
        self.notices.append(text)  # shown with the next piece, before the choices

    def delta(self, index: int, text: str) -> None:
        """Only the notices: the accumulator keeps the text."""
        self.show_notices()

    def end(self, result: ChatResult) -> None:
        if result.nothing_arrived:  # CONTRACTS 1: the cell's one line is all, but for warnings
            for notice in warnings_only(self.notices[self.notices_shown:]):
                self.out.write(notice_line(notice) + "\n")
            return
        # Notices learned at the end (fewer choices than asked), then only the choices that exist.
        self.show_notices()
        by_index = {c.index: c for c in result.choices}
        shown = sorted(by_index) if result.choices else range(self.n)
        for index in shown:
            choice = by_index.get(index)
            self.out.write(f"\n── {choice_label(choice, index, self.n)} ──\n")
            self.out.write(terminal_safe((choice.text or choice.refusal or "") if choice else ""))
            self.out.write("\n")
            mark = choice_mark(choice)
            if mark:
                self.out.write(notice_line(mark) + "\n")
        write_terminal_closing(self.out, footer_parts(result), overall_mark(result), footer=self.footer)
