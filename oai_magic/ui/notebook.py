"""Where a chat answer is shown: a live Markdown block in a notebook, or plain text in a terminal."""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, Callable, List, Optional, TextIO

from ..core.results import ChatResult


def footer_parts(result: ChatResult) -> List[str]:
    """A "practice" badge when the practice server answered, then model, tokens, timings,
    request id and who was billed, in reading order."""
    from ..state import from_practice_server

    parts = ["practice"] if from_practice_server(result.headers) else []
    parts.append(result.model or "?")
    usage = result.usage or {}
    if usage:
        parts.append(
            f"{usage.get('prompt_tokens', '?')} prompt → "
            f"{usage.get('completion_tokens', '?')} completion tokens"
        )
        parts.extend(usage_detail_parts(usage))
        from ..core.costs import format_cost

        parts.append(format_cost(result.cost))
    elif result.choices:
        parts.append("usage not reported")  # servers that ignore stream_options.include_usage
    if not result.streamed:
        # Without streaming the first token comes with the last: one time says it all.
        if result.total_seconds is not None:
            parts.append(f"time {result.total_seconds:.2f} s")
    else:
        if result.first_token_seconds is not None:
            parts.append(f"first token {result.first_token_seconds:.2f} s")
        if result.total_seconds is not None:
            parts.append(f"total {result.total_seconds:.2f} s")
    if result.request_id:
        parts.append(result.request_id)
    parts.extend(_billing_parts(result))
    return parts


def usage_detail_parts(usage: dict) -> List[str]:
    """Cached prompt tokens and reasoning tokens, when the usage carries them (non-zero)."""
    from ..core.costs import Tokens

    tokens, parts = Tokens.of(usage), []
    if tokens.cached:
        parts.append(f"{tokens.cached} cached")
    if tokens.reasoning:
        parts.append(f"{tokens.reasoning} reasoning")
    return parts


def reasoning_html(text: str, *, live: bool = False) -> str:
    """The model's reasoning, collapsed, with its length; model output, so escaped."""
    from ..render.markdown import IGNORE_MATH, escape_html

    label = "Thinking…" if live else "Thought"
    return (f'<details class="oai-reasoning-block {IGNORE_MATH}" style="opacity:0.75">'
            f'<summary style="font-size:smaller">{label} ({len(text):,} chars)</summary>'
            f'<div style="white-space:pre-wrap;font-size:smaller">{escape_html(text)}</div>'
            "</details>")


class LiveReasoning:
    """Streamed reasoning in one region of a live surface: collapsed, with its length, drawn at
    most once per ``interval``; ``settle`` draws the last of it when the answer starts."""

    def __init__(self, surface: Any, region: str, interval: float, clock: Callable[[], float]
                 ) -> None:
        self.surface, self.region, self.interval, self.clock = surface, region, interval, clock
        self.parts: List[str] = []
        self.drawn_at: Optional[float] = None
        self.settled = False

    def append(self, text: str) -> None:
        self.parts.append(text)
        now = self.clock()
        if not self.settled and (self.drawn_at is None or now - self.drawn_at >= self.interval):
            self._draw(now)

    def settle(self) -> None:
        if self.parts and not self.settled:
            self._draw(self.clock())
        self.settled = True

    def _draw(self, now: float) -> None:
        self.drawn_at = now
        self.surface.set_html(self.region, reasoning_html("".join(self.parts), live=True))
        self.surface.flush()


def _billing_parts(result: ChatResult) -> List[str]:
    """"billed to ORG" only when the server's header says so; an asked-for org is "(requested)"."""
    billed = result.billed_organization
    project = result.headers.get("openai-project") or result.project
    if billed:
        return ["billed to " + " / ".join(p for p in (billed, project) if p)]
    parts = []
    if result.organization:
        parts.append(f"org {result.organization} (requested)")
    if result.project:
        parts.append(f"project {result.project} (requested)")
    return parts


def ignored_limit_mark(limit: int) -> str:
    return (f"⚠ cut off: the server ignored --max-tokens {limit} (the answer ran past twice that); "
            'try %config OAIMagics.max_tokens_param = "max_tokens"')


