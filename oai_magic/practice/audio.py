"""Practice answers for /v1/audio: multipart parsing, audio length, honest fake transcripts.

The transcript only describes the file (name, size, type, length): the practice server cannot
hear, and says so in the text itself.
"""

from __future__ import annotations

import json
import math
import re
from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote

from ..audio_header import read_audio_header
from .diarize import (
    DIARIZE_MODEL,
    Extras,
    check_extras,
    diarized_body,
    diarized_events,
    speaker_segments,
    word_logprobs,
)
from .wire import (
    MAX_AUDIO_BYTES,
    MODELS,
    STREAMING_TRANSCRIBE_MODELS,
    TRANSCRIBE_MODELS,
    FormPart,
    Reply,
    RequestError,
    split_pieces,
    sse_event,
)

FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:\\.|[^"\\])*"|[^;]*)')
_LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
              "nl": "dutch", "pt": "portuguese", "ja": "japanese", "zh": "chinese"}
_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "mpga": "audio/mpeg", "mpeg": "audio/mpeg",
          "m4a": "audio/mp4", "mp4": "audio/mp4", "ogg": "audio/ogg", "oga": "audio/ogg",
          "opus": "audio/ogg", "flac": "audio/flac", "webm": "audio/webm"}
_KBPS = {"mp3": 32, "mpga": 32, "mpeg": 32, "ogg": 48, "oga": 48, "opus": 32, "webm": 96,
         "flac": 160}  # rough guesses for length estimates; anything else: 64 kbps


def header_params(value: str) -> Tuple[str, Dict[str, str]]:
    """``'form-data; name="file"; filename="a.wav"'`` -> ``("form-data", {...})``."""
    main, _, _ = value.partition(";")
    params: Dict[str, str] = {}
    for key, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        key = key.lower()
        if key.endswith("*"):  # RFC 5987: utf-8''percent-encoded
            charset, _, encoded = raw.partition("''")
            key, raw = key[:-1], unquote(encoded, encoding=charset or "utf-8", errors="replace")
        params[key] = raw
    return main.strip().lower(), params


def parse_multipart(body: bytes, content_type: str) -> List[FormPart]:
    """Parse multipart/form-data byte-exactly: a part's data is everything up to CRLF--boundary."""
    kind, params = header_params(content_type)
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise RequestError(400, f"Invalid Content-Type header ({content_type or 'none'}), expected "
                           "multipart/form-data with a boundary.")
    data, delimiter = b"\r\n" + body, b"\r\n--" + boundary.encode("latin-1")
    pos = _find_delimiter(data, delimiter, 0)
    parts: List[FormPart] = []
    while pos >= 0:
        pos += len(delimiter)
        if data[pos:pos + 2] == b"--":
            return parts
        line_end = data.find(b"\r\n", pos)
        head_end = data.find(b"\r\n\r\n", line_end) if line_end >= 0 else -1
        end = _find_delimiter(data, delimiter, head_end + 4) if head_end >= 0 else -1
        if end < 0:
            break
        headers = {}
        for line in data[line_end + 2:head_end].decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        _, disposition = header_params(headers.get("content-disposition", ""))
        filename = disposition.get("filename")
        chunk = data[head_end + 4:end]
        parts.append(FormPart(disposition.get("name", ""),
                              None if filename is not None else chunk.decode("utf-8", "replace"),
                              filename, headers.get("content-type"), chunk))
        pos = end
    raise RequestError(400, "The multipart/form-data body is malformed or truncated.")


def _find_delimiter(data: bytes, delimiter: bytes, start: int) -> int:
    """Next CRLF--boundary that really ends a part: followed by "--" or by optional blanks + CRLF."""
    pos = data.find(delimiter, start)
    while pos >= 0:
        rest = data[pos + len(delimiter):pos + len(delimiter) + 256]
        if rest[:2] == b"--" or rest.lstrip(b" \t")[:2] == b"\r\n":
            return pos
        pos = data.find(delimiter, pos + 1)
    return -1


def audio_seconds(data: bytes, filename: str) -> Tuple[float, bool]:
    """(duration, exact?): read from WAV and FLAC headers, otherwise estimated from the size."""
    header = read_audio_header(data)
    if header is not None:
        return header.seconds, True
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return len(data) * 8 / (_KBPS.get(ext, 64) * 1000), False


