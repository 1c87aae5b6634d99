"""The transcription use case: checked options + audio sources → multipart upload → transcript.

Options are checked against what ``createTranscription`` / ``createTranslation`` accept before
anything is sent, so a bad combination costs no upload. Several sources run one after another; a
failure is reported at the end and never loses the transcripts already made. A transcript can be
appended to a chat conversation as a user message, for the next ``%%chat -c NAME`` to use.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..api.limits import checked_usage, finite_amount
from ..errors import APIError, InputError, NotFoundError, OAIError
from ..plain_text import terminal_safe
from ..state import KernelState, Message, StreamRedactor
from .audio_sources import AudioSource
from .events import View
from .subtitles import Segment, Word, parse_cues

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("word", "segment")
TRANSLATION_MODEL = "whisper-1"


@dataclass
class TranscribeOptions:
    """What one ``%transcribe`` asks for; ``model=None`` means the configured default."""

    model: Optional[str] = None
    language: Optional[str] = None
    prompt: Optional[str] = None
    temperature: Optional[float] = None
    response_format: str = "json"
    timestamps: List[str] = field(default_factory=list)
    translate: bool = False
    stream: bool = False
    conversation: Optional[str] = None
    organization: Optional[str] = None
    project: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)  # --param NAME=VALUE, sent as given


def _streams(model: str) -> bool:
    """gpt-4o(-mini)-transcribe and their kin stream; whisper-1 ignores ``stream``."""
    return "whisper" not in model.lower()


def _text_formats_only(model: str) -> bool:
    return model.startswith("gpt-") and "transcribe" in model


def _known_not_to_translate(model: str) -> bool:
    """OpenAI's translations endpoint takes only whisper-1; its gpt-4o transcribe models are
    refused there. Other servers name their Whisper models freely (whisper-base,
    Systran/faster-whisper-small), so any other name is left for the server to decide."""
    return _text_formats_only(model)


def checked_options(options: TranscribeOptions, default_model: str) -> TranscribeOptions:
    """The options with the model resolved, or an InputError naming the first bad combination."""
    model = options.model or default_model
    if options.translate and not options.model and _known_not_to_translate(model):
        model = TRANSLATION_MODEL
    fmt = options.response_format
    if fmt not in FORMATS:
        raise InputError(f"-f must be one of {', '.join(FORMATS)}, got {fmt!r}")
    bad = [g for g in options.timestamps if g not in GRANULARITIES]
    if bad:
        raise InputError(f"--timestamps takes word or segment, got {bad[0]!r}")
    if options.translate:
        if _known_not_to_translate(model):
            raise InputError(
                f"--translate does not work with {model} (OpenAI translates only with "
                f"{TRANSLATION_MODEL}): add -m {TRANSLATION_MODEL}, or the name of your "
                "server's Whisper model"
            )
        for flag, given in (("--stream", options.stream), ("-l/--language", options.language),
                            ("--timestamps", options.timestamps)):
            if given:
                raise InputError(f"--translate cannot be combined with {flag}: translations always "
                                 "come back whole, in English, without word timestamps")
    if options.stream and not _streams(model):
        raise InputError(f"--stream needs gpt-4o-transcribe or gpt-4o-mini-transcribe: {model} "
                         "does not stream (add -m gpt-4o-mini-transcribe)")
    if options.stream and fmt not in ("json", "text"):
        raise InputError(f"--stream sends text as it comes: use -f json or -f text, not {fmt}")
    if _text_formats_only(model) and fmt not in ("json", "text"):
        raise InputError(f"{model} answers only json or text; -f {fmt} and --timestamps need "
                         "-m whisper-1")
    if options.timestamps and fmt != "verbose_json":
        raise InputError(f"--timestamps needs -f verbose_json (the format is {fmt})")
    if options.language is not None and not re.fullmatch(r"[A-Za-z]{2}", options.language):
        raise InputError(f"-l takes a two-letter ISO-639-1 code such as en or de, "
                         f"got {options.language!r}")
    if options.temperature is not None and not 0 <= options.temperature <= 1:
        raise InputError(f"-t must be between 0 and 1, got {options.temperature:g}")
    return replace(options, model=model, timestamps=list(dict.fromkeys(options.timestamps)),
                   language=options.language.lower() if options.language else None)


def endpoint(options: TranscribeOptions) -> str:
    return "/audio/translations" if options.translate else "/audio/transcriptions"


def form_fields(options: TranscribeOptions) -> List[Tuple[str, str]]:
    """The text parts of the upload: booleans as true/false, lists as repeated ``name[]``."""
    fields = [("model", options.model or TRANSLATION_MODEL),
              ("response_format", options.response_format)]
    if options.language:
        fields.append(("language", options.language))
    if options.prompt is not None:
        fields.append(("prompt", options.prompt))
    if options.temperature is not None:
        fields.append(("temperature", f"{options.temperature:g}"))
    fields.extend(("timestamp_granularities[]", g) for g in options.timestamps)
    if options.stream:
        fields.append(("stream", "true"))
    return _with_extra_fields(fields, options.extra)


def _with_extra_fields(fields: List[Tuple[str, str]], extra: Dict[str, Any]) -> List[Tuple[str, str]]:
    """``--param`` as form parts: strings as typed, a list as repeated ``name[]`` parts (as
    the list options are sent), anything else as its JSON text. A field the magic set is
    replaced."""
    for name, value in extra.items():
        fields = [(k, v) for k, v in fields if k not in (name, f"{name}[]")]
        if isinstance(value, list):
            fields.extend((f"{name}[]", item if isinstance(item, str) else json.dumps(item))
                          for item in value)
        else:
            fields.append((name, value if isinstance(value, str) else json.dumps(value)))
    return fields


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
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
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
        result.segments = [
            Segment(_seconds(s.get("start")), _seconds(s.get("end")), str(s.get("text", "")).strip())
            for s in _objects(data.get("segments"))
        ]
        result.words = [
            Word(str(w.get("word", "")), _seconds(w.get("start")), _seconds(w.get("end")))
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


def _objects(value: Any) -> List[Dict[str, Any]]:
    """The objects of a list the server sent; anything else (``segments: 5``) counts as none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _seconds(value: Any) -> float:
    """A timestamp the server sent, or 0 when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    try:
        number = float(value)
    except OverflowError:  # an int of hundreds of digits
        return 0.0
    return number if math.isfinite(number) else 0.0


def transcribe_one(
    client: Any,
    source: AudioSource,
    options: TranscribeOptions,
    on_delta: Callable[[str], None] = lambda text: None,
) -> TranscriptResult:
    """Upload one source; stream deltas to ``on_delta`` when ``options.stream``."""
    result = TranscriptResult(
        text="", source=source.label, filename=source.filename, model=options.model or "",
        task="translate" if options.translate else "transcribe",
        response_format=options.response_format,
    )
    files = [("file", (source.filename, source.read(), source.content_type))]
    target = {"organization": options.organization, "project": options.project}
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
        return result
    stream = client.stream(endpoint(options), data=form_fields(options), files=files, **target)
    result.headers = stream.headers
    pieces: List[str] = []
    redactor = StreamRedactor(client.settings.resolved_key() if hasattr(client, "settings") else None)
    with stream:
        try:
            _read_stream(stream, result, pieces, on_delta, redactor)
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
    return result


def _missing_endpoint(client: Any, options: TranscribeOptions) -> str:
    """A 404 names the endpoint it came from: speech servers often have transcriptions only."""
    settings = getattr(client, "settings", None)
    where = f" at {settings.resolved_base_url()}" if settings is not None else ""
    need = ", which --translate needs" if options.translate else ""
    return f" — the server{where} has no {endpoint(options)} endpoint{need}"


def _read_stream(stream: Any, result: TranscriptResult, pieces: List[str],
                 on_delta: Callable[[str], None], redactor: StreamRedactor) -> None:
    """Deltas until ``transcript.text.done`` or the end of the stream."""
    for event in stream:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "transcript.text.delta":
            delta = redactor.feed(str(event.get("delta") or ""))
            if delta:
                pieces.append(delta)
                on_delta(delta)
        elif kind == "transcript.text.done" or (kind is None and "text" in event):
            # ``done`` carries the whole text; a server that ignored ``stream`` sends only that.
            if not pieces:
                on_delta(str(event.get("text") or ""))
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
            result = transcribe_one(client, source, options, view.transcript_delta)
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

    record_exchange(state, name, Message("user", f"{what} of {result.filename}:\n\n{result.text}"), [])
