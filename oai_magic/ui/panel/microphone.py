"""The panel's microphone (issue 28, point 2): a Record button beside the message box whose
recording is transcribed INTO the box, for editing before Send. It never sends by itself.

The button is ``ui.recorder.Recorder``, the widget of ``%transcribe --mic``; the transcription is
``core.recording_run.transcribe_recording``, the Session's transcription run in a helper thread
(the recorder hands over its audio inside the kernel's widget-message handler, which must not
block). The panel's transcription model is used (``ChatPanel(transcribe_model=...)``, else
``transcribe_model``), streamed into the box when the model streams.

The last recording is kept: ``panel.last_recording`` (a ``core.recording.Recording``: ``.audio``
the WAV bytes, ``.text`` its transcript), and, in a kernel, the variable ``panel_recording``, so
the one status line of a failed transcription can say ``retry with %transcribe panel_recording``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from ...core.events import View

RECORDING_NAME = "panel_recording"  # the kernel variable a failed transcription points to


class BoxDictation(View):
    """A transcription run shown in the message box: what was typed, then the transcript so far.

    The box is the user's to edit afterwards; while the run lasts it is disabled, so the text
    typed and the text arriving cannot interleave. Deltas are drawn at most once per
    ``render_interval`` (a value sync carries the whole box); the end draws the final text.
    """

    def __init__(self, box: Any, *, render_interval: float, key: Optional[str] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.box, self.render_interval, self.key, self.clock = box, render_interval, key, clock
        self.typed = ""
        self.text = ""
        self.drawn_at: Optional[float] = None

    def transcript_begin(self, index: int, total: int, source: Any) -> None:
        typed = self.box.value
        self.typed = typed.rstrip() + "\n" if typed.strip() else ""
        self.text = ""
        self.box.disabled = True

    def transcript_delta(self, text: str) -> None:
        self.text += text
        now = self.clock()
        if self.drawn_at is None or now - self.drawn_at >= self.render_interval:
            self.drawn_at = now
            self._draw()

    def transcript_end(self, result: Any) -> None:
        self.text = result.text or self.text
        self._draw()

    def close(self) -> None:
        """The run is over, whatever happened: what streamed stays, the box is the user's again."""
        self._draw()
        self.box.disabled = False

    def _draw(self) -> None:
        from ...redaction import redact

        if self.text:  # server words go into widget state: the key never does
            self.box.value = self.typed + redact(self.text.strip(), self.key)


class PanelMicrophone:
    """The Record button of one panel and the transcription of each of its recordings."""

    def __init__(self, panel: Any) -> None:
        from ..recorder import Recorder

        settings = panel.state.settings
        self.panel = panel
        self.thread: Optional[threading.Thread] = None  # the last transcription (wait() joins it)
        self.transcribing = False
        self.turn_running = False
        self.recorder = Recorder(self._on_audio, on_start=self._refresh, on_problem=self._problem,
                                 max_s=settings.max_recording_s,
                                 max_chunk_bytes=settings.max_recording_chunk_bytes,
                                 max_chunks=settings.max_recording_chunks)
        self.recorder.widget.add_class("oai-panel-recorder")

    def turn(self, running: bool) -> None:
        """A turn started or ended: no new recording meanwhile (one already going can stop)."""
        self.turn_running = running
        self._refresh()

    def _refresh(self) -> None:
        recording = self.recorder.recording
        self.recorder.widget.disabled = not recording and (self.turn_running or self.transcribing)

    def _problem(self, line: str) -> None:
        self.panel._set_status([line])

    def _on_audio(self, wav: bytes) -> None:
        """A recording stopped (in the widget-message handler): transcribe it in a thread."""
        from ...core.recording import Recording
        from ...core.recording_run import transcribe_recording
        from ...core.transcribe_setup import transcribe_options
        from ...core.transcription_options import _streams
        from ...errors import OAIError

        panel = self.panel
        recording = Recording(RECORDING_NAME)
        recording.stopped(wav)
        panel.last_recording = recording
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.user_ns[RECORDING_NAME] = recording
        model = panel._audio_model()
        try:
            options = transcribe_options(panel.state.settings, model=model, stream=_streams(model))
        except OAIError as exc:
            line = f"Transcription failed: {exc} — the audio is kept in {RECORDING_NAME}.audio"
            recording.finished(None, line, announce=lambda: self._ended(recording, line))
            return
        seconds = recording.duration or 0.0
        self.recorder.say(f"Recorded {seconds:.1f} s; transcribing…")
        panel._set_status([f"Transcribing the recording ({seconds:.1f} s) into the message box…"])
        view = BoxDictation(panel.input, render_interval=panel._interval(), key=panel._key())
        self.transcribing = True
        self.thread = transcribe_recording(panel.state, recording, options, view,
                                           on_end=lambda error: self._ended(recording, error))
        self._refresh()

    def _ended(self, recording: Any, error: Optional[str]) -> None:
        if error:
            self.recorder.say(error)
            self.panel._set_status([error])
        else:
            line = (f"Transcribed {recording.duration or 0.0:.1f} s into the message box: "
                    "edit it, then Send")
            self.recorder.say(f"Transcribed {recording.duration or 0.0:.1f} s")
            self.panel._set_status([line])
        self.transcribing = False
        self._refresh()
        self.panel.input.send({"focus": True})
