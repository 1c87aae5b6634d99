"""Several choices (``-N``) side by side, each streaming live at bounded cost.

Notebook: an ipywidgets row with one column per choice. Each column has its own LiveMarkdown
(the same one a single answer uses) drawing through a :class:`WidgetSurface`: a frozen piece
is an HTML widget that is never sent again, the live tail is one widget updated in place.
Pieces are grouped ``GROUP`` to a box, so adding one re-sends a short list of children rather
than all of them, and every piece widget shares one layout and one style model. Streamed
chunks interleave by ``index``; each goes to its own column. At the end the widget row is
replaced, through its display handle, by ONE static HTML block (a flex row of columns and one
footer) and the widgets are closed: the saved notebook shows the answer once, with no widget
state, and frontends without widgets still get it.

Terminal: interleaved tokens would be unreadable, so the choices are printed one after
another, "Choice 1/3" each, once complete.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, TextIO, Tuple

from .chat import ChatResult, Choice
from .views import RichView, footer_parts, pretty_json, result_mark, write_terminal_closing

GROUP = 16  # sealed widgets per box
MERGE = 512  # chars of HTML under which a sealed widget takes the next frozen piece too


def choice_label(choice: Optional[Choice], index: int, n: int) -> str:
    reason = f" · {choice.finish_reason}" if choice and choice.finish_reason else ""
    return f"Choice {index + 1}/{n}{reason}"


def choice_mark(choice: Optional[Choice]) -> Optional[str]:
    if choice is None:
        return None
    if choice.finish_reason == "length":
        return "⚠ cut off at the token limit (finish_reason: length)"
    if choice.finish_reason == "content_filter":
        return "⚠ stopped by the content filter"
    if choice.refusal and not choice.text:
        return "⚠ the model refused"
    return None


def overall_mark(result: ChatResult) -> Optional[str]:
    """Interrupted or failed: said once, under the columns (per-choice marks go in columns)."""
    if result.interrupted or result.error:
        return result_mark(result)
    return None


def columns_html(cells: List[Tuple[str, str]]) -> str:
    """(label, answer HTML) per choice → one flex row that wraps on narrow screens."""
    from .render import escape_html

    columns = "".join(
        '<div class="oai-choice" style="flex:1 1 0;min-width:16em;overflow-x:auto">'
        f'<div style="font-size:smaller;font-weight:bold;opacity:0.7">{escape_html(label)}</div>'
        f"{html}</div>"
        for label, html in cells
    )
    return (
        '<div class="oai-choices" style="display:flex;flex-wrap:wrap;gap:1.2em;'
        f'align-items:flex-start">{columns}</div>'
    )


def _final_text(choice: Optional[Choice], json_mode: bool, partial: bool) -> Optional[str]:
    if choice is None or not json_mode or partial:
        return None
    pretty = pretty_json(choice.text)
    return f"```json\n{pretty}\n```" if pretty is not None else None


class WidgetSurface:
    """A LiveMarkdown surface in one column: frozen pieces are widgets never sent again.

    Opening a widget costs about 600 bytes of state, so a frozen piece that follows a small
    one (under ``MERGE`` chars of HTML) is appended to it instead; sealed widgets go in boxes of
    ``GROUP`` so adding one re-sends a short children list.
    """

    piece_overhead = 600  # bytes of widget state a new piece costs: LiveMarkdown cuts bigger pieces

    def __init__(self, column: Any, widgets: Any, layout: Any, style: Any) -> None:
        self.column, self.W, self.layout, self.style = column, widgets, layout, style
        self.groups: List[Any] = []
        self.created: List[Any] = []
        self.sealed: List[Any] = []
        self.tail: Any = None
        self.final: Optional[Tuple[str, str]] = None

    def _add(self, html: str) -> Any:
        piece = self.W.HTMLMath(value=html, layout=self.layout, style=self.style)
        self.created.append(piece)
        if self.groups and len(self.groups[-1].children) < GROUP:
            group = self.groups[-1]
            group.children = (*group.children, piece)
        else:
            group = self.W.VBox(children=(piece,), layout=self.layout)
            self.groups.append(group)
            self.created.append(group)
            self.column.children = (*self.column.children, group)
        return piece

    def set_tail(self, html: str) -> None:
        if self.tail is None:
            self.tail = self._add(html)
        elif self.tail.value != html:
            self.tail.value = html

    def freeze(self, html: str) -> None:
        last = self.sealed[-1] if self.sealed else None
        if last is not None and len(last.value) < MERGE:
            last.value = last.value + html
            if self.tail is not None and self.tail.value:
                self.tail.value = ""
            return
        self.set_tail(html)
        self.sealed.append(self.tail)
        self.tail = None

    def finish(self, html: str, text: str) -> None:
        self.final = (html, text)  # drawn by the view, all columns at once


class ColumnsView(RichView):
    """``-N`` in a notebook: live columns while streaming, one static block at the end."""

    def __init__(self, n: int, **options: Any) -> None:
        super().__init__(**options)
        self.n = n
        self.lives: List[Any] = []
        self.surfaces: List[WidgetSurface] = []
        self.widgets: List[Any] = []
        self.handle: Any = None
        self.ignored = 0  # deltas for a choice index beyond n

    def begin(self, notices: List[str]) -> None:
        import ipywidgets as W
        from IPython.display import display
        from ipywidgets.widgets.widget_string import HTMLMathStyle

        from .live import LiveMarkdown
        from .render import escape_html

        for notice in notices:
            display({"text/html": f'<div class="oai-notice" style="font-size:smaller;opacity:0.75">'
                                  f"{escape_html(notice)}</div>", "text/plain": notice}, raw=True)
        layout = W.Layout()
        style = HTMLMathStyle()
        column_layout = W.Layout(flex="1 1 0", min_width="16em", overflow="auto")
        columns = []
        for index in range(self.n):
            heading = escape_html(choice_label(None, index, self.n))
            label = W.HTML(value=f"<b style='opacity:0.7'>{heading}</b>", layout=layout)
            column = W.VBox(children=(label,), layout=column_layout)
            surface = WidgetSurface(column, W, layout, style)
            columns.append(column)
            self.widgets += [label, column]
            self.surfaces.append(surface)
            self.lives.append(LiveMarkdown(surface, render_interval=self.render_interval,
                                           clock=self.clock, plain=self.plain))
        row = W.HBox(children=tuple(columns),
                     layout=W.Layout(width="100%", align_items="flex-start", grid_gap="1em"))
        self.widgets += [row, column_layout, layout, style]
        self.handle = display(row, display_id=True)

    def delta(self, index: int, text: str) -> None:
        if index < self.n:
            self.lives[index].append(text)
        else:
            self.ignored += 1

    def end(self, result: ChatResult) -> None:
        from .render import escape_html, render_footer

        by_index = {c.index: c for c in result.choices}
        cells, texts = [], []
        for index, (live, surface) in enumerate(zip(self.lives, self.surfaces)):
            choice = by_index.get(index)
            live.finish(mark=choice_mark(choice),
                        text=_final_text(choice, self.json_mode, result.partial))
            html, text = surface.final or ("", "")
            label = choice_label(choice, index, self.n)
            cells.append((label, html))
            texts.append(f"{label}\n\n{text}".rstrip())
        mark = overall_mark(result)
        html = columns_html(cells)
        if mark:
            html += f'<div class="oai-mark" style="font-weight:bold">{escape_html(mark)}</div>'
            texts.append(mark)
        if self.footer:
            html += render_footer(footer_parts(result))
            texts.append("— " + " · ".join(footer_parts(result)))
        self.handle.update({"text/html": html, "text/plain": "\n\n".join(texts)}, raw=True)
        self.close()

    def close(self) -> None:
        """Close every widget (and its layout and style): no comm or state is left behind."""
        for surface in self.surfaces:
            self.widgets += surface.created
            surface.created = []
        for widget in self.widgets:
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
                if part is not None:
                    part.close()
        self.widgets = []


class TerminalChoicesView:
    """``-N`` in a terminal: each choice printed whole, one after another, once all are done."""

    def __init__(self, n: int, *, footer: bool = True, stream: Optional[TextIO] = None) -> None:
        self.n = n
        self.footer = footer
        self.out = stream or sys.stdout

    def begin(self, notices: List[str]) -> None:
        self.notices, self.notices_shown = notices, len(notices)
        for notice in notices:
            self.out.write(f"[{notice}]\n")
        self.out.write(f"(streaming {self.n} choices; each is shown when all are complete)\n")
        self.out.flush()

    def delta(self, index: int, text: str) -> None:
        """Nothing yet: the accumulator keeps the text."""

    def end(self, result: ChatResult) -> None:
        # Notices learned at the end (fewer choices than asked), then only the choices that exist.
        for notice in getattr(self, "notices", [])[getattr(self, "notices_shown", 0):]:
            self.out.write(f"[{notice}]\n")
        by_index = {c.index: c for c in result.choices}
        shown = sorted(by_index) if result.choices else range(self.n)
        for index in shown:
            choice = by_index.get(index)
            self.out.write(f"\n── {choice_label(choice, index, self.n)} ──\n")
            self.out.write((choice.text or choice.refusal or "") if choice else "")
            self.out.write("\n")
            mark = choice_mark(choice)
            if mark:
                self.out.write(f"[{mark}]\n")
        write_terminal_closing(self.out, result, overall_mark(result), footer=self.footer)
