"""The practice server's answers for the newer transcription models, over a real socket: a WAV
described from its header, two speakers for ``diarized_json`` (also streamed as segment events),
logprobs when asked, and the spec's refusals (CreateTranscriptionRequest)."""

from __future__ import annotations

import io
import json
import struct
import wave

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oai_magic.audio_header import read_audio_header

from .openapi import validator
from .test_practice import dechunk, multipart, raw_send, read_to_eof, split_head, transcribe, wav_bytes

DIARIZE = "gpt-4o-transcribe-diarize"


@pytest.fixture
def fresh(practice):
    """The module's practice server with no recorded requests."""
    practice.requests.clear()
    return practice


def stereo_wav(seconds: float, rate: int = 44100) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0\0\0" * int(seconds * rate))
    return out.getvalue()


def test_a_wav_is_described_from_its_header_exactly(fresh):
    status, _, body = transcribe(fresh, [("model", "whisper-1")], data=wav_bytes(3.2))
    assert status == 200
    assert json.loads(body)["text"] == (
        "[practice transcript] hello.wav: I heard 3.2 s of 16 kHz mono audio (102,444 bytes of "
        "audio/wav). This is not a real transcription.")
    _, _, body = transcribe(fresh, [("model", "whisper-1")], data=stereo_wav(1.5))
    assert "I heard 1.5 s of 44.1 kHz stereo audio" in json.loads(body)["text"]


HOSTILE_WAVS = {
    "no data chunk": b"RIFF\0\0\0\0WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16),
    "byte rate zero": b"RIFF\0\0\0\0WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 0, 0, 0, 0, 0)
                      + b"data" + struct.pack("<I", 100) + b"\0" * 100,
    "data longer than the file": b"RIFF\0\0\0\0WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
                                 + b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\x80" * 8000,
    "truncated fmt": b"RIFF\0\0\0\0WAVEfmt " + b"\x10\0",
    "a million tiny chunks": b"RIFF\0\0\0\0WAVE" + b"junk\0\0\0\0" * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_WAVS))
def test_odd_wavs_get_an_answer_not_a_crash(fresh, name):
    status, _, body = transcribe(fresh, [("model", "whisper-1")], data=HOSTILE_WAVS[name])
    assert status == 200, body
    text = json.loads(body)["text"]
    assert text.startswith("[practice transcript] hello.wav: ")
    if name == "data longer than the file":
        assert "I heard 1.0 s of 8 kHz mono audio" in text  # only the bytes that are there


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from([b"RIFF\0\0\0\0WAVE", b"fLaC", b""]))
def test_the_header_reader_never_raises_on_any_bytes(tail, head):
    header = read_audio_header(head + tail)
    assert header is None or header.seconds >= 0


def test_diarized_json_has_two_speakers_and_matches_the_spec(fresh):
    status, _, body = transcribe(fresh, [("model", DIARIZE), ("response_format", "diarized_json")])
    data = json.loads(body)
    assert status == 200, body
    validator("CreateTranscriptionResponseDiarizedJson").validate(data)
    assert [s["speaker"] for s in data["segments"]] == ["A", "B"]
    assert data["segments"][-1]["end"] == data["duration"] == 2.0
    assert data["text"] == " ".join(s["text"] for s in data["segments"])


def test_known_speaker_names_label_the_segments(fresh):
    reference = "data:audio/wav;base64,UklGRg=="
    fields = [("model", DIARIZE), ("response_format", "diarized_json"),
              ("known_speaker_names[]", "agent"), ("known_speaker_names[]", "customer"),
              ("known_speaker_references[]", reference), ("known_speaker_references[]", reference)]
    _, _, body = transcribe(fresh, fields)
    assert [s["speaker"] for s in json.loads(body)["segments"]] == ["agent", "customer"]


def test_a_streamed_diarization_sends_deltas_then_each_segment_then_done(fresh):
    body, ctype = multipart([("model", DIARIZE), ("response_format", "diarized_json"),
                             ("stream", "true")], [("file", "hello.wav", "audio/wav", wav_bytes())])
    raw = read_to_eof(raw_send(fresh, "POST", "/v1/audio/transcriptions", body,
                               {"Content-Type": ctype}))
    status, _, payload = split_head(raw)
    events = [json.loads(c[len(b"data: "):]) for c in dechunk(payload)[0]]
    kinds = [e["type"] for e in events]
    assert status == 200 and kinds[-1] == "transcript.text.done"
    segments = [e for e in events if e["type"] == "transcript.text.segment"]
    assert [s["speaker"] for s in segments] == ["A", "B"]
    for segment in segments:
        validator("TranscriptTextSegmentEvent").validate(segment)
    first = kinds.index("transcript.text.segment")
    assert {e["segment_id"] for e in events[:first]} == {segments[0]["id"]}


def test_logprobs_come_back_when_asked_and_match_the_spec(fresh):
    _, _, body = transcribe(fresh, [("model", "gpt-4o-mini-transcribe"), ("include[]", "logprobs")])
    data = json.loads(body)
    validator("CreateTranscriptionResponseJson").validate(data)
    assert "".join(t["token"] for t in data["logprobs"]) == data["text"]
    assert all(t["logprob"] <= 0 for t in data["logprobs"])
    _, _, plain = transcribe(fresh, [("model", "gpt-4o-mini-transcribe")])
    assert "logprobs" not in json.loads(plain)


def long_wav() -> bytes:
    return wav_bytes(31.0, rate=8000)


@pytest.mark.parametrize("fields, data, param", [
    ([("response_format", "diarized_json")], None, "response_format"),  # whisper-1
    ([("model", DIARIZE), ("response_format", "verbose_json")], None, "response_format"),
    ([("model", DIARIZE), ("prompt", "hi")], None, "prompt"),
    ([("model", DIARIZE), ("timestamp_granularities[]", "word")], None, "timestamp_granularities"),
    ([("model", DIARIZE), ("include[]", "logprobs")], None, "include"),
    ([("model", "whisper-1"), ("include[]", "logprobs")], None, "include"),
    ([("model", "gpt-4o-transcribe"), ("include[]", "logprobs"), ("response_format", "text")],
     None, "include"),
    ([("model", DIARIZE)], long_wav(), "chunking_strategy"),
    ([("model", DIARIZE), ("chunking_strategy", "sometimes")], None, "chunking_strategy"),
    ([("model", DIARIZE)] + [("known_speaker_names[]", f"s{i}") for i in range(5)]
     + [("known_speaker_references[]", "data:audio/wav;base64,AA==")] * 5, None,
     "known_speaker_names"),
    ([("model", DIARIZE), ("known_speaker_names[]", "a")], None, "known_speaker_references"),
    ([("model", DIARIZE), ("known_speaker_names[]", "a"),
      ("known_speaker_references[]", "a.wav")], None, "known_speaker_references"),
])
def test_what_the_spec_forbids_is_refused_naming_the_parameter(fresh, fields, data, param):
    status, _, body = transcribe(fresh, [("model", "whisper-1")] + fields if fields[0][0] != "model"
                                 else fields, data)
    assert status == 400 and json.loads(body)["error"]["param"] == param, body


def test_long_diarization_with_chunking_is_answered(fresh):
    for chunking in ([("chunking_strategy", "auto")],
                     [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[threshold]", "0.6")]):
        status, _, body = transcribe(fresh, [("model", DIARIZE)] + chunking, long_wav())
        assert status == 200, body
        assert "I heard 31.0 s of 8 kHz mono audio" in json.loads(body)["text"]