def _fields(parts: List[FormPart]) -> Tuple[Dict[str, str], List[str], Optional[FormPart]]:
    fields: Dict[str, str] = {}
    granularities: List[str] = []
    upload = None
    for part in parts:
        if part.name == "file":
            upload = part
        elif part.name in ("timestamp_granularities[]", "timestamp_granularities"):
            granularities.append(part.value or "")
        else:
            fields[part.name] = part.value if part.value is not None else ""
    return fields, granularities, upload


def _check(fields: Dict[str, str], upload: Optional[FormPart], task: str) -> Tuple[str, str, float]:
    """Refuse what the real endpoint refuses; return (model, response_format, temperature)."""
    if upload is None:
        raise RequestError(400, "Missing required parameter: 'file'.", param="file",
                           code="missing_required_parameter")
    model = fields.get("model", "")
    if not model:
        raise RequestError(400, "Missing required parameter: 'model'.", param="model",
                           code="missing_required_parameter")
    allowed = TRANSCRIBE_MODELS if task == "transcribe" else ("whisper-1",)
    if model not in allowed:
        code = "model_not_found" if model not in MODELS else "invalid_value"
        noun = "transcriptions" if task == "transcribe" else "translations"
        raise RequestError(400, f"Model '{model}' cannot be used for audio {noun} here; "
                           f"use one of: {', '.join(allowed)}.", param="model", code=code)
    if not upload.data:
        raise RequestError(400, "The audio file is empty.", param="file", code="invalid_value")
    if len(upload.data) > MAX_AUDIO_BYTES:
        raise RequestError(413, f"Maximum content size limit ({MAX_AUDIO_BYTES}) exceeded.",
                           param="file", code="file_too_large")
    fmt = fields.get("response_format") or "json"
    if fmt not in FORMATS:
        raise RequestError(400, f"Invalid value for 'response_format': expected one of "
                           f"{', '.join(FORMATS)}, got '{fmt}'.", param="response_format",
                           code="invalid_value")
    if model in STREAMING_TRANSCRIBE_MODELS and model != DIARIZE_MODEL and fmt not in ("json", "text"):
        raise RequestError(400, f"response_format '{fmt}' is not compatible with model '{model}'. "
                           "Use 'json' or 'text' instead.", param="response_format",
                           code="unsupported_value")
    try:
        temperature = float(fields.get("temperature") or 0)
    except ValueError:
        temperature = -1.0
    if not 0 <= temperature <= 1:
        raise RequestError(400, "Invalid 'temperature': expected a number between 0 and 1.",
                           param="temperature", code="invalid_value")
    if _is_true(fields.get("stream")) and (task != "transcribe"
                                           or model not in STREAMING_TRANSCRIBE_MODELS):
        raise RequestError(400, f"Streaming is not supported for model '{model}' on this "
                           "endpoint; use gpt-4o-transcribe or gpt-4o-mini-transcribe.",
                           param="stream", code="unsupported_value")
    return model, fmt, temperature


def _is_true(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _segments(text: str, duration: float, temperature: float) -> List[dict]:
    """2-4 segments covering [0, duration], timed by their share of the characters."""
    sentences = re.split(r"(?<=\.)\s+", text.strip())
    while len(sentences) > 4:
        sentences[-2:] = [sentences[-2] + " " + sentences[-1]]
    if len(sentences) < 2:
        words = text.split()
        sentences = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2:])]
    total, start, segments = sum(len(s) for s in sentences), 0.0, []
    for i, sentence in enumerate(sentences):
        end = duration if i == len(sentences) - 1 else start + duration * len(sentence) / total
        tokens = [50364] + [sum(w.encode()) * 7 % 50000 for w in sentence.split()] + [50364 + i]
        segments.append({"id": i, "seek": 0, "start": round(start, 2), "end": round(end, 2),
                         "text": " " + sentence, "tokens": tokens, "temperature": temperature,
                         "avg_logprob": -0.25, "compression_ratio": 1.2, "no_speech_prob": 0.01})
        start = end
    return segments


