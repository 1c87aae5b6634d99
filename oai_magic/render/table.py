"""A small table that shows as HTML in a notebook and as aligned text elsewhere."""

from __future__ import annotations

import html
from typing import List, Sequence

from ..plain_text import terminal_safe
from .markdown import IGNORE_MATH


class Table:
    """Rows of text cells under headers; cells hold server data (model ids, headers): escaped."""

    def __init__(self, headers: Sequence[str], rows: List[Sequence[str]], title: str = "") -> None:
        self.headers = list(headers)
        self.rows = [[str(cell) for cell in row] for row in rows]
        self.title = title

    def __repr__(self) -> str:
        return terminal_safe(self._aligned())

    def _aligned(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(h.ljust(w) for h, w in zip(self.headers, widths)).rstrip())
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in row)
            + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table class='oai-table {IGNORE_MATH}'>{caption}<tr>{head}</tr>{body}</table>"
