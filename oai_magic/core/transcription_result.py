"""What a transcription returns: the ``TranscriptResult`` that ``-o VAR`` stores, filled from
a JSON body (json, verbose_json), a text one (text, srt, vtt) or a stream's ``done`` event.
Everything in it came from a server: numbers are checked, non-lists count as empty."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..api.limits import checked_usage, finite_amount
from ..plain_text import shortened, terminal_safe
from .subtitles import Segment, Word, parse_cues, seconds_of

MAX_SPEAKER_CHARS = 80  # a label longer than this is cut with "…"


@dataclass
class TranscriptResult:
    """What ``-o VAR`` stores: the text, timed segments and words, and how it was made."""

    text: str
    source: str
    filename: str
    model: str
    task: str = "transcribe"
    response_format: str = "json"
    segments: List[Segment] = field(default_factory=list)
    words: List[Word] = field(default_factory=list)
    language: Optional[str] = None
    duration: Optional[float] = None
    usage: Optional[Dict[str, Any]] = None
    raw: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    error: Optional[str] = None
    notices: List[str] = field(default_factory=list)
    cost: Optional[float] = None  # estimated USD (costs.py); None when the price is unknown
    price_source: Optional[str] = None  # issue 29: said by the session's first priced footer
    served_model: Optional[str] = None  # the model the server says answered, when it says
    # issue 28: include[]=logprobs, as {token, logprob, top_logprobs} (CONTRACTS 8)
    logprobs: Optional[List[Dict[str, Any]]] = None

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get("x-request-id")

    @property
    def partial(self) -> bool:
        """An error cut the transcript short (what arrived is kept)."""
        return self.error is not None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = shortened(self.text, 60)
        return terminal_safe(f"<TranscriptResult {self.filename} model={self.model!r} "
                             f"segments={len(self.segments)} request_id={self.request_id!r} "
                             f"text={preview!r}>")


def parse_response(result: TranscriptResult, data: Any, text: str) -> None:
    """Fill ``result`` from a JSON body (json, verbose_json) or a text one (text, srt, vtt)."""
    if isinstance(data, dict):
        result.raw = data
        result.text = str(data.get("text") or "").strip()
        result.language = data.get("language")
        served = data.get("model")
        result.served_model = served if isinstance(served, str) and served else None
        duration = data.get("duration")
        result.duration = float(duration) if finite_amount(duration) else None
        result.usage, notice = checked_usage(data.get("usage"))
        if notice:
            result.notices.append(notice)
        result.language = result.language if isinstance(result.language, str) else None
        result.segments = [segment_of(s) for s in _objects(data.get("segments"))]
        if "logprobs" in data:
            result.logprobs = logprobs_of(data.get("logprobs"))
        result.words = [
            Word(str(w.get("word", "")), seconds_of(w.get("start")), seconds_of(w.get("end")))
            for w in _objects(data.get("words"))
        ]
        return
    result.raw = text
    if result.response_format in ("srt", "vtt"):
        result.segments = parse_cues(text)
        result.text = " ".join(" ".join(s.text.split()) for s in result.segments)
        if result.segments:
            result.duration = result.segments[-1].end
    else:
        result.text = text.strip()


def segment_of(data: Dict[str, Any]) -> Segment:
    """A segment the server sent (verbose_json, diarized_json, a ``transcript.text.segment``
    event): its times, text and speaker, whatever their types."""
    return Segment(seconds_of(data.get("start")), seconds_of(data.get("end")),
                   _text(data.get("text")), _speaker(data.get("speaker")))


def _text(value: Any) -> str:
    """A segment's words: text, or a number written as text; null or an object is no words
    (shown empty, never as ``None`` or a dict)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return value.strip() if isinstance(value, str) else repr(value)


def _speaker(value: Any) -> Optional[str]:
    """A speaker's label, one line of at most ``MAX_SPEAKER_CHARS`` (labels are short names:
    ``A``, ``agent``); anything but text or a number is no label."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    label = " ".join(str(value).split()) if isinstance(value, str) else str(value)[:MAX_SPEAKER_CHARS]
    if len(label) > MAX_SPEAKER_CHARS:
        label = label[:MAX_SPEAKER_CHARS - 1] + "…"
    return label or None


def logprobs_of(value: Any) -> List[Dict[str, Any]]:
    """The tokens of a ``logprobs`` list as ``{token, logprob, top_logprobs}``; entries that
    are not a text token with a finite log probability are left out."""
    from ..api.accumulator import token_logprob

    tokens = (token_logprob(item) for item in value) if isinstance(value, list) else ()
    return [token for token in tokens if token is not None and math.isfinite(token["logprob"])]


def _objects(value: Any) -> List[Dict[str, Any]]:
    """The objects of a list the server sent; anything else (``segments: 5``) counts as none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
