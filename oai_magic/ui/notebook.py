"""Where a chat answer is shown: a live Markdown block in a notebook, or plain text in a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, List, Optional, TextIO

from ..core.events import View
from ..core.results import ChatResult
from ..render.chrome import (
    ANSWER_REGION,
    all_notices,
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
from ..render.frames import FRAME_S
from ..render.reasoning import (
    REASONING_REGION,
    DimReasoning,
    LiveReasoning,
    reasoning_html,
    reasoning_text,
)
from ..render.sources import sources_html, sources_text


class RichView(View):
    """What every notebook view is told: Markdown or plain, footer, JSON pretty-printing, pace."""

    def __init__(
        self,
        *,
        plain: bool = False,
        footer: bool = True,
        json_mode: bool = False,
        render_interval: float = FRAME_S,
        clock: Callable[[], float] = time.monotonic,
        confidence: bool = False,
    ) -> None:
        self.plain, self.footer, self.json_mode = plain, footer, json_mode
        self.render_interval, self.clock = render_interval, clock
        self.confidence = confidence

    def confidence_body(self, result: ChatResult) -> Optional[str]:
        """With ``--confidence``, the answer's body as tokens tinted by probability (else None:
        the Markdown as always)."""
        if not self.confidence or not result.logprobs:
            return None
        from ..render.confidence import confidence_html

        return confidence_html(result.logprobs)


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
        # CONTRACTS 1: nothing arrived (an error or a stop before the first token): no block,
        # no footer and no notices (a sent-line would say something went); the widget goes, and
        # the cell's one line says it all.
        if result.nothing_arrived:
            self.live.finish()
            self.surface.withdraw(*warnings_block(all_notices(self.notices, result)))
            return
        parts = footer_parts(result)
        sources = sources_text(result.citations)  # shown with or without the footer
        html, text = self.live.finish(
            footer_html=sources_html(result.citations) + (footer_html(parts) if self.footer else ""),
            footer_text="\n".join(p for p in (sources, footer_text(parts) if self.footer else "") if p),
            mark=result_mark(result),
            text=json_final_text(result.text, json_mode=self.json_mode, partial=result.partial),
            body_html=self.confidence_body(result),
        )
        if result.reasoning:
            html = reasoning_html(result.reasoning) + html
            text = reasoning_text(result.reasoning) + "\n\n" + text
        notices = all_notices(self.notices, result)
        if notices:
            html = notices_html(notices) + html
            text = "\n".join(notices) + "\n\n" + text
        from ..core.durable import provenance

        self.surface.finish(html, text, metadata=provenance(result))


class TerminalChatView(View):
    """Plain tokens as they arrive, for terminal IPython (no rich frontend)."""

    def __init__(self, *, footer: bool = True, stream: Optional[TextIO] = None) -> None:
        self.footer = footer
        self.out = stream or sys.stdout
        self.thinking = DimReasoning(self.out)
        self.notices: List[str] = []
        self.notices_shown = 0
        self.answering = False

    def begin(self, notices: List[str]) -> None:
        """Notices wait for the first piece of the answer: printed lines cannot be taken back,
        and an error before any answer is one line and nothing else (CONTRACTS 1)."""
        self.notices, self.notices_shown, self.answering = list(notices), 0, False

    def notice(self, text: str) -> None:
        """Shown before the answer while none has arrived, else after it, never inside it."""
        self.notices.append(text)

    def show_notices(self) -> None:
        """The notices not printed yet, each on its own line."""
        for notice in self.notices[self.notices_shown:]:
            self.out.write(notice_line(notice) + "\n")
        self.notices_shown = len(self.notices)

    def _answer_starts(self) -> None:
        if not self.answering:
            self.answering = True
            self.show_notices()

    def reasoning(self, index: int, text: str) -> None:
        if index == 0:
            self._answer_starts()
            self.thinking.append(text)

    def delta(self, index: int, text: str) -> None:
        if index == 0:
            self._answer_starts()
            self.thinking.close()
            self.out.write(terminal_safe(text))
            self.out.flush()

    def end(self, result: ChatResult) -> None:
        self.thinking.close()
        if result.nothing_arrived:  # CONTRACTS 1: the cell's one line is all, but for warnings
            for notice in warnings_only(self.notices[self.notices_shown:]):
                self.out.write(notice_line(notice) + "\n")
            return
        self.out.write("\n")
        self.show_notices()  # those learned once the answer was under way (a repeated request)
        write_terminal_closing(self.out, footer_parts(result), result_mark(result), footer=self.footer,
                               sources=sources_text(result.citations))
