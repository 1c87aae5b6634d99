"""%transcribe as a user drives it, against the practice server over a real socket, with real audio.

The fixtures are real recordings (flac, m4a, mp3, ogg, wav, webm, a German m4a). hello.mp4 is a
byte copy of hello.m4a (an m4a is an MP4 container) and hello.mpeg / hello.mpga are byte copies of
hello.mp3 (MPEG audio), so every extension the API accepts is covered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.display import Audio

from oai_magic.core.audio_sources import AudioSource, sniff_extension
from oai_magic.core.session import session_of
from oai_magic.core.subtitles import Segment, parse_cues
from oai_magic.core.transcription_result import TranscriptResult
from oai_magic.practice import Scripted, sse_event
from oai_magic.state import Secret
from oai_magic.ui.transcript import TranscribeDisplay, player_bundle

from .conftest import TEST_KEY, run

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRANSCRIBE = "/audio/transcriptions"
CONTENT_TYPES = {
    "flac": "audio/flac", "mp3": "audio/mpeg", "mp4": "video/mp4", "mpeg": "audio/mpeg",
    "mpga": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg", "wav": "audio/wav",
    "webm": "audio/webm",
}


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def upload(request):
    [part] = [p for p in request.form if p.name == "file"]
    return part


def fields(request):
    return [(p.name, p.value) for p in request.form if p.name != "file"]


def field_dict(request):
    return dict(fields(request))


def failure(error) -> str:
    message = str(error)
    assert "\n" not in message
    return message


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", sorted(CONTENT_TYPES))
def test_every_supported_container_reaches_the_server_byte_for_byte(shell, server, capsys, extension):
    path = FIXTURES / f"hello.{extension}"
    run(shell, f"%transcribe {path} -o r")
    [request] = server.requests
    assert request.path == "/v1/audio/transcriptions"
    part = upload(request)
    assert part.data == path.read_bytes()
    assert part.filename == f"hello.{extension}"
    assert part.content_type == CONTENT_TYPES[extension]
    assert TEST_KEY.encode() not in request.body
    r = shell.user_ns["r"]
    assert isinstance(r, TranscriptResult)
    assert f"hello.{extension}" in r.text and r.request_id.startswith("req_")
    assert r.text in capsys.readouterr().out


def test_defaults_send_whisper_1_and_json_and_nothing_else(shell, server):
    run(shell, f"%transcribe {fixture('hello.wav')}")
    assert fields(server.requests[0]) == [("model", "whisper-1"), ("response_format", "json")]


def test_language_prompt_and_temperature_zero_are_sent(shell, server):
    run(shell, f"%transcribe -l DE -p 'Names: Zoë, Jürgen' -t 0 {fixture('german.m4a')} -o r")
    sent = field_dict(server.requests[0])
    assert sent["language"] == "de"
    assert sent["prompt"] == "Names: Zoë, Jürgen"
    assert sent["temperature"] == "0"
    assert "Language hint: de" in shell.user_ns["r"].text


def test_model_option_and_configured_default_model(shell, server, magics):
    run(shell, f"%transcribe -m gpt-4o-mini-transcribe {fixture('hello.mp3')}")
    assert field_dict(server.requests[-1])["model"] == "gpt-4o-mini-transcribe"
    magics.transcribe_model = "gpt-4o-transcribe"
    try:
        run(shell, f"%transcribe {fixture('hello.mp3')}")
    finally:
        magics.transcribe_model = "whisper-1"
    assert field_dict(server.requests[-1])["model"] == "gpt-4o-transcribe"


def test_repeated_timestamps_are_sent_as_array_parts_and_words_come_back(shell, server, capsys):
    cell = f"%transcribe -f verbose_json --timestamps word --timestamps segment {fixture('hello.wav')} -o r"
    assert run(shell, cell).success
    sent = fields(server.requests[0])
    assert [v for n, v in sent if n == "timestamp_granularities[]"] == ["word", "segment"]
    assert ("response_format", "verbose_json") in sent
    r = shell.user_ns["r"]
    assert r.language == "english" and r.duration == pytest.approx(3.83, abs=0.01)
    assert r.words and r.words[0].word == "[practice" and r.words[0].start == 0
    assert len(r.segments) >= 2 and r.segments[-1].end == pytest.approx(r.duration, abs=0.01)
    assert r.raw["task"] == "transcribe"
    out = capsys.readouterr().out
    assert "start" in out and "end" in out and "00:00.00" in out


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_are_parsed_into_segments_and_shown_as_a_table(shell, server, capsys, fmt):
    assert run(shell, f"%transcribe -f {fmt} {fixture('hello.flac')} -o r").success
    r = shell.user_ns["r"]
    assert isinstance(r.raw, str) and "-->" in r.raw
    assert len(r.segments) >= 2 and r.segments[0].start == 0.0
    assert r.segments[-1].end == pytest.approx(r.duration)
    assert r.text.startswith("[practice transcript] hello.flac")
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["start", "end", "text"])
    assert lines[header + 1].startswith("00:00.00")


def test_text_format_gives_the_plain_text(shell, server):
    run(shell, f"%transcribe -f text {fixture('hello.ogg')} -o r")
    r = shell.user_ns["r"]
    assert r.raw == r.text + "\n" and r.segments == []


def test_translate_uses_the_translations_endpoint_with_whisper_1(shell, server, magics):
    magics.transcribe_model = "gpt-4o-transcribe"
    try:
        assert run(shell, f"%transcribe --translate -p Hallo {fixture('german.m4a')} -o r").success
    finally:
        magics.transcribe_model = "whisper-1"
    request = server.requests[0]
    assert request.path == "/v1/audio/translations"
    assert field_dict(request) == {"model": "whisper-1", "response_format": "json", "prompt": "Hallo"}
    r = shell.user_ns["r"]
    assert r.task == "translate" and r.text.startswith("[practice translation]")


def test_org_and_project_headers_for_one_request_and_from_the_session(shell, server):
    run(shell, f"%transcribe --org org-once --project proj_once {fixture('hello.mp3')}")
    headers = server.requests[-1].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-once", "proj_once")
    run(shell, "%oai org org-session")
    run(shell, f"%transcribe {fixture('hello.mp3')}")
    assert server.requests[-1].headers["openai-organization"] == "org-session"


def test_a_retried_upload_sends_the_same_bytes_again(shell, server):
    busy = b'{"error": {"message": "busy", "type": "server_error"}}'
    server.script(TRANSCRIBE, Scripted(429, {"retry-after-ms": "0"}, busy))
    assert run(shell, f"%transcribe {fixture('hello.webm')}").success
    first, second = server.requests
    assert upload(first).data == upload(second).data == (FIXTURES / "hello.webm").read_bytes()
    assert session_of(shell).last_request_id is not None


def test_an_api_error_is_one_line_with_the_request_id(shell, server, capsys):
    error = b'{"error": {"message": "Audio file might be corrupted", "code": "invalid_value"}}'
    server.script(TRANSCRIBE, Scripted(400, {"x-request-id": "req_bad"}, error))
    message = failure(run(shell, f"%transcribe {fixture('hello.mp3')} -o r", expect=UsageError))
    assert "Audio file might be corrupted" in message and "req_bad" in message
    assert "r" not in shell.user_ns
    assert "Traceback" not in capsys.readouterr().err


# --- sources -------------------------------------------------------------------------------


def test_a_variable_holding_bytes_uploads_the_same_bytes(shell, server):
    data = (FIXTURES / "hello.ogg").read_bytes()
    shell.user_ns["clip"] = data
    assert run(shell, "%transcribe clip").success
    part = upload(server.requests[0])
    assert (part.data, part.filename, part.content_type) == (data, "clip.ogg", "audio/ogg")


def test_a_variable_holding_a_path(shell, server):
    shell.user_ns["where"] = FIXTURES / "hello.flac"
    assert run(shell, "%transcribe where").success
    assert upload(server.requests[0]).filename == "hello.flac"


def test_audio_objects_from_a_file_and_from_bytes(shell, server):
    shell.user_ns["player"] = Audio(filename=fixture("hello.wav"))
    shell.user_ns["mp3_player"] = Audio(data=(FIXTURES / "hello.mp3").read_bytes())
    assert run(shell, "%transcribe player mp3_player").success
    first, second = (upload(r) for r in server.requests)
    assert (first.filename, first.data) == ("hello.wav", (FIXTURES / "hello.wav").read_bytes())
    assert (second.filename, second.content_type) == ("mp3_player.mp3", "audio/mpeg")
    assert second.data == (FIXTURES / "hello.mp3").read_bytes()


def test_a_glob_runs_every_match_in_order_with_progress_and_stores_a_list(shell, server, capsys):
    assert run(shell, f"%transcribe {FIXTURES}/hello.m* -o r").success
    names = [upload(r).filename for r in server.requests]
    assert names == ["hello.m4a", "hello.mp3", "hello.mp4", "hello.mpeg", "hello.mpga"]
    out = capsys.readouterr().out
    assert f"2/5 {FIXTURES}/hello.mp3" in out and f"5/5 {FIXTURES}/hello.mpga" in out
    assert [r.filename for r in shell.user_ns["r"]] == names


def test_containers_are_recognised_from_their_bytes():
    found = {p.suffix[1:]: sniff_extension(p.read_bytes()) for p in FIXTURES.glob("hello.*")}
    assert found == {"flac": "flac", "m4a": "m4a", "mp3": "mp3", "ogg": "ogg", "wav": "wav",
                     "webm": "webm", "mp4": "m4a", "mpeg": "mp3", "mpga": "mp3"}
    assert sniff_extension(b"not audio at all") is None


# --- validation: one line, and nothing is sent --------------------------------------------


def big_file(tmp_path):
    path = tmp_path / "long.mp3"
    with open(path, "wb") as handle:
        handle.truncate(26 * 1024 * 1024)  # sparse: no 26 MiB written to disk
    return path


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("%transcribe {fixtures}/nope.mp3", "no such file"),
        ("%transcribe nothing_called_this", "no file or variable named 'nothing_called_this'"),
        ("%transcribe {tmp}/notes.txt", "flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm"),
        ("%transcribe {tmp}/long.mp3", "26.0 MiB"),
        ("%transcribe {tmp}/empty.wav", "empty"),
        ("%transcribe {tmp}", "is a directory"),
        ("%transcribe {fixtures}/*.aiff", "no file matches"),
        ("%transcribe {fixtures}/hello.mp3 {fixtures}/nope.wav", "no such file"),
        ("%transcribe noise", "unknown audio format"),
        ("%transcribe number", "is a int"),
        ("%transcribe remote", "download the file"),
        ("%transcribe --stream {fixtures}/hello.mp3", "--stream needs gpt-4o-transcribe"),
        ("%transcribe --translate --stream {fixtures}/hello.mp3", "--translate cannot be combined"),
        ("%transcribe --translate -l de {fixtures}/hello.mp3", "--translate cannot be combined"),
        ("%transcribe --translate -m gpt-4o-transcribe {fixtures}/hello.mp3", "does not work with"),
        ("%transcribe --timestamps word {fixtures}/hello.mp3", "--timestamps needs -f verbose_json"),
        ("%transcribe -m gpt-4o-transcribe -f srt {fixtures}/hello.mp3", "answers only json or text"),
        ("%transcribe -l english {fixtures}/hello.mp3", "two-letter ISO-639-1"),
        ("%transcribe -t 1.5 {fixtures}/hello.mp3", "between 0 and 1"),
        ("%transcribe -f docx {fixtures}/hello.mp3", "invalid choice"),
        ("%transcribe", "SOURCE"),
    ],
)
def test_invalid_input_is_one_line_and_sends_nothing(shell, server, tmp_path, capsys, cell, expected):
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    big_file(tmp_path)
    shell.user_ns.update(noise=b"\x00\x01 not a known container", number=42,
                         remote=Audio(url="http://127.0.0.1:9/clip.mp3", embed=False))
    message = failure(run(shell, cell.format(fixtures=FIXTURES, tmp=tmp_path), expect=UsageError))
    assert expected in message
    assert server.requests == []
    assert "Traceback" not in capsys.readouterr().err


def test_the_size_error_suggests_compressing_or_splitting(shell, server, tmp_path):
    message = failure(run(shell, f"%transcribe {big_file(tmp_path)}", expect=UsageError))
    assert "at most 25 MiB" in message and "compress" in message and "split" in message


# --- streaming -----------------------------------------------------------------------------


def test_streaming_sends_stream_true_and_prints_the_deltas(shell, server, capsys):
    assert run(shell, f"%transcribe -m gpt-4o-mini-transcribe --stream {fixture('hello.wav')} -o r").success
    assert field_dict(server.requests[0])["stream"] == "true"
    r = shell.user_ns["r"]
    assert r.text.startswith("[practice transcript] hello.wav") and r.usage["type"] == "tokens"
    out = capsys.readouterr().out
    assert out.count(r.text) == 1


def test_streaming_renders_deltas_progressively_and_stops_at_done(shell, server, magics, notebook, frontend):
    events = [sse_event({"type": "transcript.text.delta", "delta": d}) for d in ("One", " two", " three")]
    events.append(sse_event({"type": "transcript.text.done", "text": "One two three."}))
    events.append(sse_event({"type": "transcript.text.delta", "delta": " after done"}))
    # The deltas arrive a tenth of a second apart (far more than a frame), so each is drawn as
    # it comes; a burst in one read would rightly coalesce into one draw.
    server.script(TRANSCRIBE, Scripted(chunks=events, chunk_delay=0.1))
    magics.render_interval = 0.0
    # Redaction holds back a tail that could grow into a run of the key ("e" could start
    # "est-SECRET..."); a key with none of these letters lets each delta show at once.
    magics.state.settings.api_key = Secret("sk-" + "Z" * 40)
    try:
        assert run(shell, f"%transcribe -m gpt-4o-transcribe --stream {fixture('hello.mp3')} -o r").success
    finally:
        magics.render_interval = 0.05
    (page,) = frontend.pages.values()
    drawn = [op[3] for op in page.ops if op[0] == "o"]
    assert "".join(drawn).endswith("One two three") and len(drawn) >= 2  # drawn as it came
    assert shell.user_ns["r"].text == "One two three."
    assert "after done" not in json.dumps([message["data"] for message in notebook.messages])


def test_redraws_are_throttled_and_the_last_one_shows_everything(notebook, frontend):
    ticks = iter([0.0, 0.0, 0.01, 0.02, 1.5, 1.5] + [2.0] * 20)  # each draw reads the clock twice
    display = TranscribeDisplay(rich=True, streaming=True, render_interval=1.0, clock=lambda: next(ticks))
    display.transcript_begin(1, 1, AudioSource("clip", "clip.wav", 4, data=b"RIFF"))
    for piece in ("a", "b", "c", "d"):
        display.transcript_delta(piece)
    (page,) = frontend.pages.values()
    drawn = [op[3] for op in page.ops if op[0] == "o"]
    assert [d[-1:] for d in drawn] == ["a", "d"] and drawn[-1].endswith("bcd")  # two draws, all shown
    display.transcript_end(TranscriptResult(text="abcd", source="clip", filename="clip.wav", model="m"))
    display.close()
    assert "abcd" in notebook.messages[-1]["data"]["text/html"]


def test_a_stream_without_done_keeps_the_deltas(shell, server):
    events = [sse_event({"type": "transcript.text.delta", "delta": d}) for d in ("Only", " this")]
    server.script(TRANSCRIBE, Scripted(chunks=events))
    assert run(shell, f"%transcribe -m gpt-4o-transcribe --stream {fixture('hello.mp3')} -o r").success
    assert shell.user_ns["r"].text == "Only this"


def test_a_broken_stream_keeps_the_partial_transcript_and_says_so(shell, server, capsys):
    events = [sse_event({"type": "transcript.text.delta", "delta": d}) for d in ("Cut", " short", " !")]
    server.script(TRANSCRIBE, Scripted(chunks=events, abort_after=2))
    message = failure(run(shell, f"%transcribe -m gpt-4o-transcribe --stream {fixture('hello.mp3')} -o r", expect=UsageError))
    assert "broke" in message and "partial transcript is kept" in message
    r = shell.user_ns["r"]
    assert (r.text, r.partial) == ("Cut short", True)
    assert "Cut short" in capsys.readouterr().out


# --- conversations, several sources, display ----------------------------------------------


def test_conversation_receives_the_transcript_and_the_next_chat_sends_it(shell, server):
    assert run(shell, f"%transcribe -c notes {fixture('hello.wav')} -o t").success
    transcript = shell.user_ns["t"].text
    messages = session_of(shell).conversations["notes"].messages
    assert [m.role for m in messages] == ["user"] and transcript in messages[0].content
    run(shell, "%%chat -c notes\n[[echo]] Summarize it")
    sent = server.requests[-1].json["messages"]
    assert sent[0]["role"] == "user" and sent[0]["content"].startswith("Transcript of hello.wav:")
    assert transcript in sent[0]["content"]
    assert sent[-1]["content"] == "[[echo]] Summarize it"


def test_several_sources_one_failing_keeps_the_others_and_reports_in_one_line(shell, server, capsys):
    error = b'{"error": {"message": "Audio file might be corrupted", "code": "invalid_value"}}'
    server.script(TRANSCRIBE, Scripted(200, {}, b'{"text": "first file"}'), Scripted(400, {}, error))
    cell = f"%transcribe -c notes {fixture('hello.wav')} {fixture('hello.mp3')} {fixture('hello.ogg')} -o r"
    message = failure(run(shell, cell, expect=UsageError))
    assert len(server.requests) == 3
    assert message.startswith("1 of 3 failed — ") and "hello.mp3" in message
    assert "Audio file might be corrupted" in message and "2 kept in r" in message
    results = shell.user_ns["r"]
    assert [r.filename for r in results] == ["hello.wav", "hello.ogg"]
    assert results[0].text == "first file"
    out = capsys.readouterr().out
    assert "first file" in out and results[1].text in out
    assert len(session_of(shell).conversations["notes"].messages) == 2


def test_a_notebook_gets_an_embedded_player_and_escaped_transcript(shell, server, notebook):
    body = json.dumps({"text": "<script>alert(1)</script> **said**"}).encode()
    server.script(TRANSCRIBE, Scripted(200, {}, body))
    assert run(shell, f"%transcribe {fixture('hello.mp3')}").success
    final = notebook.messages[-1]["data"]["text/html"]  # one block: the player, then the transcript
    player, transcript = final.split("</audio>", 1)
    assert "<audio" in player and "data:audio/mpeg;base64," in player
    assert "<script>" not in transcript and "&lt;script&gt;" in transcript
    assert "hello.mp3" in transcript and "whisper-1" in transcript


def test_a_notebook_shows_segments_as_an_html_table(shell, server, notebook):
    assert run(shell, f"%transcribe -f vtt {fixture('hello.wav')}").success
    transcript = notebook.messages[-1]["data"]["text/html"]
    assert "<th style='text-align:left'>start</th>" in transcript
    assert "<td style='text-align:left'>00:00.00</td>" in transcript


def test_big_files_are_linked_by_relative_path_not_embedded(tmp_path):
    source = AudioSource("hello.wav", "hello.wav", 122446, path=fixture("hello.wav"))
    linked = player_bundle(source, embed_limit=1000, cwd=str(FIXTURES.parent))
    assert 'src="fixtures/hello.wav"' in linked["text/html"] and "base64" not in linked["text/html"]
    elsewhere = player_bundle(source, embed_limit=1000, cwd=str(tmp_path))
    assert "<audio" not in elsewhere["text/html"] and "no player" in elsewhere["text/plain"]
    embedded = player_bundle(source, cwd=str(tmp_path))
    assert "data:audio/wav;base64," in embedded["text/html"]


# --- subtitles -----------------------------------------------------------------------------


def test_srt_with_crlf_and_multiline_cues_is_parsed():
    srt = "1\r\n00:00:00,000 --> 00:00:01,500\r\nHello\r\nthere\r\n\r\n2\r\n01:02:03,250 --> 01:02:04,000\r\nBye\r\n"
    assert parse_cues(srt) == [Segment(0.0, 1.5, "Hello\nthere"), Segment(3723.25, 3724.0, "Bye")]


def test_vtt_with_notes_ids_settings_and_short_times_is_parsed():
    vtt = (
        "WEBVTT - a title\n\nNOTE written by hand\n\nintro\n00:01.000 --> 00:02.5 align:start\n"
        "<v Speaker>Hi\n\n00:00:03.000 --> 00:00:04.000\nMore\n"
    )
    assert parse_cues(vtt) == [Segment(1.0, 2.5, "<v Speaker>Hi"), Segment(3.0, 4.0, "More")]


def test_a_streamed_transcript_reaches_a_terminal_without_control_sequences(shell, server, capsys):
    hostile = ["Hello \x1b]52;c;ZXZpbA==\x07", "there\x1b[2J", " \x1b[31mred\x1b[0m."]
    events = [sse_event({"type": "transcript.text.delta", "delta": d}) for d in hostile]
    events.append(sse_event({"type": "transcript.text.done", "text": "Hello there red."}))
    server.script(TRANSCRIBE, Scripted(chunks=events))
    assert run(shell, f"%transcribe -m gpt-4o-transcribe --stream {fixture('hello.mp3')}").success
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out  # no clipboard write, clear screen or colour
    assert "Hello" in out and "there" in out and "red" in out
    assert "\\x1b]52;c;ZXZpbA==" in out  # shown as escapes (CONTRACTS 5), never written raw


def test_an_upload_from_bytes_shows_its_name_and_size_not_its_bytes():
    """A script printing a run's events (TranscriptBegin carries the source) must not dump the
    whole recording: 400 KB of b'RIFF…' filled the screen for one printed event."""
    from oai_magic.core.audio_sources import from_bytes

    wav = (Path(__file__).parent / "fixtures" / "hello.wav").read_bytes()
    shown = repr(from_bytes("memo", wav))
    assert "memo" in shown and str(len(wav)) in shown
    assert len(shown) < 300


@pytest.mark.parametrize("text", [None, {"a": 1}, ["x"], True])
def test_a_segment_whose_text_is_not_text_shows_as_empty_not_as_a_python_value(text):
    from oai_magic.core.transcription_result import segment_of

    assert segment_of({"start": 0, "end": 1, "text": text, "speaker": "A"}).text == ""
