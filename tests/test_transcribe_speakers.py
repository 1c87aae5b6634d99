"""What the newer transcription models return, as a user of %transcribe meets it (issue 28):
speakers (-f diarized_json, --speaker), --logprobs and --chunking, checked against OpenAI's spec
before anything is sent, against the practice server over a real socket."""

from __future__ import annotations

import base64
import io
import json
import wave
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from oai_magic.core.subtitles import Segment
from oai_magic.practice import Scripted, sse_event

from .conftest import TEST_KEY, run
from .openapi import validator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HELLO = FIXTURES / "hello.wav"  # 3.8 s of 16 kHz mono
DIARIZE = "gpt-4o-transcribe-diarize"
TRANSCRIBE = "/audio/transcriptions"


def wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    path.write_bytes(out.getvalue())
    return path


def sent(request) -> list:
    return [(p.name, p.value) for p in request.form if p.name != "file"]


def as_request_object(request) -> dict:
    """The multipart fields as the JSON object the spec describes (``name[]`` lists,
    ``name[key]`` objects, numbers and booleans parsed), to validate it."""
    body: dict = {"file": "(bytes)"}
    for name, value in sent(request):
        if name.endswith("[]"):
            body.setdefault(name[:-2], []).append(value)
        elif "[" in name:
            outer, inner = name[:-1].split("[", 1)
            body.setdefault(outer, {})[inner] = value if inner == "type" else json.loads(value)
        elif name in ("temperature",):
            body[name] = float(value)
        elif name == "stream":
            body[name] = value == "true"
        else:
            body[name] = value
    return body


def one_line(error) -> str:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- diarization ---------------------------------------------------------------------------


def test_diarized_json_picks_the_diarize_model_and_shows_a_speaker_column(shell, server, capsys):
    assert run(shell, f"%transcribe -f diarized_json {HELLO} -o r").success
    request = server.requests[-1]
    assert dict(sent(request))["model"] == DIARIZE
    assert dict(sent(request))["response_format"] == "diarized_json"
    validator("CreateTranscriptionRequest").validate(as_request_object(request))
    r = shell.user_ns["r"]
    assert [s.speaker for s in r.segments] == ["A", "B"]
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("start"))
    assert header.split() == ["start", "end", "speaker", "text"]
    assert "  A  " in out and "  B  " in out


def test_known_speakers_are_sent_as_data_urls_and_label_the_segments(shell, server, tmp_path):
    agent, customer = wav(tmp_path / "agent.wav", 3.0), wav(tmp_path / "customer.wav", 2.5)
    cell = f"%transcribe -f diarized_json --speaker agent={agent} --speaker customer={customer} {HELLO} -o r"
    assert run(shell, cell).success
    request = server.requests[-1]
    fields = sent(request)
    assert [v for k, v in fields if k == "known_speaker_names[]"] == ["agent", "customer"]
    references = [v for k, v in fields if k == "known_speaker_references[]"]
    assert references[0] == "data:audio/wav;base64," + base64.b64encode(agent.read_bytes()).decode()
    validator("CreateTranscriptionRequest").validate(as_request_object(request))
    assert [s.speaker for s in shell.user_ns["r"].segments] == ["agent", "customer"]


def test_the_python_api_takes_speakers_as_a_dict(shell, server, tmp_path):
    from oai_magic.core.session import session_of

    agent = wav(tmp_path / "agent.wav", 3.0)
    result = session_of(shell).transcribe(
        str(HELLO), format="diarized_json", speaker={"agent": str(agent)}).result()
    assert result.segments[0].speaker == "agent"


