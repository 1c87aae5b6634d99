"""The one stream of a run: typed events, and the view protocol every surface declares.

A use case (a chat turn, a tool loop, a ``map``, a transcription) tells what happens through a
:class:`View`; :class:`EventSink` is the view that turns each call into an event and hands it
on. A :class:`~oai_magic.core.runs.Run` yields those events to a script, or sends each one to a
view (``event.send_to(view)``): the notebook and terminal views, the columns, the tool cards, the
transcript, the ``--map`` progress and the panel all consume the same events.

Every event kind has one method on :class:`View`, a no-op by default, so a view implements the
kinds it shows and ignores the rest; nothing is found with ``getattr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

__all__ = [
    "Begin", "Done", "Event", "EventSink", "MapBegin", "MapEnd", "MapProgressed", "Notice",
    "ReasoningDelta", "RoundEnd", "TextDelta", "ToolCallDelta", "ToolResult", "TranscriptBegin",
    "TranscriptDelta", "TranscriptDone", "TranscriptFailed", "TranscriptSegment", "Usage", "View",
]


class View:
    """Where a run is shown: one method per event kind, each a no-op unless a view shows it."""

    # --- a chat answer (and each request of a tool loop) ---------------------------------
    def begin(self, notices: List[str]) -> None:
        """A request is about to be sent; ``notices`` go above the answer."""

    def delta(self, index: int, text: str) -> None:
        """More text of choice ``index`` (0 is the first)."""

    def reasoning(self, index: int, text: str) -> None:
        """More of the model's streamed reasoning for choice ``index`` (redacted)."""

    def tool_calls(self, index: int, calls: List[Dict[str, Any]]) -> None:
        """The tool calls of choice ``index`` as they have formed so far (redacted whole)."""

    def notice(self, text: str) -> None:
        """A line for the user that arrived after ``begin`` (also kept in the result's notices)."""

    def usage(self, usage: Dict[str, Any], cost: Optional[float]) -> None:
        """What one request used, and its estimated cost in USD (None: price unknown)."""

    # --- the tool loop --------------------------------------------------------------------
    def end_round(self, result: Any) -> None:
        """A request of the tool loop ended with tool calls; they run next."""

    def tool_outcome(self, index: int, outcome: Any) -> None:
        """Tool call ``index`` of the round ran (or was refused): a ``tools.ToolOutcome``."""

    def end(self, result: Any) -> None:
        """The run is over: its result (a ChatResult; partial when stopped or cut off)."""

    # --- many prompts (map) ---------------------------------------------------------------
    def map_begin(self, total: int, notice: Optional[str] = None) -> None:
        """``total`` requests are about to be sent."""

    def map_progress(self, progress: Any, force: bool = False) -> None:
        """An item ended: ``progress`` is a ``map_run.MapProgress`` snapshot."""

    def map_end(self, progress: Any, summary: str) -> None:
        """The map ended (done, stopped or failed), with its one-line summary."""

    # --- transcription --------------------------------------------------------------------
    def transcript_begin(self, index: int, total: int, source: Any) -> None:
        """Source ``index`` of ``total`` starts being transcribed."""

    def transcript_delta(self, text: str) -> None:
        """More streamed transcript text."""

    def transcript_segment(self, segment: Any) -> None:
        """A streamed segment is complete: a ``subtitles.Segment`` with its speaker
        (``transcript.text.segment``, -f diarized_json)."""

    def transcript_end(self, result: Any) -> None:
        """One source's transcript is complete."""

    def transcript_failed(self, source: Any, error: str) -> None:
        """One source failed; the others go on."""


class Event:
    """One thing that happened in a run; ``send_to(view)`` calls the view's method for it."""

    def send_to(self, view: View) -> None:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class Begin(Event):
    notices: List[str]

    def send_to(self, view: View) -> None:
        view.begin(list(self.notices))


@dataclass(frozen=True)
class TextDelta(Event):
    choice: int
    text: str

    def send_to(self, view: View) -> None:
        view.delta(self.choice, self.text)


@dataclass(frozen=True)
class ReasoningDelta(Event):
    choice: int
    text: str

    def send_to(self, view: View) -> None:
        view.reasoning(self.choice, self.text)


@dataclass(frozen=True)
class ToolCallDelta(Event):
    choice: int
    calls: List[Dict[str, Any]]

    def send_to(self, view: View) -> None:
        view.tool_calls(self.choice, self.calls)


