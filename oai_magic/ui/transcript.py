"""How transcripts look: an audio player, then the text (Markdown) or a table of timed segments.

Every output is a MIME bundle with ``text/plain`` and ``text/html``, so a terminal prints the text
and a notebook shows HTML. Transcripts are model output: always escaped, never run.

Players: audio up to ``EMBED_LIMIT_BYTES`` (1 MiB) is embedded as base64 so the notebook replays it
anywhere; bigger files are linked by their path relative to the working directory (the notebook's
folder in Jupyter) so a saved notebook does not grow by megabytes, and files elsewhere get no player.
"""

from __future__ import annotations

import html
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, TextIO
from urllib.parse import quote

from IPython.display import Audio, display

from ..core.audio_sources import AudioSource, human_size
from ..core.events import View
from ..core.subtitles import Segment, clock
from ..core.transcription_result import TranscriptResult
from ..errors import OAIError
from ..render.chrome import (
    answer_html,
    cut_off_mark,
    footer_html,
    footer_text,
    mark_html,
    notice_line,
    notices_html,
    terminal_safe,
    transcript_footer_parts,
)
from ..render.frames import FRAME_S
from ..render.markdown import IGNORE_MATH, render_markdown
from ..render.table import Table

EMBED_LIMIT_BYTES = 1024 * 1024


def player_bundle(
    source: AudioSource, embed_limit: int = EMBED_LIMIT_BYTES, cwd: Optional[str] = None
) -> Dict[str, str]:
    """An ``IPython.display.Audio`` player as HTML, with a one-line text form for terminals."""
    text = f"♪ {source.label} ({human_size(source.size)}, {source.content_type})"
    audio = None
    if source.size <= embed_limit:
        try:
            audio = Audio(data=source.read())
        except OAIError:
            audio = None
    elif source.path:
        relative = os.path.relpath(os.path.abspath(source.path), cwd or os.getcwd())
        if not relative.startswith(os.pardir):
            audio = Audio(url=quote(relative.replace(os.sep, "/")), embed=False)
    if audio is None:
        note = f"{text}: no player (over {human_size(embed_limit)} and not under the working folder)"
        return {"text/plain": note, "text/html": f"<div class='oai-player'>{html.escape(note)}</div>"}
    audio.mimetype = source.content_type  # Audio(data=...) would always say audio/wav
    return {"text/plain": text, "text/html": audio._repr_html_()}


def timing_table(result: TranscriptResult) -> Optional[Table]:
    """Segments (srt, vtt, verbose_json) or, failing those, words, as start / end / text rows."""
    if result.segments and any(s.speaker for s in result.segments):  # -f diarized_json
        rows = [(clock(s.start), clock(s.end), s.speaker or "", " ".join(s.text.split()))
                for s in result.segments]
        return Table(["start", "end", "speaker", "text"], rows)
    if result.segments:
        rows = [(clock(s.start), clock(s.end), " ".join(s.text.split())) for s in result.segments]
    elif result.words:
        rows = [(clock(w.start), clock(w.end), w.word) for w in result.words]
    else:
        return None
    return Table(["start", "end", "text"], rows)


def segment_line(segment: Segment) -> str:
    """``00:05.20  agent: text``: a streamed segment as one line (server text, unescaped)."""
    who = f"{segment.speaker}: " if segment.speaker else ""
    return f"{clock(segment.start)}  {who}{' '.join(segment.text.split())}"


def segment_html(segment: Segment) -> str:
    """A streamed segment as a row under the player: time, speaker in bold, text, escaped."""
    who = f"<b>{html.escape(segment.speaker)}</b>: " if segment.speaker else ""
    return (f"<div class='oai-segment'><span style='opacity:0.7'>{clock(segment.start)}</span> "
            f"{who}{html.escape(' '.join(segment.text.split()))}</div>")


class TranscriptView:
    """One transcript as a notebook shows it (HTML) and as a terminal prints it (text).

    Text goes through the chat renderer (Markdown with raw HTML off, math left alone).
    """

    def __init__(self, result: TranscriptResult, *, body: bool = True) -> None:
        self.result = result
        self.body = body

    def _mark(self) -> Optional[str]:
        return cut_off_mark(self.result.error) if self.result.error else None

    def __repr__(self) -> str:
        lines = [notice_line(notice) for notice in self.result.notices]
        if self.body:
            table = timing_table(self.result)
            lines.append(repr(table) if table is not None else self.result.text)
        if self._mark():
            lines.append(notice_line(self._mark()))
        lines.append(footer_text(transcript_footer_parts(self.result)))
        return terminal_safe("\n".join(lines))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        table = timing_table(self.result)
        body = table._repr_html_() if table is not None else render_markdown(self.result.text)
        return (notices_html(self.result.notices) + answer_html(body, self._mark())
                + footer_html(transcript_footer_parts(self.result)))

    def closing_html(self) -> str:
        """What goes under a transcript already shown: its mark and footer."""
        return mark_html(self._mark()) + footer_html(transcript_footer_parts(self.result))


