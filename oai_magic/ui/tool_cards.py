"""How a tool-call exchange is shown: each call as it forms, what it returned, then the answer.

Notebook: every request's text streams through the same bounded-cost LiveMarkdown as a single
answer; each tool call is a small card (name, arguments pretty-printed once they parse,
then the result or what went wrong) redrawn within a frame (``render/frames.py``) while its
arguments stream. At the end the whole exchange is replaced by ONE block, as a single answer
is, so the saved notebook holds it once. A tool's printed output is captured into its card.
Terminal: text as it comes, each call once complete, then its result, one line each.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Optional, TextIO

from ..core.events import View
from ..core.results import ChatResult
from ..core.tools import ToolOutcome, call_preview, visible
from ..render.chrome import (
    ANSWER_REGION,
    answer_html,
    footer_html,
    footer_parts,
    footer_text,
    json_final_text,
    notice_line,
    notices_html,
    result_mark,
    terminal_safe,
    warnings_block,
    warnings_only,
    write_terminal_closing,
)
from ..render.frames import SHOWN, FramePacer
from ..render.markdown import escape_html
from ..render.reasoning import REASONING_REGION, DimReasoning, LiveReasoning, reasoning_html
from ..render.surface import LiveRegion
from .notebook import RichView

SHOWN_RESULT_CHARS = 1500
STATUS = {
    "forming": "calling…",
    "ok": "✓ returned",
    "error": "✗ raised an error",
    "declined": "⊘ declined",
    "unknown": "✗ unknown tool",
    "bad-arguments": "✗ invalid arguments",
    "skipped": "⊘ not run",
}


def shown_result(content: str, limit: int = SHOWN_RESULT_CHARS) -> str:
    """The start of what went back to the model; the model got all of it."""
    if len(content) <= limit:
        return content
    return f"{content[:limit]}\n… ({len(content) - limit} more chars were sent to the model)"


def exchange_mark(result: ChatResult) -> Optional[str]:
    """The single-answer mark, or the round-limit note when the loop stopped there."""
    return result_mark(result) or next(
        (n for n in result.notices if n.startswith("⚠ stopped after")), None
    )


def card_html(call: Dict[str, Any], outcome: Optional[ToolOutcome] = None) -> str:
    """One call's card; what came back is untrusted too: escaped, its bidi and controls shown."""
    name, arguments = call_preview(call)
    status = STATUS[outcome.status if outcome else "forming"]
    parts = [
        '<div class="oai-tool-call" style="border-left:3px solid #8a8f98;padding:0.15em 0.7em;'
        'margin:0.4em 0">',
        f'<div>→ <code>{escape_html(name)}</code> '
        f'<span style="opacity:0.7;font-size:smaller">{escape_html(status)}</span></div>',
        f'<pre style="margin:0.2em 0;white-space:pre-wrap">{escape_html(arguments or "{}")}</pre>',
    ]
    if outcome is not None and outcome.printed:
        parts.append('<div style="font-size:smaller;opacity:0.7">printed:</div>'
                     '<pre style="margin:0.2em 0;white-space:pre-wrap">'
                     f"{escape_html(visible(shown_result(outcome.printed)))}</pre>")
    if outcome is not None:
        label = "result" if outcome.ok else "sent to the model"
        parts.append(f'<div style="font-size:smaller;opacity:0.7">{label}:</div>'
                     '<pre style="margin:0.2em 0;white-space:pre-wrap">'
                     f"{escape_html(visible(shown_result(outcome.content)))}</pre>")
    parts.append("</div>")
    return "".join(parts)


def card_text(call: Dict[str, Any], outcome: Optional[ToolOutcome] = None) -> str:
    name, arguments = call_preview(call)
    line = f"→ {name} {arguments or '{}'}"
    return terminal_safe(f"{line}\n{outcome_text(outcome)}" if outcome is not None else line)