@pytest.mark.parametrize("options, expected", [
    ("--speaker agent", "NAME=FILE"),
    ("--speaker =x.wav", "a name before the '='"),
    ("--speaker agent={tmp}/nope.wav", "no such file"),
    ("--speaker a={ok} --speaker a={ok}", "given twice"),
    ("--speaker a={short}", "lasts 1.0 s; a speaker's sample must last 2 to 10 s"),
    ("--speaker a={long}", "lasts 12.0 s"),
    ("--speaker a={ok} --speaker b={ok} --speaker c={ok} --speaker d={ok} --speaker e={ok}",
     "at most 4 --speaker samples"),
    ("-m whisper-1 --speaker a={ok}", "--speaker needs -m gpt-4o-transcribe-diarize"),
    ("-m {diarize} --speaker a={ok}", "add -f diarized_json"),
    ("-m whisper-1 -f diarized_json", "-f diarized_json needs -m gpt-4o-transcribe-diarize"),
    ("-f diarized_json -p 'Names: Zoë'", "-p/--prompt is not supported by gpt-4o-transcribe-diarize"),
    ("-m {diarize} -f verbose_json --timestamps word", "answers json, text or diarized_json"),
    ("-m {diarize} --timestamps word", "--timestamps is not supported"),
    ("-m {diarize} --logprobs", "--logprobs is not supported by gpt-4o-transcribe-diarize"),
    ("--logprobs", "--logprobs needs gpt-4o-transcribe or gpt-4o-mini-transcribe: whisper-1"),
    ("-m gpt-4o-transcribe -f text --logprobs", "--logprobs needs -f json"),
    ("--translate -f diarized_json", "--translate cannot be combined with -f diarized_json"),
    ("--chunking sometimes", "--chunking takes auto or a JSON object"),
    ("--chunking '[1]'", "server_vad object"),
    ("--chunking '{{\"type\": \"server_vad\", \"speed\": 2}}'", "unknown field 'speed'"),
    ("--chunking '{{\"type\": \"server_vad\", \"threshold\": 2}}'", "threshold must be between 0 and 1"),
    ("--chunking '{{\"type\": \"server_vad\", \"silence_duration_ms\": 0.5}}'", "whole number"),
    ("-f diarized_json {thirty_one}", "lasts 31.0 s: gpt-4o-transcribe-diarize needs --chunking auto"),
])
def test_what_the_spec_forbids_is_one_line_and_nothing_is_sent(shell, server, tmp_path, options, expected):
    paths = {"tmp": tmp_path, "short": wav(tmp_path / "short.wav", 1.0),
             "long": wav(tmp_path / "long.wav", 12.0), "ok": wav(tmp_path / "ok.wav", 3.0),
             "thirty_one": wav(tmp_path / "long31.wav", 31.0), "diarize": DIARIZE}
    cell = f"%transcribe {options.format(**paths)} {HELLO}"
    message = one_line(run(shell, cell, expect=UsageError))
    assert expected in message
    assert server.requests == []


def test_the_speaker_sample_size_is_a_setting(shell, server, magics, tmp_path):
    sample = wav(tmp_path / "agent.wav", 3.0)
    magics.transcribe_max_speaker_bytes = 1000
    try:
        message = one_line(run(shell, f"%transcribe -f diarized_json --speaker agent={sample} {HELLO}",
                               expect=UsageError))
    finally:
        magics.transcribe_max_speaker_bytes = 4 * 1024 * 1024
    assert "over 1000 bytes" in message and "transcribe_max_speaker_bytes" in message
    assert server.requests == []


def test_long_audio_is_diarized_with_chunking_auto_or_a_vad_object(shell, server, tmp_path):
    long = wav(tmp_path / "long.wav", 31.0)
    assert run(shell, f"%transcribe -f diarized_json --chunking auto {long} -o r").success
    assert ("chunking_strategy", "auto") in sent(server.requests[-1])
    vad = '{"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 500}'
    assert run(shell, f"%transcribe -f diarized_json --chunking '{vad}' {long} -o r").success
    request = server.requests[-1]
    assert [f for f in sent(request) if f[0].startswith("chunking")] == [
        ("chunking_strategy[type]", "server_vad"), ("chunking_strategy[threshold]", "0.6"),
        ("chunking_strategy[silence_duration_ms]", "500")]
    validator("CreateTranscriptionRequest").validate(as_request_object(request))
    assert "I heard 31.0 s of 8 kHz mono audio" in shell.user_ns["r"].text


def test_compressed_audio_is_sent_for_the_server_to_time(shell, server):
    """An mp3's length needs a decoder: it is not checked before sending (the 30 s rule is
    the server's to apply); this one is short, so the server answers."""
    assert run(shell, f"%transcribe -f diarized_json {FIXTURES / 'hello.mp3'} -o r").success
    assert len(server.requests) == 1 and shell.user_ns["r"].segments[0].speaker == "A"


def test_a_notebook_shows_speakers_in_an_escaped_html_column(shell, server, notebook):
    speakers = [{"type": "transcript.text.segment", "id": "s1", "start": 0, "end": 1.5,
                 "text": "Hello <b>there</b>", "speaker": "<img src=x onerror=alert(1)>"},
                {"type": "transcript.text.segment", "id": "s2", "start": 1.5, "end": 3,
                 "text": "Hi", "speaker": "B"}]
    body = {"task": "transcribe", "duration": 3, "text": "Hello there Hi", "segments": speakers}
    server.script(TRANSCRIBE, Scripted(body=json.dumps(body).encode(),
                                       headers={"content-type": "application/json"}))
    assert run(shell, f"%transcribe -f diarized_json {HELLO}").success
    html = "".join(m["data"].get("text/html", "") for m in notebook.messages if "data" in m)
    assert "<th style='text-align:left'>speaker</th>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html