class TranscribeDisplay(View):
    """Shows a run of ``%transcribe``: progress, players, streamed deltas, finished transcripts.

    In a notebook the whole run lives in ONE live surface (so 30 files never meet JupyterLab's
    50-output limit) and ends as one static block; in a terminal, lines are printed as they come.
    A streamed ``-f diarized_json`` (``diarized``) shows each segment with its speaker when it
    is complete, instead of the deltas: the same words, said by someone.
    """

    def __init__(
        self,
        *,
        rich: bool,
        streaming: bool = False,
        render_interval: float = FRAME_S,
        clock: Callable[[], float] = time.monotonic,
        out: Optional[TextIO] = None,
        embed_limit: int = EMBED_LIMIT_BYTES,
        diarized: bool = False,
        handle: Any = None,
    ) -> None:
        self.handle = handle  # an output shown already (under a recorder): the run draws there
        self.rich, self.streaming, self.diarized = rich, streaming, diarized
        self._segments_shown = 0
        self.render_interval, self.clock = render_interval, clock
        self.out = out or sys.stdout
        self.embed_limit = embed_limit
        self.surface: Any = None
        self.live: Any = None
        self.parts: List[tuple] = []  # (html, text) of each finished file, in order
        self._player: Dict[str, str] = {}
        self._index = 0
        self._streamed = False

    def transcript_begin(self, index: int, total: int, source: AudioSource) -> None:
        self._index, self._player = index, player_bundle(source, self.embed_limit)
        self._streamed = False
        self._segments_shown = 0
        if not self.rich:
            if total > 1:
                self.out.write(f"{index}/{total} {source.label}\n")
                self.out.flush()
            display(self._player, raw=True)
            return
        from ..render.live import LiveMarkdown
        from ..render.surface import LiveSurface

        if self.surface is None:
            self.surface = LiveSurface(
                [("p", "", '<div style="font-size:smaller;opacity:0.7"></div>'), ("f", "", "<div></div>")],
                placeholder="transcribing…", display_now=self.handle is None,
            )
            if self.handle is not None:  # drawn by its display id: works from any thread
                self.surface.flush()
                self.surface.handle = self.handle
                self.handle.update(self.surface.bundle(), raw=True)
        if total > 1:
            self.surface.set_html("p", html.escape(f"{index}/{total} {source.label}"))
        self.surface.add_region(f"x{index}", "<div></div>", parent="f")
        self.surface.append_block(f"x{index}", self._player["text/html"])
        self.surface.add_region(f"t{index}", f'<div class="{IGNORE_MATH}"></div>', parent="f")
        self.surface.flush()
        self.live = None
        if self.streaming and not self.diarized:
            self.live = LiveMarkdown(self.surface, f"t{index}", render_interval=self.render_interval,
                                     clock=self.clock, plain=True)

    def transcript_delta(self, text: str) -> None:
        if self.diarized:  # shown with its speaker when its segment is complete
            return
        self._streamed = True
        if not self.rich:
            self.out.write(terminal_safe(text))  # server text: no control sequences reach a terminal
            self.out.flush()
        elif self.live is not None:
            self.live.append(text)

    def transcript_segment(self, segment: Segment) -> None:
        self._segments_shown += 1
        if not self.rich:
            self.out.write(terminal_safe(segment_line(segment)) + "\n")
            self.out.flush()
        elif self.surface is not None:
            self.surface.append_block(f"t{self._index}", segment_html(segment))
            self.surface.flush()

    def transcript_end(self, result: TranscriptResult) -> None:
        if not self.rich:
            if self.streaming and self.diarized:
                display(TranscriptView(result, body=not self._segments_shown))
            elif self.streaming:
                self.out.write("\n")
                display(TranscriptView(result, body=False))
            else:
                display(TranscriptView(result))
            return
        view = TranscriptView(result)
        if not self._close_streamed(view):
            if self.live is not None:
                self.live.finish()
            self.surface.set_html(f"t{self._index}", view._repr_html_())
            self.surface.flush()
        self.parts.append((self._player["text/html"] + view._repr_html_(),
                           f"{self._player['text/plain']}\n{view!r}"))

    def _close_streamed(self, view: TranscriptView) -> bool:
        """A streamed transcript is on the page already: draw its last pieces, then only its
        mark and footer, instead of sending it all again (the run's final block renders it)."""
        live, result = self.live, view.result
        if live is None or result.notices or timing_table(result) is not None:
            return False
        if result.text != live.text:  # the finished text is not what streamed: show it whole
            return False
        live.refresh()
        live.finish()
        region = f"t{self._index}"
        self.surface.seal(region)
        self.surface.append_block(region, view.closing_html())
        self.surface.flush()
        return True

    def transcript_failed(self, source: AudioSource, error: str) -> None:
        if self.streaming and not self.rich and self._streamed:
            self.out.write("\n")
        line = f"✗ {source.label}: {error}"
        if self.rich and self.surface is not None:
            if self.live is not None:
                self.live.finish()
            note = mark_html(line)
            self.surface.set_html(f"t{self._index}", note)
            self.surface.flush()
            self.parts.append((self._player.get("text/html", "") + note, line))
        self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        """The run is over: the live surface becomes one static block (players, transcripts)."""
        if self.surface is not None:
            self.surface.finish("".join(h for h, _ in self.parts) or "<div></div>",
                                "\n\n".join(t for _, t in self.parts))
            self.surface = None
