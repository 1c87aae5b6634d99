"""``%transcribe --mic``: wiring only. Check everything, show the recorder and the line under it,
store the Recording in ``-o VAR``, return at once; the recorder's messages do the rest.

The cell's output is the recorder, then one output drawn by its display id (so it can change
after the cell ended, from any thread): a hint, a problem's one line, then the transcript run
(``TranscribeDisplay`` on the Session's transcription run, as for a file).
"""

from __future__ import annotations

import html
import os
from typing import Any

from IPython.core.error import UsageError

DEFAULT_NAME = "recording"


def record(magics: Any, args: Any, options: Any) -> None:
    if not args.mic:
        raise UsageError("--save writes a --mic recording: add --mic (a file is saved already)")
    if args.sources:
        raise UsageError(f"--mic records instead of a SOURCE: drop {args.sources[0]!r}, or --mic")
    if not magics.rich_display():
        raise UsageError("%transcribe --mic needs a notebook open in a browser (JupyterLab, "
                         "Jupyter Notebook): this frontend shows no widgets. Record a file and "
                         "pass its path.")
    name = args.out or DEFAULT_NAME
    if not name.isidentifier():
        raise UsageError(f"-o takes a variable name, got {name!r}")
    save = _checked_save_path(args.save) if args.save else None

    from IPython.display import display

    from ..core.recording import Recording
    from ..core.recording_run import transcribe_recording
    from ..ui.recorder import Recorder
    from ..ui.transcript import TranscribeDisplay

    session, settings = magics.state, magics.settings
    recording = Recording(name)

    def problem(line: str) -> None:
        if recording.state in ("waiting", "recording"):
            under.update(_line_bundle(line), raw=True)

    def audio(wav: bytes) -> None:
        recording.stopped(wav)
        saved = ""
        if save:
            try:
                recording.save(save)
                saved = f" — saved to {save}"
            except OSError as exc:
                saved = f" — could not save to {save}: {exc.strerror or exc}"
        recorder.say(f"Recorded {recording.duration:.1f} s{saved}; transcribing…")
        under.update(_line_bundle(f"{name}.audio holds the recording ({recording.duration:.1f} s)"
                                  f"{saved}."), raw=True)
        view = TranscribeDisplay(rich=True, streaming=options.stream, handle=transcript,
                                 render_interval=settings.render_interval)
        transcribe_recording(session, recording, options, view, on_end=ended)

    def ended(error: Any) -> None:
        if error:
            recorder.say(error)
            transcript.update(_line_bundle(error), raw=True)
        else:
            recorder.say(f"Transcribed {recording.duration:.1f} s: {name}.text holds the transcript.")

    recorder = Recorder(audio, on_start=recording.started, on_problem=problem,
                        max_s=settings.max_recording_s,
                        max_chunk_bytes=settings.max_recording_chunk_bytes,
                        max_chunks=settings.max_recording_chunks, once=True)
    recording.recorder = recorder
    earlier = magics.shell.user_ns.get(name)
    if isinstance(earlier, Recording) and earlier.recorder and earlier.state == "waiting":
        earlier.recorder.close()  # the cell ran again before anything was recorded
    magics.shell.user_ns[name] = recording
    recorder.show()
    under = display(_line_bundle(f"Press Record, then Stop recording: the result goes to {name} "
                                 f"(await {name} waits for its transcript)."),
                    raw=True, display_id=True)
    transcript = display({"text/plain": ""}, raw=True, display_id=True)


def _checked_save_path(path: str) -> str:
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        raise UsageError(f"--save takes a file path, and {path!r} is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--save: no folder {folder!r} to write {os.path.basename(path)!r} in")
    return path


def _line_bundle(line: str) -> dict:
    """One line as the cell shows it (server words in it: redacted, escaped, cleaned)."""
    from ..plain_text import terminal_safe
    from ..redaction import redact_outbound

    line = terminal_safe(line)
    return redact_outbound({"text/plain": line, "text/html": f'<div class="oai-mic-line '
                            f'tex2jax_ignore mathjax_ignore" style="opacity:0.8">{html.escape(line)}</div>'})
