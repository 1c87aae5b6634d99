"""Where a chat answer is shown: a live Markdown block in a notebook, or plain text in a terminal."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any, Callable, List, Optional, TextIO

from .chat import ChatResult


def footer_parts(result: ChatResult) -> List[str]:
    """Model, tokens, timings, request id and who was billed, in reading order."""
    parts = [result.model or "?"]
    usage = result.usage or {}
    if usage:
        parts.append(
            f"{usage.get('prompt_tokens', '?')} prompt → "
            f"{usage.get('completion_tokens', '?')} completion tokens"
        )
    if result.first_token_seconds is not None:
        parts.append(f"first token {result.first_token_seconds:.2f} s")
    if result.total_seconds is not None:
        parts.append(f"total {result.total_seconds:.2f} s")
    if result.request_id:
        parts.append(result.request_id)
    billed = " / ".join(p for p in (result.billed_organization, result.project) if p)
    if billed:
        parts.append(f"billed to {billed}")
    return parts


def result_mark(result: ChatResult) -> Optional[str]:
    if result.interrupted:
        if not result.text and not any(c.tool_calls for c in result.choices):
            return "■ stopped before any answer arrived"
        return "⏹ interrupted: partial answer kept"
    if result.error:
        return f"⚠ incomplete: {result.error}"
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


class NotebookChatView(RichView):
    """Live Markdown through display handles, at bounded cost (see live.py)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.live: Any = None
        self._lock = threading.Lock()  # the stall timer draws from its own thread
        self._timer: Optional[threading.Timer] = None
        self._ended = False

    def begin(self, notices: List[str]) -> None:
        from .live import DisplaySurface, LiveMarkdown
        from .render import escape_html

        prefix_html = "".join(
            f'<div class="oai-notice" style="font-size:smaller;opacity:0.75">{escape_html(n)}</div>'
            for n in notices
        )
        surface = DisplaySurface(prefix_html=prefix_html, prefix_text="\n".join(notices))
        self.live = LiveMarkdown(
            surface, render_interval=self.render_interval, clock=self.clock, plain=self.plain
        )

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            with self._lock:
                self.live.append(text)
                if not self.live.caught_up:
                    self._stall_timer(self.render_interval)

    def _stall_timer(self, delay: float) -> None:
        """Draw the last tokens if no more arrive soon: coalescing must not hide them in a pause."""
        if self._timer is None:
            self._timer = threading.Timer(delay, self._catch_up, args=(delay,))
            self._timer.daemon = True
            self._timer.start()

    def _catch_up(self, delay: float) -> None:
        with self._lock:
            self._timer = None
            if self._ended or self.live.catch_up():
                return
            self._stall_timer(min(2 * delay, 1.0))

    def end(self, result: ChatResult) -> None:
        from .render import render_footer

        with self._lock:
            self._ended = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        footer_html = render_footer(footer_parts(result)) if self.footer else ""
        final_text = None
        if self.json_mode and not result.partial:
            pretty = pretty_json(result.text)
            if pretty is not None:
                final_text = f"```json\n{pretty}\n```"
        self.live.finish(
            footer_html=footer_html,
            footer_text=" · ".join(footer_parts(result)) if self.footer else "",
            mark=result_mark(result),
            text=final_text,
        )


class TerminalChatView:
    """Plain tokens as they arrive, for terminal IPython (no rich frontend)."""

    def __init__(self, *, footer: bool = True, stream: Optional[TextIO] = None) -> None:
        self.footer = footer
        self.out = stream or sys.stdout

    def begin(self, notices: List[str]) -> None:
        for notice in notices:
            self.out.write(f"[{terminal_safe(notice)}]\n")

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            self.out.write(terminal_safe(text))
            self.out.flush()

    def end(self, result: ChatResult) -> None:
        self.out.write("\n")
        write_terminal_closing(self.out, result, result_mark(result), footer=self.footer)


def write_terminal_closing(out: TextIO, result: ChatResult, mark: Optional[str], *, footer: bool) -> None:
    """The lines under a terminal answer: its mark, then the footer."""
    if mark:
        out.write(f"[{terminal_safe(mark)}]\n")
    if footer:
        out.write("— " + terminal_safe(" · ".join(footer_parts(result))) + "\n")
    out.flush()
