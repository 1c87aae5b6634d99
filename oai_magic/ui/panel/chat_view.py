"""The panel's chat view and what it draws: the answer streaming through the same live surface
as ``%%chat`` (in the request thread), recorded messages as cards, the status and error lines.

Everything shown is escaped HTML: user text and model output go through the same Markdown
renderer as ``%%chat`` (raw HTML off).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import ipywidgets as widgets

from ...core.events import View
from ...core.results import ChatResult
from ...render.attachments import parts_html
from ...render.chrome import (
    ANSWER_REGION,
    PARTIAL_MARK,
    answer_html,
    footer_html,
    footer_parts,
    notice_html,
    rate_limits_left,
    result_mark,
    stop_line,
)
from ...render.live import LiveMarkdown
from ...render.markdown import IGNORE_MATH, escape_html, render_markdown
from ...render.reasoning import REASONING_REGION, LiveReasoning, reasoning_html
from ...render.sources import sources_html
from ...state import Message, content_text, redact

_USER_STYLE = (
    "background:rgba(127,127,127,0.10);border-radius:6px;padding:0.1em 0.7em;margin:0.4em 0 0.2em 0"
)
_LABEL_STYLE = "font-size:smaller;opacity:0.6;margin:0.3em 0 0 0"


class PanelChatView(View):
    """The view of one panel answer; its methods run in the request thread."""

    def __init__(
        self,
        turn: Any,
        *,
        render_interval: float,
        on_first_token: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.turn = turn
        self.render_interval = render_interval
        self.on_first_token = on_first_token
        self.clock = clock
        self.live: Optional[LiveMarkdown] = None
        self.surface: Any = None
        self._started = False
        self.thinking: Any = None
        self.answer_widget: Any = None  # the finished answer that replaced the live surface

    def begin(self, notices: List[str]) -> None:
        for notice in notices:  # the sent-line carries its thumbnails
            self.turn.children = (*self.turn.children, widgets.HTML(notice_html(notice)))
        self.turn.children = (*self.turn.children, label_html("Assistant"))
        self._open_answer()

    def _open_answer(self) -> None:
        """The same live surface as %%chat, as a child of the turn instead of a cell output."""
        from ...render.surface import LiveSurface

        self.surface = LiveSurface([("k", "", REASONING_REGION), ("a", "", ANSWER_REGION)],
                                   display_now=False, on_finish=self._swap)
        self.turn.children = (*self.turn.children, self.surface.widget)
        self.live = LiveMarkdown(self.surface, "a", render_interval=self.render_interval, clock=self.clock)
        self.thinking = LiveReasoning(self.surface, "k", self.render_interval, self.clock)

    def _swap(self, html: str, text: str) -> None:
        """The finished answer replaces the live widget: an HTMLMath kept in widget state."""
        final = self.answer_widget = widgets.HTMLMath(styled(html))
        self.turn.children = tuple(final if c is self.surface.widget else c for c in self.turn.children)

    def reasoning(self, index: int, text: str) -> None:
        """Streamed reasoning, collapsed above the answer."""
        if index == 0 and self.thinking is not None:
            self.thinking.append(text)

    def delta(self, index: int, text: str) -> None:
        if index != 0 or self.live is None:
            return
        if self.thinking is not None:
            self.thinking.settle()
        self.live.append(text)
        if not self._started and text:
            self._started = True
            self.on_first_token()

    def end(self, result: ChatResult) -> None:
        if self.live is not None:
            html, text = self.live.finish(
                footer_html=sources_html(result.citations) + footer_html(footer_parts(result)),
                # No cell to end with the stop line (CONTRACTS 1), so the panel shows it as the mark.
                mark=stop_line(result) if result.interrupted else result_mark(result),
            )
            if result.reasoning:
                html = reasoning_html(result.reasoning) + html
            self.surface.finish(html, text)


def styled(html: str) -> str:
    """Answer HTML with JupyterLab's rendered-Markdown styling (tables, code), as in a cell."""
    return f'<div class="jp-RenderedHTMLCommon jp-RenderedHTML">{html}</div>'


def label_html(label: str) -> Any:
    return widgets.HTML(f'<div style="{_LABEL_STYLE}">{escape_html(label)}</div>')


def user_html(text: str) -> str:
    """A user message: Markdown like the answers (raw HTML shown as text), on a grey card."""
    return f'<div class="oai-user" style="{_USER_STYLE}">{styled(answer_html(render_markdown(text)))}</div>'


def parts_card(content: List[Dict[str, Any]]) -> str:
    """A user message with context: the prompt, the context collapsed, images as thumbnails."""
    return f'<div class="oai-user" style="{_USER_STYLE}">{parts_html(content)}</div>'


def message_widgets(message: Message) -> List[Any]:
    """A recorded message as widgets: a label and its rendered content."""
    if message.role == "user" and isinstance(message.content, list):  # context: our chrome
        return [label_html("You"), widgets.HTML(parts_card(message.content))]
    if message.role == "user":
        return [label_html("You"), widgets.HTML(user_html(message.content or ""))]
    text = content_text(message.content)
    if message.tool_calls:
        calls = ", ".join(str(c.get("function", {}).get("name", "?")) for c in message.tool_calls)
        text = (text + "\n\n" if text else "") + f"*tool calls:* `{calls}`"
    mark = PARTIAL_MARK if message.partial else None
    label = "Assistant" if message.role == "assistant" else message.role.capitalize()
    return [label_html(label), widgets.HTMLMath(styled(answer_html(render_markdown(text), mark)))]


def status_parts(result: ChatResult) -> List[str]:
    """The status line after an answer: only what its footer does not show (the rate limits
    left); tokens, cost, latency and the request id are in the answer's one footer."""
    limits = rate_limits_left(result.headers)
    return [limits] if limits else []


def status_html(parts: List[str], *, key: Optional[str] = None) -> str:
    line = " · ".join(redact(p, key) for p in parts if p)
    style = "font-size:smaller;opacity:0.7"
    return f'<div class="oai-status {IGNORE_MATH}" style="{style}">{escape_html(line)}</div>'


def banner_html(message: str, *, key: Optional[str] = None) -> str:
    return (
        f'<div class="oai-error {IGNORE_MATH}" style="background:rgba(220,50,47,0.12);'
        f'border-left:4px solid #dc322f;padding:0.3em 0.6em">⚠ {escape_html(redact(message, key))}</div>'
    )


def note_html(message: str, *, key: Optional[str] = None) -> str:
    return (
        f'<span class="{IGNORE_MATH}" style="font-size:smaller;opacity:0.7">'
        f"{escape_html(redact(message, key))}</span>"
    )