def nothing_arrived(result: ChatResult) -> bool:
    """See ``ChatResult.nothing_arrived``: no block, no footer, no mark (CONTRACTS 1)."""
    return result.nothing_arrived


def stop_line(result: ChatResult) -> str:
    """The one line an answer stopped by the user ends with (Ctrl-C, the panel's Stop)."""
    if nothing_arrived(result):
        return "■ stopped before any answer arrived"
    return f"■ stopped — kept in '{result.conversation}' as partial"


def cut_off_line(conversation: str) -> str:
    """The cell's failure line under a partial answer; the mark above it already gave the reason."""
    undo = "%chat undo" if conversation == "default" else f"%chat undo -c {conversation}"
    return f"answer cut off — kept in '{conversation}' as partial; {undo} removes it"


def one_line(text: str) -> str:
    return " ".join(text.split())


def result_mark(result: ChatResult) -> Optional[str]:
    """The mark under an answer that is not simply complete.

    A stop by the user has no mark here: a cell ends with :func:`stop_line` as its only
    line (saying it twice was the old noise), and the panel shows that line itself.
    """
    if result.interrupted or result.nothing_arrived:  # the cell's one line says it
        return None
    if result.ignored_limit is not None and not result.error:
        return ignored_limit_mark(result.ignored_limit)
    if result.error:
        return f"⚠ cut off: {one_line(result.error)}"
    if result.finish_reason == "length":
        return "⚠ cut off at the token limit (finish_reason: length)"
    if result.finish_reason == "content_filter":
        return "⚠ stopped by the content filter"
    if result.choices and result.choices[0].refusal and not result.choices[0].text:
        return "⚠ the model refused"
    return None


# ESC-introduced sequences (CSI "\x1b[...m", OSC "\x1b]52;c;...\x07" clipboard writes, and the
# rest), C1 controls, and C0 controls other than tab and newline.
_TERMINAL_CONTROL = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL/ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC ... ST
    r"|\x1b.?"  # any other escape
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str) -> str:
    """Server text as a terminal must print it: no escape or control sequences.

    Written raw, an answer could set the clipboard (OSC 52), clear the screen or recolour it.
    """
    return _TERMINAL_CONTROL.sub("", text)


def pretty_json(text: str) -> Optional[str]:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return None


