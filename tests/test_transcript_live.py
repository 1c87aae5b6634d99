"""A streamed transcript goes through the live machinery like a chat answer: each draw sends
the new text only, and the finished transcript is not sent again over the widget."""

from __future__ import annotations

import json

from oai_magic.core.audio_sources import AudioSource
from oai_magic.core.transcription_result import TranscriptResult
from oai_magic.ui.transcript import TranscribeDisplay

from .recording import Notebook


def ticking(step: float):
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def stream_transcript(shell, frontend, words: int):
    """Stream ``words`` words of one transcript; (text, sizes of the widget's messages, final bundle)."""
    sizes = []
    frontend.on_custom = lambda content: sizes.append(
        len(json.dumps(content, ensure_ascii=False).encode("utf-8")))
    text = "".join(f"Wort{i % 97}, правда {i}; 言葉。" + (" " if i % 11 else "\n") for i in range(words))
    with Notebook(shell) as publisher:
        display = TranscribeDisplay(rich=True, streaming=True, render_interval=0.05, clock=ticking(0.01))
        display.transcript_begin(1, 1, AudioSource("clip", "clip.wav", 4, data=b"RIFF"))
        for at in range(0, len(text), 7):
            display.transcript_delta(text[at:at + 7])
        display.transcript_end(TranscriptResult(text=text, source="clip", filename="clip.wav", model="m"))
        display.close()
    return text, sizes, publisher.messages[-1]["data"]


def test_a_long_streamed_transcript_costs_bytes_in_proportion_to_its_text(shell, frontend):
    text, sizes, final = stream_transcript(shell, frontend, 1500)
    text_bytes = len(text.encode("utf-8"))
    assert text_bytes > 40_000
    # every message carries what is new since the last draw, never the transcript again...
    assert max(sizes) < 3_000, sorted(sizes)[-5:]
    # ...so the whole run costs a few times the text, as a chat answer does
    assert sum(sizes) < 3 * text_bytes + 4_000, (sum(sizes), text_bytes)
    assert f"Wort{1499 % 97}, правда 1499; 言葉。" in final["text/html"]  # the final block has it all
    assert final["text/plain"].splitlines()[-1].startswith("— clip.wav · m")


def test_the_bytes_of_a_transcript_grow_linearly_with_its_length(shell, frontend):
    short_text, short, _ = stream_transcript(shell, frontend, 300)
    long_text, long, _ = stream_transcript(shell, frontend, 1200)
    ratio = sum(long) / len(long_text.encode("utf-8"))
    assert ratio <= sum(short) / len(short_text.encode("utf-8")) * 1.2 + 0.05, (sum(short), sum(long))
