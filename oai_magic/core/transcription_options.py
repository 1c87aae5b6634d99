"""What a transcription asks for: the options of ``%transcribe`` / ``Session.transcribe``,
checked against what ``createTranscription`` / ``createTranslation`` accept before anything is
sent (so a bad combination costs no upload), and the form fields of the upload."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InputError

FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
GRANULARITIES = ("word", "segment")
TRANSLATION_MODEL = "whisper-1"
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
DIARIZE_FORMATS = ("json", "text", "diarized_json")  # the spec's AudioResponseFormat
LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")  # and their dated versions


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
    # issue 28: what the newer models take (transcription_inputs checks and reads them)
    speakers: List[Any] = field(default_factory=list)  # transcription_inputs.KnownSpeaker
    logprobs: bool = False
    chunking: Any = None  # "auto", a server_vad dict, or None (one block)


def _streams(model: str) -> bool:
    """gpt-4o(-mini)-transcribe and their kin stream; whisper-1 ignores ``stream``."""
    return "whisper" not in model.lower()


def _text_formats_only(model: str) -> bool:
    return model.startswith("gpt-") and "transcribe" in model


def diarizes(model: str) -> bool:
    return "diarize" in model


def _known_not_to_diarize(model: str) -> bool:
    """OpenAI's own models that return no speakers; another server's names are its to judge."""
    return model == TRANSLATION_MODEL or (_text_formats_only(model) and not diarizes(model))


def _known_without_logprobs(model: str) -> bool:
    """whisper-1 and the diarizing model return no logprobs (the spec's ``include``)."""
    return model == TRANSLATION_MODEL or (_text_formats_only(model)
                                          and not model.startswith(LOGPROB_MODELS))


def _known_not_to_translate(model: str) -> bool:
    """OpenAI's translations endpoint takes only whisper-1; its gpt-4o transcribe models are
    refused there. Other servers name their Whisper models freely (whisper-base,
    Systran/faster-whisper-small), so any other name is left for the server to decide."""
    return _text_formats_only(model)


def checked_options(options: TranscribeOptions, default_model: str) -> TranscribeOptions:
    """The options with the model resolved, or an InputError naming the first bad combination."""
    model = options.model or default_model
    fmt = options.response_format
    if options.translate and not options.model and _known_not_to_translate(model):
        model = TRANSLATION_MODEL
    wants_speakers = fmt == "diarized_json" or bool(options.speakers)
    if wants_speakers and not options.translate and not options.model \
            and _known_not_to_diarize(model):
        model = DIARIZE_MODEL
    if fmt not in FORMATS:
        raise InputError(f"-f must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_newer_options(options, model, fmt)
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
    if options.stream and fmt not in DIARIZE_FORMATS:
        raise InputError(f"--stream sends text as it comes: use -f json, text or diarized_json, "
                         f"not {fmt}")
    if _text_formats_only(model) and not diarizes(model) and fmt not in ("json", "text"):
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


def check_newer_options(options: TranscribeOptions, model: str, fmt: str) -> None:
    """The spec's rules for speakers, logprobs and chunking (CreateTranscriptionRequest)."""
    if options.translate:
        for flag, given in (("-f diarized_json", fmt == "diarized_json"),
                            ("--speaker", options.speakers), ("--logprobs", options.logprobs),
                            ("--chunking", options.chunking is not None)):
            if given:
                raise InputError(f"--translate cannot be combined with {flag}: the translations "
                                 "endpoint returns no speakers or logprobs and takes no chunking")
    if diarizes(model):
        if fmt not in DIARIZE_FORMATS:
            raise InputError(f"{model} answers json, text or diarized_json, not -f {fmt} "
                             "(diarized_json gives each segment its speaker and times)")
        for flag, given, why in (
                ("-p/--prompt", options.prompt is not None, "leave it out"),
                ("--timestamps", options.timestamps, "-f diarized_json times every segment"),
                ("--logprobs", options.logprobs, "use -m gpt-4o-transcribe for logprobs")):
            if given:
                raise InputError(f"{flag} is not supported by {model} (OpenAI's spec): {why}")
    if fmt == "diarized_json" and _known_not_to_diarize(model):
        raise InputError(f"-f diarized_json needs -m {DIARIZE_MODEL}: {model} returns no speakers")
    if options.speakers and _known_not_to_diarize(model):
        raise InputError(f"--speaker needs -m {DIARIZE_MODEL}: {model} returns no speakers")
    if options.speakers and fmt != "diarized_json":
        raise InputError(f"--speaker names the speakers of -f diarized_json: add -f diarized_json "
                         f"(the format is {fmt})")
    if options.logprobs and _known_without_logprobs(model):
        raise InputError(f"--logprobs needs gpt-4o-transcribe or gpt-4o-mini-transcribe: {model} "
                         "returns none (add -m gpt-4o-mini-transcribe)")
    if options.logprobs and fmt != "json":
        raise InputError(f"--logprobs needs -f json (logprobs come back only with json; the "
                         f"format is {fmt})")


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
    if options.logprobs:
        fields.append(("include[]", "logprobs"))
    if isinstance(options.chunking, dict):  # an object goes as bracketed parts, as openai-python sends it
        fields.extend((f"chunking_strategy[{name}]", value if isinstance(value, str)
                       else json.dumps(value)) for name, value in options.chunking.items())
    elif options.chunking is not None:
        fields.append(("chunking_strategy", str(options.chunking)))
    fields.extend(("known_speaker_names[]", speaker.name) for speaker in options.speakers)
    fields.extend(("known_speaker_references[]", speaker.data_url) for speaker in options.speakers)
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