def outcome_text(outcome: ToolOutcome) -> str:
    lines = []
    if outcome.printed:
        lines.append(f"  printed: {shown_result(outcome.printed).rstrip()}")
    lines.append(f"← {outcome.name} {outcome_summary(outcome)}")
    return terminal_safe("\n".join(lines))


def outcome_summary(outcome: ToolOutcome) -> str:
    """Status and what went back, saying "error" once: ``✗ raised KeyError: 'Pluto'``.

    The model is sent "Error: NAME raised ..." (it needs the word); the reader already sees
    the name and the ✗, so the repeated part is left out.
    """
    content = shown_result(outcome.content)
    repeated = f"Error: {outcome.name} "
    if outcome.status == "error" and content.startswith(repeated):
        return f"✗ {content[len(repeated):]}"
    if content.startswith("Error: "):
        content = content[len("Error: "):]
    return f"{STATUS[outcome.status]}: {content}"


class _Card:
    """One call's card: a region of the live surface, redrawn within a frame (``interval``)."""

    def __init__(self, surface: Any, region: str, interval: float, clock: Callable[[], float]) -> None:
        surface.add_region(region, "<div></div>", parent="x")
        self.view = LiveRegion(surface, region)
        self.pacer = FramePacer(self._draw, frame_s=interval, clock=clock)
        self.call: Dict[str, Any] = {}
        self.outcome: Optional[ToolOutcome] = None

    def show(self, call: Dict[str, Any], *, force: bool = False) -> None:
        with self.pacer.lock:
            self.call = call
            if force:
                self.pacer.force()
            else:
                self.pacer.changed()

    def done(self, outcome: ToolOutcome) -> None:
        with self.pacer.lock:
            self.outcome = outcome
            self.pacer.force()
            self.pacer.stop()

    def _draw(self) -> str:
        self.view.show(card_html(self.call, self.outcome))
        return SHOWN


class NotebookToolView(RichView):
    """Rich display of a tool-call exchange (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.parts: List[Any] = []  # (html, text) pairs and cards, in reading order
        self.live: Any = None
        self.surface: Any = None
        self.cards: List[_Card] = []
        self.notices: List[str] = []
        self.rounds = 0
        self.thinking: Any = None  # this round's streamed reasoning (views.LiveReasoning)

    def begin(self, notices: List[str]) -> None:
        """Called once per request of the exchange: each round gets its own answer region."""
        from ..render.live import LiveMarkdown
        from ..render.surface import LiveSurface

        fresh = [n for n in notices if n not in self.notices]
        if self.surface is None:
            self.surface = LiveSurface([("n", "", "<div></div>"), ("x", "", "<div></div>")])
        if fresh:
            self.notices += fresh
            self.surface.set_html("n", notices_html(self.notices))
        self.rounds += 1
        region = f"a{self.rounds}"
        self.surface.add_region(f"k{self.rounds}", REASONING_REGION, parent="x")
        self.surface.add_region(region, ANSWER_REGION, parent="x")
        self.thinking = LiveReasoning(self.surface, f"k{self.rounds}", self.render_interval, self.clock)
        self.surface.flush()
        self.live = LiveMarkdown(
            self.surface, region, render_interval=self.render_interval, clock=self.clock, plain=self.plain
        )
        self.cards = []

    def reasoning(self, index: int, text: str) -> None:
        """Each round's streamed reasoning, collapsed above that round's text and calls."""
        if index == 0:
            self.thinking.append(text)

    def _keep_reasoning(self) -> None:
        """The round's reasoning goes into the final block, collapsed, above what followed it."""
        if self.thinking is not None and self.thinking.parts:
            self.parts.append((reasoning_html("".join(self.thinking.parts)), ""))
        self.thinking = None

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            self.thinking.settle()
            self.live.append(text)

    def tool_calls(self, index: int, calls: List[Dict[str, Any]]) -> None:
        if index != 0:
            return
        self.thinking.settle()
        for position, call in enumerate(calls):
            if position == len(self.cards):
                self.live.refresh()  # text said before the call is drawn above its card
                self.cards.append(self._card(position))
            self.cards[position].show(call)

    def _card(self, position: int) -> _Card:
        return _Card(self.surface, f"t{self.rounds}_{position}", self.render_interval, self.clock)

    def end_round(self, result: ChatResult) -> None:
        """A response that asked for tools: settle its text in place, draw the calls whole."""
        self._keep_reasoning()
        if self.live.text:
            self.live.refresh()
            self.parts.append(self.live.finish())
        else:
            self.live.finish()
        self.live = None
        calls = result.choices[0].tool_calls if result.choices else []
        for position, call in enumerate(calls):
            if position == len(self.cards):
                self.cards.append(self._card(position))
            self.cards[position].show(call, force=True)
        self.parts.extend(self.cards)

    def tool_outcome(self, index: int, outcome: ToolOutcome) -> None:
        if index < len(self.cards):
            self.cards[index].done(outcome)

    def end(self, result: ChatResult) -> None:
        if result.nothing_arrived and not self.parts:  # CONTRACTS 1: only the cell's line
            if self.live is not None:
                self.live.finish()
            self.surface.withdraw(*warnings_block(self.notices))  # warnings only (CONTRACTS 1)
            return
        parts = footer_parts(result)
        footer = footer_html(parts) if self.footer else ""
        footer_line = footer_text(parts) if self.footer else ""
        mark = exchange_mark(result)
        self._keep_reasoning()
        if self.live is not None:  # the last response answered in text
            final_text = json_final_text(result.text, json_mode=self.json_mode, partial=result.partial)
            self.parts.append(self.live.finish(footer_html=footer, mark=mark, text=final_text,
                                               footer_text=footer_line))
        else:
            self.parts.append((answer_html("", mark) + footer,
                               "\n".join(p for p in (mark, footer_line) if p)))
        html, text = [notices_html(self.notices)], list(self.notices)
        for part in self.parts:
            if isinstance(part, _Card):
                html.append(card_html(part.call, part.outcome))
                text.append(card_text(part.call, part.outcome))
            else:
                html.append(part[0])
                text.append(part[1])
        from ..core.durable import provenance

        self.surface.finish("".join(html), "\n\n".join(t for t in text if t), metadata=provenance(result))