class RichView:
    """What every notebook view is told: Markdown or plain, footer, JSON pretty-printing, pace."""

    def __init__(
        self,
        *,
        plain: bool = False,
        footer: bool = True,
        json_mode: bool = False,
        render_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plain, self.footer, self.json_mode = plain, footer, json_mode
        self.render_interval, self.clock = render_interval, clock


def notices_html(notices: List[str]) -> str:
    """Muted lines above an answer (history trimmed, retried, ...): text, never markup."""
    return "".join(notice_html(n) for n in notices)


def notice_html(notice: str) -> str:
    """One notice line; the sent-line (``context.SentNotice``) adds a small thumbnail per image."""
    from ..render.markdown import IGNORE_MATH, escape_html

    images = getattr(notice, "images", None) or []
    thumbnails = ""
    if images:
        from ..core.context import thumbnail_html

        thumbnails = '<div class="oai-thumbnails">' + "".join(thumbnail_html(a) for a in images) + "</div>"
    return (f'<div class="oai-notice {IGNORE_MATH}" style="font-size:smaller;opacity:0.75">'
            f"{escape_html(notice)}{thumbnails}</div>")


def all_notices(shown: List[str], result: ChatResult) -> List[str]:
    """Notices shown at the start plus those that arose later (a retry, fewer choices), once each."""
    return list(dict.fromkeys([*shown, *result.notices]))


# Where streamed reasoning goes (above the answer); empty, so invisible, until something is set.
REASONING_REGION = '<div class="oai-reasoning tex2jax_ignore mathjax_ignore"></div>'
ANSWER_REGION = '<div class="oai-answer tex2jax_ignore mathjax_ignore"></div>'


class NotebookChatView(RichView):
    """Live Markdown in one live surface (a single widget), replaced by one block at the end."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.live: Any = None
        self.surface: Any = None
        self.notices: List[str] = []
        self.thinking: Optional[LiveReasoning] = None

    def begin(self, notices: List[str]) -> None:
        from ..render.live import LiveMarkdown
        from ..render.surface import LiveSurface

        self.notices = list(notices)
        regions = [("n", "", f'<div class="oai-notices">{notices_html(notices)}</div>'),
                   ("k", "", REASONING_REGION), ("a", "", ANSWER_REGION)]
        self.surface = LiveSurface(regions)
        self.live = LiveMarkdown(
            self.surface, "a", render_interval=self.render_interval, clock=self.clock, plain=self.plain
        )
        self.thinking = LiveReasoning(self.surface, "k", self.render_interval, self.clock)

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            self.thinking.settle()  # its last words, before the answer starts
            self.live.append(text)

    def reasoning(self, index: int, text: str) -> None:
        """Reasoning streams into region "k", above the answer."""
        if index == 0:
            self.thinking.append(text)

    def end(self, result: ChatResult) -> None:
        from ..render.markdown import render_footer

        # CONTRACTS 1: nothing arrived (an error or a stop before the first token): no block
        # and no footer; the widget goes, leaving only notices, and the cell's one line says it.
        if nothing_arrived(result):
            self.live.finish()
            notices = all_notices(self.notices, result)
            self.surface.withdraw(notices_html(notices) if notices else "", "\n".join(notices))
            return
        footer_html = render_footer(footer_parts(result)) if self.footer else ""
        final_text = None
        if self.json_mode and not result.partial:
            pretty = pretty_json(result.text)
            if pretty is not None:
                final_text = f"```json\n{pretty}\n```"
        html, text = self.live.finish(
            footer_html=footer_html,
            footer_text=" · ".join(footer_parts(result)) if self.footer else "",
            mark=result_mark(result),
            text=final_text,
        )
        if result.reasoning:
            html = reasoning_html(result.reasoning) + html
            text = f"[Thought: {len(result.reasoning):,} chars]\n\n" + text
        notices = all_notices(self.notices, result)
        if notices:
            html = notices_html(notices) + html
            text = "\n".join(notices) + "\n\n" + text
        self.surface.finish(html, text)


DIM, UNDIM = "\x1b[2m", "\x1b[22m"


class DimReasoning:
    """A terminal's streamed reasoning: dim text (ANSI faint) before the answer, as it arrives."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.open = out, False

    def append(self, text: str) -> None:
        if not self.open:
            self.open = True
            self.out.write(DIM + "Thinking… ")
        self.out.write(text)
        self.out.flush()

    def close(self) -> None:
        """Back to normal text, a blank line before what follows."""
        if self.open:
            self.open = False
            self.out.write(UNDIM + "\n\n")


class TerminalChatView:
    """Plain tokens as they arrive, for terminal IPython (no rich frontend)."""

    def __init__(self, *, footer: bool = True, stream: Optional[TextIO] = None) -> None:
        self.footer = footer
        self.out = stream or sys.stdout
        self.thinking = DimReasoning(self.out)

    def begin(self, notices: List[str]) -> None:
        self.notices, self.notices_shown = notices, len(notices)
        for notice in notices:
            self.out.write(f"[{terminal_safe(notice)}]\n")

    def reasoning(self, index: int, text: str) -> None:
        if index == 0:
            self.thinking.append(text)

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            self.thinking.close()
            self.out.write(terminal_safe(text))
            self.out.flush()

    def end(self, result: ChatResult) -> None:
        self.thinking.close()
        if nothing_arrived(result):  # CONTRACTS 1: the cell's one line is all (no footer)
            return
        self.out.write("\n")
        # Notices learned once the answer was under way (a repeated request, fewer choices).
        for notice in getattr(self, "notices", [])[getattr(self, "notices_shown", 0):]:
            self.out.write(f"[{notice}]\n")
        write_terminal_closing(self.out, result, result_mark(result), footer=self.footer)


def write_terminal_closing(out: TextIO, result: ChatResult, mark: Optional[str], *, footer: bool) -> None:
    """The lines under a terminal answer: its mark, then the footer."""
    if mark:
        out.write(f"[{terminal_safe(mark)}]\n")
    if footer:
        out.write("— " + terminal_safe(" · ".join(footer_parts(result))) + "\n")
    out.flush()
