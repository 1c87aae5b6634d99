"""The panel's microphone (issue 28, point 2): the Record button beside the message box, driven
by the messages recorder.js sends (through the widget's comm, as tests/test_microphone.py does);
the transcript comes from the practice server over a real socket and lands in the box, unsent.
The browser half is in tests/test_e2e_microphone.py."""

from __future__ import annotations

import pytest

from oai_magic.core.recording import wav_seconds
from oai_magic.core.session import session_of

from .conftest import run
from .test_microphone import page_sends, record_in_pieces, said, speech_pcm


def test_a_recording_lands_in_the_message_box_after_the_text_typed_and_is_not_sent(shell, panel, server):
    p = panel()
    recorder = p.microphone.recorder
    assert p.input_controls.children == (recorder.widget,)  # beside the box, before Send
    p.input.value = "Please summarise:"
    pcm = speech_pcm()
    record_in_pieces(recorder, pcm)
    p.wait(30)
    assert p.input.value.startswith("Please summarise:\n[practice transcript] recording.wav: I heard 3.8 s")
    assert p.input.disabled is False  # the box is the user's again, to edit before Send
    assert "Transcribed 3.8 s into the message box: edit it, then Send" in p.status.value
    assert wav_seconds(p.last_recording.audio) == len(pcm) / 32000
    assert shell.user_ns["panel_recording"] is p.last_recording
    assert [r.path for r in server.requests] == ["/v1/audio/transcriptions"]  # nothing was sent
    assert "default" not in session_of(shell).conversations


def test_the_panels_transcription_model_streams_into_the_box(shell, panel, server, frontend):
    server.token_delay = 0.02  # paced: pieces that arrive in one read come as one delta
    p = panel(transcribe_model="gpt-4o-mini-transcribe", render_interval=0.0)
    values = []
    p.input.observe(lambda change: values.append(change["new"]), "value")
    record_in_pieces(p.microphone.recorder, speech_pcm())
    p.wait(30)
    upload = server.requests[-1]
    assert b"gpt-4o-mini-transcribe" in upload.body and b'name="stream"' in upload.body
    assert len(values) > 2 and values[-1].startswith("[practice transcript] recording.wav: I heard 3.8 s")
    assert all(values[-1].startswith(v) for v in values)  # it grew piece by piece


def test_a_failed_transcription_keeps_the_audio_and_says_how_to_retry_in_one_line(shell, panel, frontend):
    p = panel()
    working = p.state.settings.base_url
    p.state.settings.base_url = "http://127.0.0.1:9/v1"  # nothing listens there
    p.input.value = "kept as typed"
    record_in_pieces(p.microphone.recorder, speech_pcm())
    p.wait(60)
    line = p.last_recording.error
    assert line.startswith("Transcription failed: ") and "\n" not in line
    assert line.endswith("the audio is kept in panel_recording.audio; retry with %transcribe panel_recording")
    assert "retry with %transcribe panel_recording" in p.status.value
    assert said(frontend, p.microphone.recorder)[-1] == line
    assert p.input.value == "kept as typed" and p.input.disabled is False
    p.state.settings.base_url = working
    run(shell, "%transcribe panel_recording -o again")
    assert "recording.wav: I heard 3.8 s" in shell.user_ns["again"].text


def test_record_is_disabled_while_a_turn_runs_but_a_recording_going_on_can_stop(shell, panel, server):
    server.token_delay = 0.05
    p = panel()
    recorder = p.microphone.recorder
    page_sends(recorder, {"kind": "ready", "problem": None})
    p.send("A long one. [[tokens=200]]")
    assert recorder.widget.disabled is True
    p.stop()
    p.wait(10)
    assert recorder.widget.disabled is False
    page_sends(recorder, {"kind": "start", "rate": 16000})
    p.send("Another. [[tokens=200]]")
    assert recorder.widget.disabled is False  # Stop recording stays pressable
    p.stop()
    p.wait(10)


@pytest.mark.parametrize("problem", ["denied", "no-device"])
def test_a_microphone_problem_is_one_line_in_the_panels_status(shell, panel, frontend, problem):
    from oai_magic.ui.recorder import PROBLEMS

    p = panel()
    page_sends(p.microphone.recorder, {"kind": "failure", "problem": problem, "detail": ""})
    assert PROBLEMS[problem].split(":")[0] in p.status.value


def test_closing_the_panel_closes_its_recorder(shell, panel):
    p = panel()
    widget = p.microphone.recorder.widget
    p.close()
    assert widget.comm is None


def test_the_panels_help_mentions_record(magics):
    doc = " ".join(magics.chat_panel.__doc__.split())
    assert "Record (beside the message box) transcribes a recording into the box" in doc