def _words(segments: List[dict]) -> List[dict]:
    words = []
    for seg in segments:
        items = seg["text"].split()
        span, weight = seg["end"] - seg["start"], sum(len(w) for w in items)
        at = seg["start"]
        for item in items:
            end = at + span * len(item) / weight
            words.append({"word": item.strip(".,:") or item, "start": round(at, 2),
                          "end": round(end, 2)})
            at = end
    return words


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def subtitles(segments: List[dict], vtt: bool) -> str:
    """SubRip (numbered, comma millis) or WebVTT (header, dot millis) cues, one per segment."""
    cues = []
    for seg in segments:
        sep = "." if vtt else ","
        timing = f"{_clock(seg['start'], sep)} --> {_clock(seg['end'], sep)}"
        cues.append(f"{timing}\n{seg['text'].strip()}" if vtt
                    else f"{seg['id'] + 1}\n{timing}\n{seg['text'].strip()}")
    return ("WEBVTT\n\n" if vtt else "") + "\n\n".join(cues) + "\n\n"


def audio_reply(parts: List[FormPart], task: str) -> Reply:
    """Answer /v1/audio/transcriptions (task "transcribe") or /translations ("translate")."""
    fields, granularities, upload = _fields(parts)
    model, fmt, temperature = _check(fields, upload, task)
    assert upload is not None
    name = upload.filename or "audio"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ctype = upload.content_type
    if not ctype or ctype == "application/octet-stream":
        ctype = _TYPES.get(ext, "audio of unknown type")
    duration, exact = audio_seconds(upload.data, name)
    extras = Extras(parts)
    check_extras(extras, fields, granularities, model, fmt, duration)
    label, noun = ("transcript", "transcription") if task == "transcribe" else (
        "translation", "translation")
    header = read_audio_header(upload.data)
    if header is not None:  # the length, rate and channels are read, not guessed
        heard = f"I heard {header.describe()} ({len(upload.data):,} bytes of {ctype})"
    else:
        heard = (f"{len(upload.data):,} bytes of {ctype}, about {duration:.1f} s"
                 f"{'' if exact else ' (estimated from the size)'}")
    text = f"[practice {label}] {name}: {heard}. This is not a real {noun}."
    if fields.get("language") and task == "transcribe":
        text += f" Language hint: {fields['language']}."
    if fields.get("prompt"):
        text += f" Prompt: {' '.join(fields['prompt'].split())}"
    language = _LANGUAGES.get(fields.get("language", "en")[:2].lower(), "english")
    if task == "translate":
        language = "english"
    words = len(text.split())
    tokens_usage = {"type": "tokens", "input_tokens": math.ceil(duration * 10) + 10,
                    "input_token_details": {"text_tokens": 10,
                                            "audio_tokens": math.ceil(duration * 10)},
                    "output_tokens": words, "total_tokens": math.ceil(duration * 10) + 10 + words}
    logprobs = {"logprobs": word_logprobs(text)} if extras.logprobs else {}
    if fmt == "diarized_json":
        said = speaker_segments(_segments(text, duration, temperature), extras)
        text = " ".join(segment["text"] for segment in said)
        if _is_true(fields.get("stream")):
            return Reply(content_type="text/event-stream; charset=utf-8",
                         events=diarized_events(said, text, tokens_usage))
        return Reply(body=diarized_body(text, duration, said, tokens_usage))
    if _is_true(fields.get("stream")):
        events = [(sse_event({"type": "transcript.text.delta", "delta": piece,
                              **({"logprobs": word_logprobs(piece)} if logprobs else {})}), True)
                  for piece in split_pieces(text)]
        events.append((sse_event({"type": "transcript.text.done", "text": text,
                                  "usage": tokens_usage, **logprobs}), False))
        return Reply(content_type="text/event-stream; charset=utf-8", events=iter(events))
    if fmt == "text":
        return Reply(content_type="text/plain; charset=utf-8", body=(text + "\n").encode())
    segments = _segments(text, duration, temperature)
    if fmt in ("srt", "vtt"):
        return Reply(content_type="text/plain; charset=utf-8",
                     body=subtitles(segments, fmt == "vtt").encode())
    seconds_usage = {"type": "duration", "seconds": math.ceil(duration)}
    if fmt == "json":
        usage = seconds_usage if model == "whisper-1" else tokens_usage
        return Reply(body=json.dumps({"text": text, **logprobs, "usage": usage},
                                     ensure_ascii=False).encode())
    verbose = {"task": task, "language": language, "duration": round(duration, 2), "text": text,
               "segments": segments}
    if "word" in granularities:
        verbose["words"] = _words(segments)
    verbose["usage"] = seconds_usage
    return Reply(body=json.dumps(verbose, ensure_ascii=False).encode())
