"""``%transcribe --mic``: the recorder's kernel side, driven by the custom messages recorder.js
sends (the real protocol, through the widget's comm), against the practice server."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from oai_magic.core.recording import PcmAssembly, Recording, RecordingError, wav_seconds
from oai_magic.ui.recorder import NEEDS_BROWSER, PROBLEMS, Recorder

from .conftest import run
from .recording import Notebook

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"


def speech_pcm() -> bytes:
    """16 kHz mono 16-bit PCM of real speech (about 3.8 s)."""
    with wave.open(str(HELLO), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


def page_sends(recorder: Recorder, content: dict, *buffers: bytes) -> None:
    """What recorder.js's ``model.send(content, undefined, buffers)`` delivers to the kernel."""
    recorder.widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}},
                                     "buffers": [memoryview(b) for b in buffers]})


def record_in_pieces(recorder: Recorder, pcm: bytes, piece: int = 16_000) -> None:
    page_sends(recorder, {"kind": "ready", "problem": None})
    page_sends(recorder, {"kind": "start", "rate": 16000})
    for seq, at in enumerate(range(0, len(pcm), piece)):
        page_sends(recorder, {"kind": "chunk", "seq": seq}, pcm[at:at + piece])
    page_sends(recorder, {"kind": "stop", "samples": len(pcm) // 2, "reason": "user"})


def said(frontend, recorder: Recorder) -> list:
    """The lines the kernel sent the recorder to show, in order."""
    return [m["line"] for m in frontend.custom_to(recorder.widget.model_id) if m.get("kind") == "say"]


@pytest.fixture
def mic(shell, frontend):
    """Run a %transcribe --mic line in a notebook; returns (Recording, its Recorder, the messages)."""
    with Notebook(shell) as publisher:  # the cell's outputs change after it ended: keep them all
        def start(line: str, name: str = "r"):
            run(shell, line)
            recording = shell.user_ns[name]
            return recording, recording.recorder, publisher
        yield start


def test_the_magic_returns_at_once_with_a_recorder_that_says_it_needs_a_browser(mic, shell):
    recording, recorder, publisher = mic("%transcribe --mic -o r")
    assert isinstance(recording, Recording) and recording.state == "waiting"
    shown = [m["data"] for m in publisher.messages if m["kind"] == "display"]
    assert shown[0]["text/plain"] == NEEDS_BROWSER  # what nbclient, nbconvert and a saved copy show
    assert "application/vnd.jupyter.widget-view+json" in shown[0]
    assert "Press Record" in shown[1]["text/plain"] and "await r" in shown[1]["text/plain"]


def test_a_recording_sent_in_pieces_becomes_exact_wav_audio_and_a_transcript(mic, shell, server, tmp_path):
    saved = tmp_path / "take.wav"
    recording, recorder, publisher = mic(f"%transcribe --mic -o r --save {saved} -c notes")
    pcm = speech_pcm()
    record_in_pieces(recorder, pcm)
    result = recording.wait(30)
    assert recording.audio[:4] == b"RIFF" and wav_seconds(recording.audio) == len(pcm) / 32000
    assert saved.read_bytes() == recording.audio
    assert recording.text == result.text
    assert "recording.wav: I heard 3.8 s of 16 kHz mono audio" in recording.text  # the server read it
    assert recording.state == "done"
    upload = server.requests[-1]
    assert upload.path.endswith("/audio/transcriptions")
    assert recording.audio in upload.body  # the WAV went up whole
    assert shell.user_ns["r"] is recording
    session = shell.magics_manager.registry["OAIMagics"].state
    assert "recording.wav" in session.conversations["notes"].messages[-1].content
    updates = [m for m in publisher.messages if m["kind"] == "update"]
    assert any("recording.wav" in m["data"].get("text/plain", "") for m in updates)


def test_await_waits_for_the_transcript(mic):
    recording, recorder, _ = mic("%transcribe --mic -o r")

    async def later_cell():
        record_in_pieces(recorder, speech_pcm())
        return await recording

    assert asyncio.run(later_cell()).text == recording.text


def test_wait_while_recording_refuses_in_one_line(mic):
    recording, recorder, _ = mic("%transcribe --mic -o r")
    page_sends(recorder, {"kind": "start", "rate": 16000})
    with pytest.raises(RecordingError) as caught:
        recording.wait()
    assert str(caught.value).startswith("r is still recording: press Stop first, or use `await r`")
    assert caught.value._render_traceback_() == [str(caught.value)]


def test_a_failed_transcription_keeps_the_audio_and_says_how_to_retry(mic, shell):
    session = shell.magics_manager.registry["OAIMagics"].state
    working = session.settings.base_url
    session.settings.base_url = "http://127.0.0.1:9/v1"  # nothing listens there
    recording, recorder, _ = mic("%transcribe --mic -o r")
    record_in_pieces(recorder, speech_pcm())
    with pytest.raises(RecordingError) as caught:
        recording.wait(60)
    line = str(caught.value)
    assert line.startswith("Transcription failed: ") and "\n" not in line
    assert line.endswith("the audio is kept in r.audio; retry with %transcribe r")
    assert recording.state == "failed" and wav_seconds(recording.audio) == pytest.approx(3.825, abs=0.01)
    session.settings.base_url = working
    run(shell, "%transcribe r -o again")
    assert "recording.wav" in shell.user_ns["again"].text


def test_the_duration_limit_cuts_the_recording_at_exactly_max_recording_s(mic, magics, frontend):
    magics.max_recording_s = 1.0
    try:
        recording, recorder, _ = mic("%transcribe --mic -o r")
    finally:
        magics.max_recording_s = 600.0
    record_in_pieces(recorder, speech_pcm(), piece=6_000)
    recording.wait(30)
    assert wav_seconds(recording.audio) == 1.0
    assert said(frontend, recorder)[1] == ("The recording reached max_recording_s (1 s) and was "
                                           "stopped; the 1.0 s recorded are kept.")
    assert {"kind": "stop"} in frontend.custom_to(recorder.widget.model_id)


@pytest.mark.parametrize("seq, size, line", [
    (0, 300_000, "A piece of the recording was 300000 bytes, more than max_recording_chunk_bytes "
                 "(262144): the recording was stopped; the 0.5 s before it are kept."),
    (5, 1_000, "A piece of the recording arrived out of order: the recording was stopped; the "
               "0.5 s before it are kept."),
    (True, 1_000, "A piece of the recording arrived out of order: the recording was stopped; the "
                  "0.5 s before it are kept."),
])
def test_pieces_the_browser_should_not_send_end_the_recording_keeping_what_came(seq, size, line):
    assembly = PcmAssembly(max_s=600, max_chunk_bytes=262144, max_chunks=10)
    assert assembly.add(0, b"\x01\x00" * 8000) is None
    assert assembly.add(seq, b"\x00" * size) == line
    assert wav_seconds(assembly.wav()) == 0.5
    assert assembly.add(1, b"\x00" * 100) is None and assembly.size == 16000  # dropped


def test_too_many_pieces_end_the_recording():
    assembly = PcmAssembly(max_s=600, max_chunk_bytes=1000, max_chunks=3)
    assert [assembly.add(i, b"\x00" * 320) for i in range(3)] == [None] * 3
    assert assembly.add(3, b"\x00" * 320) == ("The recording came in more than max_recording_chunks "
                                              "(3) pieces: the recording was stopped; the 0.0 s before "
                                              "it are kept.")
    assert len(assembly.pieces) == 3


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_each_microphone_failure_is_one_line_in_the_widget_and_the_cell(problem, mic, frontend):
    recording, recorder, publisher = mic("%transcribe --mic -o r")
    page_sends(recorder, {"kind": "failure", "problem": problem, "detail": "ignored"})
    assert said(frontend, recorder) == [PROBLEMS[problem]]
    assert publisher.messages[-1]["kind"] == "update"
    assert publisher.messages[-1]["data"]["text/plain"] == PROBLEMS[problem]
    assert recording.audio is None and recording.state == "waiting"


def test_a_page_that_cannot_record_says_so_as_soon_as_it_shows(mic, frontend):
    _, recorder, publisher = mic("%transcribe --mic -o r")
    page_sends(recorder, {"kind": "ready", "problem": "insecure"})
    assert said(frontend, recorder) == [PROBLEMS["insecure"]]
    assert publisher.messages[-1]["data"]["text/plain"] == PROBLEMS["insecure"]


def test_an_unknown_failure_shows_the_browsers_words_cut_and_cleaned(mic, frontend):
    _, recorder, _ = mic("%transcribe --mic -o r")
    page_sends(recorder, {"kind": "failure", "problem": "<b>odd</b>", "detail": "boom\x1b[31m " + "x" * 500})
    line = said(frontend, recorder)[0]
    assert line.startswith("The microphone could not start: boom\\x1b[31m xxx") and len(line) < 260


def test_an_empty_recording_is_one_line_and_the_button_stays_usable(mic, frontend):
    recording, recorder, _ = mic("%transcribe --mic -o r")
    page_sends(recorder, {"kind": "start", "rate": 16000})
    page_sends(recorder, {"kind": "stop", "samples": 0, "reason": "user"})
    assert said(frontend, recorder)[-1].startswith("The recording holds no audio")
    assert recorder.widget.disabled is False and recording.state == "recording"


@pytest.mark.parametrize("line, message", [
    ("%transcribe --mic talk.mp3", "--mic records instead of a SOURCE: drop 'talk.mp3', or --mic"),
    ("%transcribe --save x.wav talk.mp3", "--save writes a --mic recording: add --mic"),
    ("%transcribe", "%transcribe needs a SOURCE (a file, a glob or a variable), or --mic"),
    ("%transcribe --mic -o 2x", "-o takes a variable name, got '2x'"),
    ("%transcribe --mic --save /no/such/folder/x.wav", "--save: no folder '/no/such/folder'"),
    ("%transcribe --mic --stream -m whisper-1", "--stream needs gpt-4o-transcribe"),
])
def test_bad_mic_options_are_one_line_and_show_nothing(shell, line, message):
    with Notebook(shell) as publisher:
        error = run(shell, line, expect=UsageError)
    assert str(error).startswith(message)
    assert publisher.messages == []
    assert "r" not in shell.user_ns or not isinstance(shell.user_ns["r"], Recording)


def test_without_a_notebook_the_mic_asks_for_one(shell):
    error = run(shell, "%transcribe --mic", expect=UsageError)
    assert str(error).startswith("%transcribe --mic needs a notebook open in a browser")


def test_a_variable_without_audio_yet_cannot_be_transcribed(mic, shell):
    mic("%transcribe --mic -o r")
    error = run(shell, "%transcribe r", expect=UsageError)
    assert str(error) == "r holds no recording yet: press Record, then Stop recording"


def test_the_recorder_alone_hands_each_recording_to_its_host(frontend):
    """How a panel embeds it: one Recorder, many recordings, each as WAV bytes."""
    takes, problems = [], []
    recorder = Recorder(takes.append, on_problem=problems.append, max_s=60)
    pcm = speech_pcm()
    record_in_pieces(recorder, pcm)
    record_in_pieces(recorder, pcm[:32000])
    assert [wav_seconds(take) for take in takes] == [len(pcm) / 32000, 1.0]
    assert problems == [] and recorder.widget.disabled is False
    page_sends(recorder, {"kind": "start", "rate": 44100})
    assert problems == ["The microphone could not start: the page records at 44100 Hz, not 16000."]
    recorder.close()


def test_help_documents_the_microphone(magics):
    doc = " ".join(magics.transcribe.__doc__.split())
    assert "[--mic] [--save PATH]" in doc
    assert "--mic Record from the microphone instead of SOURCE" in doc
    assert "%config OAIMagics.max_recording_s (600 s)" in doc
    assert "A failed transcription keeps the audio: %transcribe VAR retries." in doc
    assert "--save PATH With --mic: also write the recording to PATH" in doc


def test_a_streamed_transcript_shows_under_the_recorder_as_it_comes(mic, frontend):
    recording, recorder, publisher = mic("%transcribe --mic -o r -m gpt-4o-mini-transcribe --stream")
    record_in_pieces(recorder, speech_pcm())
    result = recording.wait(30)
    surfaces = [page for model, page in frontend.pages.items() if model != recorder.widget.model_id]
    assert any("I heard 3.8 s" in region.visible() for page in surfaces for region in page.regions.values())
    final = [m for m in publisher.messages if m["kind"] == "update"][-1]["data"]
    assert result.text in final["text/plain"]  # the run ended as one static block, by its display id


def test_running_the_cell_again_before_recording_closes_the_first_recorder(mic, frontend):
    first, first_recorder, _ = mic("%transcribe --mic -o r")
    first_id = first_recorder.widget.model_id
    second, _, _ = mic("%transcribe --mic -o r")
    assert first_id in frontend.closed and second is not first


def test_a_server_error_quoting_the_key_is_masked_in_the_recorder_and_the_cell(mic, server, frontend):
    from oai_magic.practice import Scripted

    from .conftest import TEST_KEY

    body = json.dumps({"error": {"message": f"bad key {TEST_KEY} <b>x</b>\x1b[2J"}}).encode()
    server.script("/audio/transcriptions", Scripted(status=400, body=body,
                                                    headers={"Content-Type": "application/json"}))
    recording, recorder, publisher = mic("%transcribe --mic -o r")
    record_in_pieces(recorder, speech_pcm())
    with pytest.raises(RecordingError):
        recording.wait(30)
    shown = json.dumps([publisher.messages, frontend.custom_to(recorder.widget.model_id)])
    assert TEST_KEY not in shown and TEST_KEY[3:15] not in shown
    final = publisher.messages[-1]["data"]
    assert "&lt;b&gt;x&lt;/b&gt;" in final["text/html"] and "\x1b" not in final["text/plain"]
    assert recording.audio and final["text/plain"].endswith("retry with %transcribe r")