# --- streaming: segments with their speakers -----------------------------------------------


def test_a_streamed_diarization_prints_each_segment_with_its_speaker(shell, server, capsys):
    assert run(shell, f"%transcribe -f diarized_json --stream {HELLO} -o r").success
    r = shell.user_ns["r"]
    assert dict(sent(server.requests[-1]))["stream"] == "true"
    assert [s.speaker for s in r.segments] == ["A", "B"]
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("00:")]
    assert lines[0].startswith("00:00.00  A: [practice transcript] hello.wav")
    assert lines[1].split("  ", 1)[1].startswith("B: This is not a real transcription.")
    assert out.count("This is not a real transcription.") == 1  # deltas are not shown again


def test_segment_events_reach_a_script_as_typed_events(shell, server):
    from oai_magic.core.session import session_of
    from oai_magic.events import TranscriptDelta, TranscriptSegment

    events = list(session_of(shell).transcribe(str(HELLO), format="diarized_json", stream=True))
    segments = [e.segment for e in events if isinstance(e, TranscriptSegment)]
    assert [s.speaker for s in segments] == ["A", "B"] and isinstance(segments[0], Segment)
    assert any(isinstance(e, TranscriptDelta) for e in events)


def test_a_notebook_draws_streamed_segments_as_they_come(shell, server, notebook, frontend):
    assert run(shell, f"%transcribe -f diarized_json --stream {HELLO} -o r").success
    (page,) = frontend.pages.values()
    appended = [op for op in page.ops if "oai-segment" in json.dumps(op)]
    assert len(appended) == 2 and "<b>A</b>: [practice transcript]" in json.dumps(appended[0])


# --- logprobs ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["", "--stream"])
def test_logprobs_are_asked_for_and_kept(shell, server, stream):
    assert run(shell, f"%transcribe -m gpt-4o-mini-transcribe --logprobs {stream} {HELLO} -o r").success
    request = server.requests[-1]
    assert ("include[]", "logprobs") in sent(request)
    validator("CreateTranscriptionRequest").validate(as_request_object(request))
    r = shell.user_ns["r"]
    assert r.logprobs and all(set(t) == {"token", "logprob", "top_logprobs"} for t in r.logprobs)
    assert "".join(t["token"] for t in r.logprobs).strip() == r.text


def test_without_logprobs_the_result_has_none(shell, server):
    assert run(shell, f"%transcribe -m gpt-4o-mini-transcribe {HELLO} -o r").success
    assert shell.user_ns["r"].logprobs is None
    assert "include[]" not in dict(sent(server.requests[-1]))


def test_help_documents_the_new_options(shell, capsys):
    from oai_magic.magics.arguments import TRANSCRIBE_ARGUMENTS  # noqa: F401 (the table %transcribe? prints)

    shell.run_line_magic("pinfo", "%transcribe")
    out = capsys.readouterr().out
    for option in ("--speaker NAME=FILE", "--logprobs", "--chunking auto|JSON", "diarized_json",
                   "gpt-4o-transcribe-diarize"):
        assert option in out


# --- hostile payloads: one line at most, never a traceback ----------------------------------

CONTROL = st.text(alphabet=st.sampled_from(list("ab <>&\x1b[31m\x07\u202e\x9b\n\t") + ["é", "字"]),
                  max_size=40)
ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**400, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | CONTROL,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(CONTROL, inner, max_size=3),
    max_leaves=8)
SPEAKER = ANYTHING | st.text(min_size=1000, max_size=3000) | CONTROL
SEGMENT = st.fixed_dictionaries(
    {}, optional={"start": ANYTHING, "end": ANYTHING, "text": ANYTHING, "speaker": SPEAKER,
                  "type": st.just("transcript.text.segment")})
TOKEN = st.fixed_dictionaries({}, optional={"token": ANYTHING | CONTROL, "logprob": ANYTHING,
                                            "top_logprobs": ANYTHING, "bytes": ANYTHING})