class TerminalToolView(View):
    """Plain text: the answer as it streams, each call once complete, then its result."""

    def __init__(self, *, footer: bool = True, stream: Optional[TextIO] = None) -> None:
        self.footer = footer
        self.out = stream or sys.stdout
        self._open_line = False
        self.notices: List[str] = []
        self.notices_shown = 0
        self.thinking = DimReasoning(self.out)

    def reasoning(self, index: int, text: str) -> None:
        if index == 0:
            self.show_notices()
            self.thinking.append(text)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def begin(self, notices: List[str]) -> None:
        """Called per request; the notices wait for the first piece of an answer (CONTRACTS 1)."""
        self.notices = notices
        self.notices_shown = 0

    def show_notices(self) -> None:
        for notice in self.notices[self.notices_shown:]:
            self._write(notice_line(notice) + "\n")
        self.notices_shown = len(self.notices)

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            self.show_notices()
            self.thinking.close()
            self._write(terminal_safe(text))
            self._open_line = not text.endswith("\n")

    def end_round(self, result: ChatResult) -> None:
        self.show_notices()
        self.thinking.close()
        if self._open_line:
            self._write("\n")
            self._open_line = False
        for call in result.choices[0].tool_calls if result.choices else []:
            self._write(card_text(call) + "\n")

    def tool_outcome(self, index: int, outcome: ToolOutcome) -> None:
        self._write(outcome_text(outcome) + "\n")

    def end(self, result: ChatResult) -> None:
        self.thinking.close()
        if result.nothing_arrived and not result.choices:  # CONTRACTS 1: the line, and warnings
            for notice in warnings_only(self.notices[self.notices_shown:]):
                self._write(notice_line(notice) + "\n")
            return
        self.show_notices()
        self._write("\n")
        write_terminal_closing(self.out, footer_parts(result), exchange_mark(result), footer=self.footer)
