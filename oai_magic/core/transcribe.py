"""The transcription use case: checked options + audio sources → multipart upload → transcript.

Several sources run one after another; a failure is reported at the end and never loses the
transcripts already made. A transcript can be appended to a chat conversation as a user
message, for the next ``%%chat -c NAME`` to use. The options live in
``transcription_options``, the result and its parsing in ``transcription_result``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import APIError, InputError, NotFoundError, OAIError
from ..state import KernelState, Message, StreamRedactor
from .audio_sources import AudioSource
from .events import View
from .subtitles import Segment
from .transcription_options import (  # noqa: F401 (names callers import from here)
    FORMATS,
    GRANULARITIES,
    TRANSLATION_MODEL,
    TranscribeOptions,
    checked_options,
    endpoint,
    form_fields,
)
from .transcription_result import (  # noqa: F401
    TranscriptResult,
    logprobs_of,
    parse_response,
    segment_of,
)


def transcribe_one(
    client: Any,
    source: AudioSource,
    options: TranscribeOptions,
    on_delta: Callable[[str], None] = lambda text: None,
    on_segment: Callable[[Segment], None] = lambda segment: None,
) -> TranscriptResult:
    """Upload one source; stream deltas to ``on_delta`` and each finished speaker segment
    (``transcript.text.segment``, -f diarized_json) to ``on_segment`` when ``options.stream``."""
    result = TranscriptResult(
        text="", source=source.label, filename=source.filename, model=options.model or "",
        task="translate" if options.translate else "transcribe",
        response_format=options.response_format,
    )
    files = [("file", (source.filename, source.read(), source.content_type))]
    target = {"organization": options.organization, "project": options.project}
    key = client.settings.resolved_key() if hasattr(client, "settings") else None
    if not options.stream:
        try:
            response = client.post(endpoint(options), data=form_fields(options), files=files, **target)
        except NotFoundError as exc:
            exc.message += _missing_endpoint(client, options)
            raise
        result.headers = response.headers
        parse_response(result, response.data, response.text)
        if "word" in options.timestamps and not result.words:
            result.notices.append("No word timestamps came back: this server may not support "
                                  "--timestamps word.")
        return _checked_extras(result, options, key)
    stream = client.stream(endpoint(options), data=form_fields(options), files=files, **target)
    result.headers = stream.headers
    pieces: List[str] = []
    redactor = StreamRedactor(key)
    streamed = StreamedParts(on_delta, on_segment)
    with stream:
        try:
            _read_stream(stream, result, pieces, streamed, redactor)
        except APIError as exc:
            if exc.request_id is None:
                exc.request_id = stream.request_id
            if not pieces:
                raise
            result.error = str(exc)
        finally:
            rest = redactor.flush()
            if rest:
                pieces.append(rest)
                on_delta(rest)
    if not result.text:
        result.text = "".join(pieces).strip()
    if streamed.segments and not result.segments:
        result.segments = streamed.segments
    if streamed.logprobs and result.logprobs is None:
        result.logprobs = streamed.logprobs
    return _checked_extras(result, options, key)


def _checked_extras(result: TranscriptResult, options: TranscribeOptions,
                    key: Optional[str]) -> TranscriptResult:
    """Logprobs redacted as joined text (a key may span tokens); a notice when what was asked
    for did not come back."""
    if result.logprobs:
        from .results import redacted_logprobs

        result.logprobs = redacted_logprobs(result.logprobs, key)
    if options.logprobs and not result.logprobs:
        result.notices.append("No logprobs came back: this server may not support --logprobs.")
    if options.response_format == "diarized_json" \
            and not any(segment.speaker for segment in result.segments):
        result.notices.append("No speakers came back: this server may not support diarization.")
    return result


@dataclass
class StreamedParts:
    """What a stream told as it went: deltas and segments handed on, segments and logprobs kept."""

    on_delta: Callable[[str], None]
    on_segment: Callable[[Segment], None]
    segments: List[Segment] = field(default_factory=list)
    logprobs: List[Dict[str, Any]] = field(default_factory=list)


def _missing_endpoint(client: Any, options: TranscribeOptions) -> str:
    """A 404 names the endpoint it came from: speech servers often have transcriptions only."""
    settings = getattr(client, "settings", None)
    where = f" at {settings.resolved_base_url()}" if settings is not None else ""
    need = ", which --translate needs" if options.translate else ""
    return f" — the server{where} has no {endpoint(options)} endpoint{need}"


def _read_stream(stream: Any, result: TranscriptResult, pieces: List[str], streamed: StreamedParts,
                 redactor: StreamRedactor) -> None:
    """Deltas (and segments) until ``transcript.text.done`` or the end of the stream."""
    for event in stream:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "transcript.text.delta":
            delta = redactor.feed(str(event.get("delta") or ""))
            streamed.logprobs.extend(logprobs_of(event.get("logprobs")))
            if delta:
                pieces.append(delta)
                streamed.on_delta(delta)
        elif kind == "transcript.text.segment":
            segment = segment_of(event)
            streamed.segments.append(segment)
            streamed.on_segment(segment)
        elif kind == "transcript.text.done" or (kind is None and isinstance(event, dict)
                                                and "text" in event):
            # ``done`` carries the whole text; a server that ignored ``stream`` sends only that.
            if not pieces:
                streamed.on_delta(str(event.get("text") or ""))
            parse_response(result, event, "")
            return


@dataclass
class Batch:
    """The transcripts made, and the sources that failed with why (label, one-line reason)."""

    results: List[TranscriptResult] = field(default_factory=list)
    failures: List[Tuple[str, str]] = field(default_factory=list)
    total: int = 0
    interrupted: bool = False

    def problem(self) -> Optional[str]:
        """One line naming every failure, or None when all went well."""
        if self.interrupted:
            return f"Interrupted after {len(self.results)} of {self.total} transcripts."
        if not self.failures:
            return None
        listed = "; ".join(f"{label}: {reason}" for label, reason in self.failures)
        if self.total == 1:
            return listed
        return f"{len(self.failures)} of {self.total} failed — {listed}"


def transcribe_all(
    state: KernelState,
    client: Any,
    sources: List[AudioSource],
    options: TranscribeOptions,
    view: View,
) -> Batch:
    """Run the sources one after another; with one source an error is raised, not collected."""
    from .costs import budget_of, budget_refusal, ledger_of, warm_prices

    warm_prices()  # the price data loads while the audio is sent
    if state.budget_usd is not None or state.budget_tokens is not None:
        refusal = budget_refusal(ledger_of(state), budget_of(state), options.model, state.prices)
        if refusal:
            raise InputError(refusal)
    batch = Batch(total=len(sources))
    no_key = None
    settings = getattr(client, "settings", state.settings)  # audio_base_url's, when set
    base_url = settings.resolved_base_url()
    if not settings.resolved_key() and not settings.key_required() \
            and state.first_time("no key", base_url):
        no_key = f"No API key is set: requests to {base_url} are sent without one."
    for index, source in enumerate(sources, 1):
        view.transcript_begin(index, len(sources), source)
        try:
            result = transcribe_one(client, source, options, view.transcript_delta,
                                    view.transcript_segment)
        except KeyboardInterrupt:
            batch.interrupted = True
            break
        except OAIError as exc:
            if len(sources) == 1:
                raise
            batch.failures.append((source.label, str(exc)))
            view.transcript_failed(source, str(exc))
            continue
        state.remember_headers(result.headers)
        account_transcription(state, result, options.conversation)
        if no_key:
            result.notices.insert(0, no_key)
            no_key = None
        batch.results.append(result)
        view.transcript_end(result)
        if result.error:
            batch.failures.append((source.label, f"{result.error} (the partial transcript is kept)"))
        elif options.conversation:
            record_in_conversation(state, options.conversation, result)
    return batch


def account_transcription(state: KernelState, result: TranscriptResult,
                          conversation: Optional[str] = None) -> None:
    """The transcription's estimated cost, added to the session's totals (``%oai usage``)."""
    from .costs import estimate_cost, ledger_of, transcription_usage

    result.cost = estimate_cost(result.usage, result.model, state.prices, seconds=result.duration)
    ledger = ledger_of(state)
    ledger.record(transcription_usage(result.usage), result.model,
                  conversation or "(transcriptions)", result.cost)
    result.price_source = ledger.price_source_once(result.cost, state.prices)


def record_in_conversation(state: KernelState, name: str, result: TranscriptResult) -> None:
    """Append the transcript as a user message, so the next ``%%chat -c NAME`` sees it."""
    what = "English translation" if result.task == "translate" else "Transcript"
    from .turn import record_exchange

    text = result.text
    if any(segment.speaker for segment in result.segments):  # who said what, for the model
        text = "\n".join(f"{segment.speaker or '?'}: {segment.text}" for segment in result.segments)
    record_exchange(state, name, Message("user", f"{what} of {result.filename}:\n\n{text}"), [])