HOSTILE = settings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def shown_safely(shell, capsys, cell: str):
    """The cell ends well or with one line; nothing it printed carries a control sequence."""
    result = shell.run_cell(cell, store_history=False)
    error = result.error_before_exec or result.error_in_exec
    out = capsys.readouterr()
    assert error is None or type(error) is UsageError, repr(error)
    if error is not None:
        one_line(error)
    assert "Traceback" not in out.out + out.err
    for control in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert control not in out.out
    return shell.user_ns.get("r") if error is None else None


def check_result(r) -> None:
    if r is None:
        return
    for segment in r.segments:
        assert isinstance(segment.text, str) and isinstance(segment.start, float)
        assert segment.speaker is None or (isinstance(segment.speaker, str)
                                           and 0 < len(segment.speaker) <= 80)
    for token in r.logprobs or []:
        assert isinstance(token["token"], str) and -float("inf") < token["logprob"] <= 0
    repr(r)


@HOSTILE
@given(segments=st.lists(SEGMENT, max_size=4) | ANYTHING, logprobs=st.lists(TOKEN, max_size=4) | ANYTHING)
@example(segments=[{"start": 1.797693134862316e+306, "end": 1.797693134862316e+306, "speaker": "A"},
                   {"start": 10**400, "end": -5}], logprobs=[])  # their centiseconds overflow
def test_hostile_segments_and_logprobs_never_break_a_transcript(shell, server, capsys, segments, logprobs):
    body = json.dumps({"task": "transcribe", "duration": 1, "text": "hi", "segments": segments,
                       "logprobs": logprobs})
    server.script(TRANSCRIBE, Scripted(body=body.encode(), headers={"content-type": "application/json"}))
    shell.user_ns.pop("r", None)
    check_result(shown_safely(shell, capsys, f"%transcribe -f diarized_json {HELLO} -o r"))


@HOSTILE
@given(events=st.lists(SEGMENT | st.fixed_dictionaries(
    {"type": st.just("transcript.text.delta"), "delta": ANYTHING},
    optional={"logprobs": st.lists(TOKEN, max_size=3) | ANYTHING}), max_size=5))
@example(events=[{"end": 1.797693134862316e+306}])  # the timing table overflowed (suite run)
@example(events=[{"start": 1.797693134862316e+306}])  # OverflowError converting to int
def test_hostile_streamed_segments_never_break_a_transcript(shell, server, capsys, events):
    chunks = [sse_event({"type": "transcript.text.segment", **e} if "delta" not in e else e)
              for e in events]
    chunks.append(sse_event({"type": "transcript.text.done", "text": "done"}))
    server.script(TRANSCRIBE, Scripted(chunks=chunks))
    shell.user_ns.pop("r", None)
    check_result(shown_safely(shell, capsys, f"%transcribe -f diarized_json --stream {HELLO} -o r"))


def test_a_speaker_with_control_characters_or_a_huge_name_is_shown_as_one_safe_short_label(
        shell, server, capsys):
    segments = [{"start": 0, "end": 1, "text": "one", "speaker": "\x1b[31mred\x07"},
                {"start": 1, "end": float("nan"), "text": "two", "speaker": "x" * 100_000}]
    body = json.dumps({"task": "transcribe", "duration": 2, "text": "one two", "segments": segments})
    server.script(TRANSCRIBE, Scripted(body=body.encode(), headers={"content-type": "application/json"}))
    r = shown_safely(shell, capsys, f"%transcribe -f diarized_json {HELLO} -o r")
    assert r.segments[0].speaker == "\x1b[31mred\x07"  # kept as sent; escaped where shown
    assert r.segments[1].speaker == "x" * 79 + "…" and r.segments[1].end == 0.0
    shell.run_cell("r.segments", store_history=False)
    server.script(TRANSCRIBE, Scripted(body=body.encode(), headers={"content-type": "application/json"}))
    run(shell, f"%transcribe -f diarized_json {HELLO}")
    out = capsys.readouterr().out
    assert "\\x1b[31mred" in out and "\x1b" not in out and "x" * 80 not in out


# --- priced like chat ----------------------------------------------------------------------


