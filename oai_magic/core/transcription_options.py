"""What a transcription asks for: the options of ``%transcribe`` / ``Session.transcribe``,
checked against what ``createTranscription`` / ``createTranslation`` accept before anything is
sent (so a bad combination costs no upload), and the form fields of the upload."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InputError

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
