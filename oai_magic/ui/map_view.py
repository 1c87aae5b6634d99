"""Progress for ``%%chat --map``: a bar and a table of the first answers in notebooks, one
updating line in terminals. Both end as one summary line (the widget is closed, so a saved
notebook keeps no widget state for it)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Optional

from ..core.events import View
from ..core.map_run import MapProgress
from ..plain_text import shortened
from ..render.chrome import notice_line, usage_footer
from ..render.markdown import IGNORE_MATH, escape_html
from ..render.surface import Throttle

DRAW_INTERVAL = 0.2  # seconds between redraws; the last state is always drawn at the end
FIRST_ANSWERS = 5
ANSWER_CHARS = 120


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def progress_line(p: MapProgress) -> str:
    """``37/200 done · 1 failed · 5,120 tokens · price unknown · ETA 12.0 s``"""
    parts = [f"{p.done + p.failed}/{p.total} done"]
    if p.failed:
        parts.append(f"{p.failed} failed")
    eta = [f"ETA {_duration(p.eta)}"] if p.eta is not None else []
    return " · ".join(parts + usage_footer([], tokens=p.tokens, cost=p.cost_usd, after=eta))


def summary_line(p: MapProgress, out: Optional[str], stopped: Optional[str] = None) -> str:
    """The one line a finished (or stopped) job leaves in the cell."""
    where = f" — in {out}" if out else ""
    failed = f", {p.failed} failed" if p.failed else ""
    # The one footer (chrome.usage_footer): the practice badge (CONTRACTS 4), tokens, cost.
    figures = " · ".join(usage_footer([], practice=p.practice, tokens=p.tokens, cost=p.cost_usd))
    if stopped:
        return (f"■ {stopped}: {p.done} of {p.total} answered{failed} in {_duration(p.elapsed)} "
                f"· {figures}{where}")
    # ✓ only when every item was answered (CONTRACTS: --map never lies); else ⚠ with the count
    # that failed and the count that did not run.
    unrun = p.total - p.done - p.failed
    not_run = f", {unrun} not run" if unrun > 0 else ""
    sign = "✓" if p.done == p.total else "⚠"
    return (f"{sign} {p.done} of {p.total} answered{failed}{not_run} in {_duration(p.elapsed)} "
            f"· {figures}{where}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return shortened(text, ANSWER_CHARS, "…")


class TerminalMapView(View):
    """One line, rewritten in place with ``\\r``."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._throttle = Throttle(DRAW_INTERVAL, time.monotonic)
        self._width = 0

    def map_begin(self, total: int, notice: Optional[str] = None) -> None:
        if notice:
            print(notice, file=self.stream, flush=True)

    def map_progress(self, progress: MapProgress, force: bool = False) -> None:
        with self._lock:
            if not self._throttle.due(force=force):
                return
            line = progress_line(progress)
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
            self.stream.flush()

    def map_end(self, progress: MapProgress, summary: str) -> None:
        with self._lock:
            if self._width:
                self.stream.write("\r" + " " * self._width + "\r")
            print(summary, file=self.stream, flush=True)

    def notice(self, text: str) -> None:
        """A notice for the whole job (said once, after its summary)."""
        print(notice_line(text), file=self.stream, flush=True)


class NotebookMapView(View):
    """An ipywidgets ``IntProgress`` and a label, over an HTML table of the first answers.

    It is shown with a display id, and the summary line replaces it in place at the end."""

    def __init__(self) -> None:
        import ipywidgets
        from IPython.display import display

        self._lock = threading.Lock()
        self._throttle = Throttle(DRAW_INTERVAL, time.monotonic)
        self.bar = ipywidgets.IntProgress(value=0, min=0, max=1, description="")
        self.label = ipywidgets.Label(value="")
        self.table = ipywidgets.HTML(value="")
        self.row = ipywidgets.HBox([self.bar, self.label])
        self.box = ipywidgets.VBox([self.row, self.table])
        self._display = display

    def map_begin(self, total: int, notice: Optional[str] = None) -> None:
        if notice:
            print(notice)
        self.bar.max = max(1, total)
        self._handle = self._display(self.box, display_id=True)

    def map_progress(self, progress: MapProgress, force: bool = False) -> None:
        with self._lock:
            if not self._throttle.due(force=force):
                return
            self.bar.value = progress.done + progress.failed
            self.label.value = progress_line(progress)
            self.table.value = answers_table(progress)

    def map_end(self, progress: MapProgress, summary: str) -> None:
        with self._lock:  # every model, their layouts and styles too: no state is left saved
            for widget in (self.box, self.row, self.bar, self.label, self.table):
                for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
                    if part is not None:
                        part.close()
                widget.close()
        line = {"text/plain": summary, "text/html":
                f"<div class='{IGNORE_MATH}' style='opacity:.8'>{escape_html(summary)}</div>"}
        if getattr(self, "_handle", None) is not None:
            self._handle.update(line, raw=True)  # the summary takes the widget's place
        else:
            self._display(line, raw=True)

    def notice(self, text: str) -> None:
        """A notice for the whole job (said once, after its summary)."""
        print(notice_line(text))


def answers_table(progress: MapProgress) -> str:
    """The first answers, escaped: server text is never markup (CONTRACTS 5)."""
    if not progress.first:
        return ""
    rows = "".join(
        f"<tr><td style='text-align:right'>{i}</td><td style='text-align:left'>"
        f"{escape_html(_short(text))}</td></tr>" for i, text in progress.first[:FIRST_ANSWERS])
    return (f"<table class='{IGNORE_MATH}'><tr><th>#</th>"
            f"<th style='text-align:left'>answer</th></tr>{rows}</table>")
