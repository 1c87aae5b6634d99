"""The inputs the newer transcription models take, read and checked before anything is sent:
known speakers' samples (``--speaker NAME=FILE``, sent as data URLs), ``--chunking`` (``auto`` or
a ``server_vad`` object) and the length rule of diarization (OpenAI's CreateTranscriptionRequest).

A WAV or FLAC header gives a recording's exact length, so the spec's rules on length (a sample
lasts 2 to 10 s; diarizing more than 30 s needs ``chunking_strategy``) are checked for those
files. mp3, m4a, ogg and webm would need a decoder to be timed: they are sent, and the server's
refusal, if any, is shown as one line.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any, List, Optional

from ..audio_header import read_audio_header
from ..errors import InputError
from .audio_sources import AudioSource, from_bytes, human_size, resolve_sources

SAMPLE_SECONDS = (2.0, 10.0)  # a known speaker's sample, per the spec
SINGLE_BLOCK_S = 30.0  # diarizing more than this needs chunking_strategy
VAD_INTEGERS = ("prefix_padding_ms", "silence_duration_ms")
CHUNKING_EXAMPLE = '{"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500}'


@dataclass(frozen=True)
class KnownSpeaker:
    """A name and a short sample of its voice, ready to send."""

    name: str
    filename: str
    data_url: str

    def __repr__(self) -> str:  # the data URL is megabytes of base64: never printed whole
        return f"KnownSpeaker({self.name!r}, {self.filename!r}, {len(self.data_url):,} chars)"


def known_speakers(given: Any, max_count: int, max_bytes: int) -> List[KnownSpeaker]:
    """``["agent=agent.wav", ...]`` (or ``{"agent": path_or_bytes}``) as checked samples."""
    if isinstance(given, dict):
        pairs = list(given.items())
    else:
        pairs = [_name_and_file(entry) for entry in given or []]
    if len(pairs) > max_count:
        raise InputError(f"at most {max_count} --speaker samples (OpenAI takes 4; "
                         f"OAIMagics.transcribe_max_speakers), got {len(pairs)}")
    speakers: List[KnownSpeaker] = []
    for name, where in pairs:
        if not isinstance(name, str) or not name.strip():
            raise InputError("--speaker takes NAME=FILE with a name before the '=', such as "
                             "agent=agent.wav")
        name = name.strip()
        if any(speaker.name == name for speaker in speakers):
            raise InputError(f"--speaker {name} is given twice: one sample per name")
        source = _sample_source(name, where)
        if source.size > max_bytes:
            raise InputError(f"--speaker {name}: {source.label} is {human_size(source.size)}, over "
                             f"{human_size(max_bytes)} for a speaker's sample "
                             "(OAIMagics.transcribe_max_speaker_bytes); 2 to 10 s of speech is enough")
        data = source.read()
        header = read_audio_header(data)
        low, high = SAMPLE_SECONDS
        if header is not None and not low <= header.seconds <= high:
            raise InputError(f"--speaker {name}: {source.label} lasts {header.seconds:.1f} s; a "
                             f"speaker's sample must last {low:g} to {high:g} s (OpenAI's spec)")
        url = f"data:{source.content_type};base64,{base64.b64encode(data).decode('ascii')}"
        speakers.append(KnownSpeaker(name, source.filename, url))
    return speakers


def _name_and_file(entry: Any) -> tuple:
    if not isinstance(entry, str) or "=" not in entry:
        raise InputError(f"--speaker takes NAME=FILE, such as agent=agent.wav, got {entry!r:.80}")
    name, _, where = entry.partition("=")
    return name, where


def _sample_source(name: str, where: Any) -> AudioSource:
    if isinstance(where, (bytes, bytearray, memoryview)):
        return from_bytes(f"--speaker {name}", bytes(where))
    if not isinstance(where, str) or not where.strip():
        raise InputError(f"--speaker {name}= needs the file of a sample of {name}'s voice")
    return resolve_sources([where.strip()], {})[0]


def chunking_strategy(value: Any) -> Any:
    """``auto`` or a ``server_vad`` object (JSON text or a dict), as the spec's VadConfig."""
    if value is None or value == "auto":
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError(f"--chunking takes auto or a JSON object such as {CHUNKING_EXAMPLE}, "
                             f"got {value!r:.80}") from None
    if not isinstance(value, dict) or value.get("type") != "server_vad":
        raise InputError(f"--chunking takes auto or a server_vad object such as {CHUNKING_EXAMPLE}")
    unknown = sorted(set(value) - {"type", "threshold", *VAD_INTEGERS})
    if unknown:
        raise InputError(f"--chunking: unknown field {unknown[0]!r} (server_vad takes threshold, "
                         f"prefix_padding_ms and silence_duration_ms)")
    for name in VAD_INTEGERS:
        number = value.get(name, 0)
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 60_000:
            raise InputError(f"--chunking: {name} must be a whole number of milliseconds "
                             f"(0 to 60000), got {number!r:.40}")
    threshold = value.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not (math.isfinite(threshold) and 0 <= threshold <= 1):
        raise InputError(f"--chunking: threshold must be between 0 and 1, got {threshold!r:.40}")
    return dict(value)


def check_lengths(sources: List[AudioSource], options: Any) -> None:
    """Diarizing more than 30 s needs ``--chunking``: checked for WAV and FLAC, whose length
    the header says exactly (the others are left to the server)."""
    from .transcription_options import diarizes

    if options.chunking is not None or not diarizes(options.model or ""):
        return
    for source in sources:
        seconds = _exact_seconds(source)
        if seconds is not None and seconds > SINGLE_BLOCK_S:
            raise InputError(f"{source.label} lasts {seconds:.1f} s: {options.model} needs "
                             f"--chunking auto (or a server_vad object) above {SINGLE_BLOCK_S:g} s")


def _exact_seconds(source: AudioSource) -> Optional[float]:
    if source.extension not in ("wav", "flac"):
        return None
    header = read_audio_header(source.read())
    return header.seconds if header is not None else None

