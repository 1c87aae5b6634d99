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
from ..redaction import StreamRedactor, outbound_key
from ..render.budget import ByteBudget
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
from ..render.frames import HELD, SHOWN, FramePacer
from ..render.markdown import escape_html
from ..render.reasoning import REASONING_REGION, SEAL_CHARS, DimReasoning, LiveReasoning, reasoning_html
from ..render.surface import js_length
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


CARD_OPEN = ('<div class="oai-tool-call" style="border-left:3px solid #8a8f98;padding:0.15em 0.7em;'
             'margin:0.4em 0">')
ARGUMENTS_OPEN = '<pre style="margin:0.2em 0;white-space:pre-wrap">'


def card_html(call: Dict[str, Any], outcome: Optional[ToolOutcome] = None) -> str:
    """One call's card; what came back is untrusted too: escaped, its bidi and controls shown."""
    name, arguments = call_preview(call)
    return (CARD_OPEN + card_head_html(name, outcome)
            + f'{ARGUMENTS_OPEN}{escape_html(arguments or "{}")}</pre>'
            + card_outcome_html(outcome) + "</div>")


def card_head_html(name: str, outcome: Optional[ToolOutcome]) -> str:
    status = STATUS[outcome.status if outcome else "forming"]
    return (f'<div>→ <code>{escape_html(name)}</code> '
            f'<span style="opacity:0.7;font-size:smaller">{escape_html(status)}</span></div>')


def card_outcome_html(outcome: Optional[ToolOutcome]) -> str:
    """What the call printed and what went back to the model, below its arguments."""
    if outcome is None:
        return ""
    parts = []
    if outcome.printed:
        parts.append('<div style="font-size:smaller;opacity:0.7">printed:</div>'
                     f"{ARGUMENTS_OPEN}{escape_html(visible(shown_result(outcome.printed)))}</pre>")
    label = "result" if outcome.ok else "sent to the model"
    parts.append(f'<div style="font-size:smaller;opacity:0.7">{label}:</div>'
                 f"{ARGUMENTS_OPEN}{escape_html(visible(shown_result(outcome.content)))}</pre>")
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


class LiveCard:
    """One call's card: a region of a live surface, drawn within a frame (``interval``); the
    cell's tool view and the panel's cards (``ui/panel/tool_view.py``) both draw with it.

    Its arguments may be megabytes: they are appended as they arrive (raw, through a
    ``StreamRedactor``: a key split across two draws is still masked), the name and status
    replaced on their own, and the arguments redrawn pretty-printed at the end only when the
    ``ByteBudget`` affords it. Live bytes stay linear in the arguments, never their square.
    """

    def __init__(self, surface: Any, region: str, interval: float, clock: Callable[[], float]) -> None:
        surface.add_region(region, "<div></div>", parent="x")
        for part, html, parent in ((":c", CARD_OPEN + "</div>", region), (":h", "<div></div>", ":c"),
                                   (":a", ARGUMENTS_OPEN + "</pre>", ":c"), (":r", "<div></div>", ":c")):
            surface.add_region(region + part, html, parent=region + parent if parent[0] == ":" else parent)
        self.surface, self.region = surface, region
        self.pacer = FramePacer(self._draw, frame_s=interval, clock=clock)
        self.budget = ByteBudget(clock, interval, ratio=1.5)
        self.redactor = StreamRedactor(outbound_key())
        self.call: Dict[str, Any] = {}
        self.outcome: Optional[ToolOutcome] = None
        self._seen = 0  # characters of the arguments the budget was told of
        self._received = 0  # characters of the arguments taken from the call
        self._appended = False  # some of them are on the page
        self._open_length = 0  # the arguments' open block on the page (UTF-16 units)
        self._head = self._result = self._whole = ""  # what the page shows
        self._final = False

    def show(self, call: Dict[str, Any], *, force: bool = False) -> None:
        with self.pacer.lock:
            self.call = call
            arguments = (call.get("function") or {}).get("arguments") or ""
            self.budget.receive(max(0, len(arguments) - self._seen))
            self._seen = max(self._seen, len(arguments))
            if force:
                self._final = True
                self.pacer.force()
            else:
                self.pacer.changed()

    def done(self, outcome: ToolOutcome) -> None:
        with self.pacer.lock:
            self.outcome, self._final = outcome, True
            self.pacer.force()
            self.pacer.stop()

    def _draw(self) -> str:
        region, function, held = self.region, self.call.get("function") or {}, False
        if self._final:
            name, pretty = call_preview(self.call)
        else:  # the arguments are parsed once, at the end: a megabyte would be parsed every frame
            name, pretty = visible(str(function.get("name") or "…")), ""
        head = card_head_html(name, self.outcome)
        if head != self._head:
            self.surface.set_html(region + ":h", head)
            self._head = head
        arguments = function.get("arguments") or ""
        if len(arguments) > self._received and not self._whole:
            new = arguments[self._received:]
            if self._final or self.budget.affordable(len(new) + 20):
                self._received = len(arguments)
                self._append(self.redactor.feed(new))
            else:
                held = True  # appended at a later frame, with what follows it
        if self._final and not self._whole:
            self._append(self.redactor.flush())
            whole = escape_html(pretty or "{}")
            if not self._appended or self.budget.affordable(len(whole)):
                self.surface.set_html(region + ":a", whole)  # pretty-printed, if it parses
                self.budget.pay(len(whole))
                self._whole = whole
        result = card_outcome_html(self.outcome)
        if result != self._result:
            self.surface.set_html(region + ":r", result)
            self._result = result
        self.surface.flush()
        return HELD if held else SHOWN

    def _append(self, raw: str) -> None:
        if raw:
            html = escape_html(visible(raw))
            self.surface.patch_open(self.region + ":a", self._open_length, html)
            self.budget.pay(len(html) + 20)
            self._appended = True
            self._open_length += js_length(html)
            if self._open_length >= SEAL_CHARS:
                self.surface.seal(self.region + ":a")
                self._open_length = 0


class NotebookToolView(RichView):
    """Rich display of a tool-call exchange (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.parts: List[Any] = []  # (html, text) pairs and cards, in reading order
        self.live: Any = None
        self.surface: Any = None
        self.cards: List[LiveCard] = []
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

    def _card(self, position: int) -> LiveCard:
        return LiveCard(self.surface, f"t{self.rounds}_{position}", self.render_interval, self.clock)

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
            if isinstance(part, LiveCard):
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
