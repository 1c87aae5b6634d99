"""What the newer transcription models add, as the practice server answers it: speakers
(``diarized_json`` of gpt-4o-transcribe-diarize, with ``known_speaker_names[]``), ``logprobs``
(``include[]=logprobs``) and ``chunking_strategy``, each refused where the real endpoint
refuses it (CreateTranscriptionRequest in OpenAI's spec).

Two speakers take turns, sentence by sentence: the known names when given, else ``A`` and
``B``. Log probabilities are made up from each word, the same every time.
"""

from __future__ import annotations

import json
from typing import Dict, List, Optional

from .wire import FormPart, RequestError, split_pieces, sse_event

DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
DIARIZE_FORMATS = ("json", "text", "diarized_json")
LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
MAX_KNOWN_SPEAKERS = 4
SINGLE_BLOCK_S = 30.0  # above this, diarization needs chunking_strategy
VAD_FIELDS = {"type", "prefix_padding_ms", "silence_duration_ms", "threshold"}


class Extras:
    """The fields of an upload that the newer models read, gathered from its parts."""

    def __init__(self, parts: List[FormPart]) -> None:
        def values(name: str) -> List[str]:
            return [p.value or "" for p in parts if p.name in (name, f"{name}[]")]

        self.include = values("include")
        self.speaker_names = values("known_speaker_names")
        self.speaker_references = values("known_speaker_references")
        self.chunking: Optional[object] = None
        vad = {p.name[len("chunking_strategy["):-1]: p.value or "" for p in parts
               if p.name.startswith("chunking_strategy[") and p.name.endswith("]")}
        plain = values("chunking_strategy")
        if plain:
            self.chunking = plain[-1]
        elif vad:
            self.chunking = vad

    @property
    def logprobs(self) -> bool:
        return "logprobs" in self.include


def check_extras(extras: Extras, fields: Dict[str, str], granularities: List[str], model: str,
                 fmt: str, seconds: float) -> None:
    """Refuse what the real endpoint refuses, one parameter at a time."""
    diarize = model == DIARIZE_MODEL
    if diarize and fmt not in DIARIZE_FORMATS:
        raise _bad("response_format", f"response_format '{fmt}' is not compatible with model "
                   f"'{model}'. Use one of: {', '.join(DIARIZE_FORMATS)}.")
    if fmt == "diarized_json" and not diarize:
        raise _bad("response_format", f"response_format 'diarized_json' needs model '{DIARIZE_MODEL}'.")
    for name, given in (("prompt", "prompt" in fields), ("timestamp_granularities", granularities),
                        ("include", extras.include)):
        if diarize and given:
            raise _bad(name, f"'{name}' is not supported with model '{model}'.")
    bad = [item for item in extras.include if item != "logprobs"]
    if bad:
        raise _bad("include", f"Invalid value for 'include': '{bad[0]}' (expected 'logprobs').")
    if extras.logprobs and (model not in LOGPROB_MODELS or fmt != "json"):
        raise _bad("include", "'logprobs' works only with response_format 'json' and models "
                   f"{', '.join(LOGPROB_MODELS)}.")
    _check_speakers(extras, diarize)
    _check_chunking(extras.chunking)
    if diarize and seconds > SINGLE_BLOCK_S and extras.chunking is None:
        raise _bad("chunking_strategy", f"chunking_strategy is required for audio longer than "
                   f"{SINGLE_BLOCK_S:g} seconds with model '{model}' (this audio lasts "
                   f"{seconds:.1f} s).")


def _check_speakers(extras: Extras, diarize: bool) -> None:
    names, references = extras.speaker_names, extras.speaker_references
    if not names and not references:
        return
    if not diarize:
        raise _bad("known_speaker_names", f"known speakers need model '{DIARIZE_MODEL}'.")
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise _bad("known_speaker_names", f"At most {MAX_KNOWN_SPEAKERS} known speakers are "
                   f"supported, got {len(names)}.")
    if len(names) != len(references):
        raise _bad("known_speaker_references", f"{len(names)} known_speaker_names but "
                   f"{len(references)} known_speaker_references: give one sample per name.")
    for reference in references:
        if not reference.startswith("data:audio/") or ";base64," not in reference:
            raise _bad("known_speaker_references", "known_speaker_references must be data URLs "
                       "(data:audio/wav;base64,...).")


def _check_chunking(chunking: Optional[object]) -> None:
    if chunking is None or chunking == "auto":
        return
    if not isinstance(chunking, dict) or chunking.get("type") != "server_vad" \
            or set(chunking) - VAD_FIELDS:
        raise _bad("chunking_strategy", "chunking_strategy must be 'auto' or a server_vad "
                   "object (type, prefix_padding_ms, silence_duration_ms, threshold).")
    try:
        threshold = float(chunking.get("threshold", "0.5"))
        for name in ("prefix_padding_ms", "silence_duration_ms"):
            int(chunking.get(name, "0"))
    except ValueError:
        raise _bad("chunking_strategy", "chunking_strategy: numbers expected.") from None
    if not 0 <= threshold <= 1:
        raise _bad("chunking_strategy", "chunking_strategy threshold must be between 0 and 1.")


def _bad(param: str, message: str) -> RequestError:
    return RequestError(400, message, param=param, code="invalid_value")


def speaker_segments(segments: List[dict], extras: Extras) -> List[dict]:
    """The timed segments as ``transcript.text.segment`` objects, two speakers taking turns."""
    names = (extras.speaker_names + ["A", "B"])[:2] if extras.speaker_names else ["A", "B"]
    if len(extras.speaker_names) == 1:
        names = [extras.speaker_names[0], "A"]
    return [{"type": "transcript.text.segment", "id": f"seg_{i + 1:03d}", "start": s["start"],
             "end": s["end"], "text": s["text"].strip(), "speaker": names[i % 2]}
            for i, s in enumerate(segments)]


def word_logprobs(text: str) -> List[dict]:
    """One ``{token, logprob, bytes}`` per word-piece, from the word itself (deterministic)."""
    return [{"token": piece, "logprob": -round(sum(piece.encode()) % 97 / 100, 2),
             "bytes": list(piece.encode())} for piece in split_pieces(text)]


def diarized_body(text: str, duration: float, segments: List[dict], usage: dict) -> bytes:
    return json.dumps({"task": "transcribe", "duration": round(duration, 2), "text": text,
                       "segments": segments, "usage": usage}, ensure_ascii=False).encode()


def diarized_events(segments: List[dict], text: str, usage: dict):
    """Deltas tagged with their segment, each segment when it is complete, then ``done``."""
    for segment in segments:
        pieces = split_pieces(segment["text"] + " ")
        for piece in pieces:
            yield sse_event({"type": "transcript.text.delta", "delta": piece,
                             "segment_id": segment["id"]}), True
        yield sse_event(segment), True
    yield sse_event({"type": "transcript.text.done", "text": text, "usage": usage}), False
