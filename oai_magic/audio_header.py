"""What a WAV or FLAC recording is, read from its header: length, sample rate, channels (stdlib only).

The client checks the spec's rules that depend on the length (diarization above 30 s needs
``chunking_strategy``; a known speaker's sample lasts 2 to 10 s) with it, and the practice
server describes what it received with the same reader. Other containers (mp3, m4a, ogg, webm)
would need a decoder to be timed exactly, so they get None here.

A header comes from a user's file or an upload: every field may lie. The reader never raises
and never walks more than ``MAX_CHUNKS`` chunks; a data chunk longer than the file counts only
the bytes that are there.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Optional

MAX_CHUNKS = 1000  # a WAV of a million 8-byte chunks would otherwise cost a second to walk


class AudioHeader(NamedTuple):
    format: str  # "WAV" or "FLAC"
    seconds: float
    sample_rate: int  # 0 when the header does not say
    channels: int  # 0 when the header does not say
    bits: int  # bits per sample, 0 when the header does not say

    def describe(self) -> str:
        """``2.0 s of 16 kHz mono audio``: how the practice server says what it heard."""
        rate = f"{self.sample_rate / 1000:g} kHz " if self.sample_rate else ""
        layout = {1: "mono ", 2: "stereo "}.get(self.channels, f"{self.channels}-channel "
                                                 if self.channels else "")
        return f"{self.seconds:.1f} s of {rate}{layout}audio"


def read_audio_header(data: bytes) -> Optional[AudioHeader]:
    """The header of a WAV (RIFF/WAVE) or FLAC file with a length; None for anything else."""
    try:
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return _wav(data)
        if data[:4] == b"fLaC":
            return _flac(data)
    except (struct.error, ValueError, OverflowError, ZeroDivisionError):
        return None
    return None


def _wav(data: bytes) -> Optional[AudioHeader]:
    pos, size = 12, None
    byte_rate = rate = channels = bits = align = 0
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            break
        chunk_id, chunk_size = struct.unpack_from("<4sI", data, pos)
        if chunk_id == b"fmt " and pos + 24 <= len(data):
            _, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, pos + 8)
        elif chunk_id == b"data":
            size = max(0, min(chunk_size, len(data) - pos - 8))
            break
        pos += 8 + chunk_size + (chunk_size & 1)
    if size is None:
        return None
    # The byte rate says how long the data lasts; a header whose byte rate is 0 (or lies) is
    # timed by what the rate, channels and sample size give, when they give anything.
    computed = rate * align if rate and align else rate * channels * (bits // 8)
    per_second = byte_rate or computed
    if not per_second:
        return None
    return AudioHeader("WAV", size / per_second, rate, channels, bits)


def _flac(data: bytes) -> Optional[AudioHeader]:
    if len(data) < 26 or data[4] & 0x7F != 0:  # the first block must be STREAMINFO
        return None
    info = int.from_bytes(data[18:26], "big")
    rate, samples = info >> 44, info & ((1 << 36) - 1)
    channels, bits = ((info >> 41) & 0x7) + 1, ((info >> 36) & 0x1F) + 1
    if not rate or not samples:
        return None
    return AudioHeader("FLAC", samples / rate, rate, channels, bits)
