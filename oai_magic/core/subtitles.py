"""SubRip (srt) and WebVTT (vtt) cues read into timed segments, so every format gives a table.

Tolerant on purpose: CRLF or LF, hours optional (WebVTT allows ``mm:ss.ttt``), cue numbers or
identifiers optional, cue settings after the timing ignored, NOTE/STYLE/REGION blocks skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Optional

from ..api.limits import finite_amount

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


@dataclass
class Segment:
    """A stretch of speech: seconds from the start of the audio, and what was said."""

    start: float
    end: float
    text: str
    speaker: Optional[str] = None  # who said it (-f diarized_json), else None


@dataclass
class Word:
    word: str
    start: float
    end: float


def seconds_of(value: Any) -> float:
    """A time a server sent (a segment's or a word's start or end, a cue's), in seconds from
    the start of the audio; 0.0, as when it is missing, unless it is a number from 0 to
    ``MAX_AMOUNT`` (``finite_amount``, as a duration). The one check of server times: NaN,
    infinities, 1e306 (whose centiseconds overflow to infinity in ``clock``) and ints of
    hundreds of digits then break no transcript, table or streamed line."""
    return float(value) if finite_amount(value) else 0.0


def _seconds(hours: str, minutes: str, seconds: str, fraction: str) -> float:
    if len(hours or "") > 12:  # int() refuses 4,300 digits; float() overflows at 309
        return 0.0
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return seconds_of(int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + millis / 1000)


def parse_cues(text: str) -> List[Segment]:
    """The cues of an srt or vtt document, in order; blocks without a timing line are skipped."""
    segments = []
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    for block in blocks:
        lines = block.split("\n")
        for i, line in enumerate(lines):
            match = _TIMING.match(line)
            if match:
                groups = match.groups()
                segments.append(
                    Segment(
                        _seconds(*groups[:4]),
                        _seconds(*groups[4:]),
                        "\n".join(part.strip() for part in lines[i + 1 :]).strip(),
                    )
                )
                break
    return segments


def clock(seconds: float) -> str:
    """``75.5`` → ``01:15.50``; an hour or more adds the hours (``1:02:03.00``)."""
    centis = int(round(max(seconds, 0.0) * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    text = f"{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"
    return f"{hours}:{text}" if hours else text