def test_a_diarized_transcript_is_priced_in_its_footer_and_counted_against_the_budget(
        shell, server, magics, capsys):
    from oai_magic.core import costs
    from oai_magic.core.session import session_of

    magics.prices = {}
    assert run(shell, f"%transcribe -f diarized_json {HELLO} -o r").success
    r = shell.user_ns["r"]
    footer = capsys.readouterr().out.splitlines()[-1]
    assert r.cost and r.cost > 0 and costs.format_cost(r.cost) in footer
    assert "gpt-4o-transcribe-diarize" in footer and "3.8 s of audio" in footer
    ledger = costs.ledger_of(session_of(shell))
    assert ledger.by_model[DIARIZE].requests == 1 and ledger.by_model[DIARIZE].prompt > 0
    run(shell, f"%oai budget {r.cost / 2:.8f}")
    try:
        message = one_line(run(shell, f"%transcribe -f diarized_json {HELLO}", expect=UsageError))
    finally:
        run(shell, "%oai budget --clear")
    assert "budget" in message.lower() and len(server.requests) == 1


def test_the_key_in_speakers_segments_and_split_logprobs_never_reaches_the_user(shell, server, capsys):
    half = len(TEST_KEY) // 2
    body = {"text": f"said {TEST_KEY}", "logprobs": [
        {"token": "said ", "logprob": -0.1}, {"token": TEST_KEY[:half], "logprob": -0.2},
        {"token": TEST_KEY[half:], "logprob": -0.3}]}
    server.script(TRANSCRIBE, Scripted(body=json.dumps(body).encode(),
                                       headers={"content-type": "application/json"}))
    assert run(shell, f"%transcribe -m gpt-4o-transcribe --logprobs {HELLO} -o r").success
    r = shell.user_ns["r"]
    seen = json.dumps(r.logprobs) + r.text + capsys.readouterr().out
    segment = {"type": "transcript.text.segment", "id": "s", "start": 0, "end": 1,
               "text": f"key {TEST_KEY}", "speaker": TEST_KEY}
    server.script(TRANSCRIBE, Scripted(chunks=[sse_event(segment), sse_event(
        {"type": "transcript.text.done", "text": "done"})]))
    assert run(shell, f"%transcribe -f diarized_json --stream {HELLO} -o r").success
    seen += repr(shell.user_ns["r"].segments) + capsys.readouterr().out
    for start in range(len(TEST_KEY) - 11):
        assert TEST_KEY[start:start + 12] not in seen


def test_a_diarized_transcript_joins_a_conversation_with_who_said_what(shell, server):
    from oai_magic.core.session import session_of

    assert run(shell, f"%transcribe -f diarized_json -c meeting {HELLO}").success
    message = session_of(shell).conversations["meeting"].messages[-1]
    lines = message.content.splitlines()
    assert lines[0] == "Transcript of hello.wav:"
    assert lines[2].startswith("A: [practice transcript] hello.wav") and lines[3].startswith("B: This is")


def test_a_server_that_returns_no_speakers_says_so(shell, server):
    body = {"text": "plain words", "usage": {"type": "duration", "seconds": 2}}
    server.script(TRANSCRIBE, Scripted(body=json.dumps(body).encode(),
                                       headers={"content-type": "application/json"}))
    assert run(shell, f"%transcribe -m some-local-model -f diarized_json {HELLO} -o r").success
    assert shell.user_ns["r"].notices == [
        "No speakers came back: this server may not support diarization."]


def test_times_past_any_audio_are_shown_as_missing_in_every_format(shell, server, capsys):
    # 1e306 seconds is finite, but its centiseconds are not: shown as 00:00.00, like a missing
    # time, in the table and the streamed lines; an srt cue whose hours run to 400 digits too.
    huge = {"start": 1.797693134862316e+306, "end": float("inf"), "text": "far"}
    words = [{"word": "far", "start": 1e306, "end": 10**400}]
    body = json.dumps({"task": "transcribe", "duration": 1, "text": "far", "words": words,
                       "segments": [dict(huge, speaker="A")]})
    server.script(TRANSCRIBE, Scripted(body=body.encode(), headers={"content-type": "application/json"}))
    r = shown_safely(shell, capsys, f"%transcribe -f diarized_json {HELLO} -o r")
    assert (r.segments[0].start, r.segments[0].end) == (0.0, 0.0)
    assert [(w.start, w.end) for w in r.words] == [(0.0, 0.0)]
    shell.run_cell("r", store_history=False)
    assert "Traceback" not in capsys.readouterr().out
    srt = "1\n" + "9" * 400 + ":00:01,000 --> 00:00:02,000\nfar\n"
    server.script(TRANSCRIBE, Scripted(body=srt.encode(), headers={"content-type": "text/plain"}))
    r = shown_safely(shell, capsys, f"%transcribe -f srt {HELLO} -o r")
    assert [(s.start, s.end, s.text) for s in r.segments] == [(0.0, 2.0, "far")]