@dataclass(frozen=True)
class Notice(Event):
    text: str

    def send_to(self, view: View) -> None:
        view.notice(self.text)


@dataclass(frozen=True)
class Usage(Event):
    usage: Dict[str, Any]
    cost: Optional[float]

    def send_to(self, view: View) -> None:
        view.usage(self.usage, self.cost)


@dataclass(frozen=True)
class RoundEnd(Event):
    result: Any

    def send_to(self, view: View) -> None:
        view.end_round(self.result)


@dataclass(frozen=True)
class ToolResult(Event):
    index: int
    outcome: Any  # tools.ToolOutcome

    def send_to(self, view: View) -> None:
        view.tool_outcome(self.index, self.outcome)


@dataclass(frozen=True)
class Done(Event):
    result: Any

    def send_to(self, view: View) -> None:
        view.end(self.result)


@dataclass(frozen=True)
class MapBegin(Event):
    total: int
    notice: Optional[str] = None

    def send_to(self, view: View) -> None:
        view.map_begin(self.total, self.notice)


@dataclass(frozen=True)
class MapProgressed(Event):
    progress: Any
    force: bool = False

    def send_to(self, view: View) -> None:
        view.map_progress(self.progress, self.force)


@dataclass(frozen=True)
class MapEnd(Event):
    progress: Any
    summary: str

    def send_to(self, view: View) -> None:
        view.map_end(self.progress, self.summary)


@dataclass(frozen=True)
class TranscriptBegin(Event):
    index: int
    total: int
    source: Any

    def send_to(self, view: View) -> None:
        view.transcript_begin(self.index, self.total, self.source)


@dataclass(frozen=True)
class TranscriptDelta(Event):
    text: str

    def send_to(self, view: View) -> None:
        view.transcript_delta(self.text)


@dataclass(frozen=True)
class TranscriptSegment(Event):
    segment: Any  # subtitles.Segment: start, end, text, speaker

    def send_to(self, view: View) -> None:
        view.transcript_segment(self.segment)


@dataclass(frozen=True)
class TranscriptDone(Event):
    result: Any

    def send_to(self, view: View) -> None:
        view.transcript_end(self.result)


@dataclass(frozen=True)
class TranscriptFailed(Event):
    source: Any
    error: str

    def send_to(self, view: View) -> None:
        view.transcript_failed(self.source, self.error)


class EventSink(View):
    """The view a use case runs into: every call becomes an event, handed to ``emit``."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit

    def begin(self, notices: List[str]) -> None:
        self.emit(Begin(list(notices)))

    def delta(self, index: int, text: str) -> None:
        self.emit(TextDelta(index, text))

    def reasoning(self, index: int, text: str) -> None:
        self.emit(ReasoningDelta(index, text))

    def tool_calls(self, index: int, calls: List[Dict[str, Any]]) -> None:
        self.emit(ToolCallDelta(index, calls))

    def notice(self, text: str) -> None:
        self.emit(Notice(text))

    def usage(self, usage: Dict[str, Any], cost: Optional[float]) -> None:
        self.emit(Usage(usage, cost))

    def end_round(self, result: Any) -> None:
        self.emit(RoundEnd(result))

    def tool_outcome(self, index: int, outcome: Any) -> None:
        self.emit(ToolResult(index, outcome))

    def end(self, result: Any) -> None:
        self.emit(Done(result))

    def map_begin(self, total: int, notice: Optional[str] = None) -> None:
        self.emit(MapBegin(total, notice))

    def map_progress(self, progress: Any, force: bool = False) -> None:
        self.emit(MapProgressed(progress, force))

    def map_end(self, progress: Any, summary: str) -> None:
        self.emit(MapEnd(progress, summary))

    def transcript_begin(self, index: int, total: int, source: Any) -> None:
        self.emit(TranscriptBegin(index, total, source))

    def transcript_delta(self, text: str) -> None:
        self.emit(TranscriptDelta(text))

    def transcript_segment(self, segment: Any) -> None:
        self.emit(TranscriptSegment(segment))

    def transcript_end(self, result: Any) -> None:
        self.emit(TranscriptDone(result))

    def transcript_failed(self, source: Any, error: str) -> None:
        self.emit(TranscriptFailed(source, error))
