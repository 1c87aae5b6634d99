"""A microphone recording's transcription: the Session's transcription run, in a helper thread.

``%transcribe --mic`` returned long ago when a recording stops, so its transcript is made here,
away from the kernel's main thread (the next cell can run meanwhile), and lands in the
``Recording`` whatever happens: its transcript, or one line saying why and how to retry.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from ..errors import OAIError
from ..plain_text import terminal_safe
from .recording import Recording


def retry_line(name: str, reason: str) -> str:
    """A failed transcription's one line: the reason, and how to send the kept audio again."""
    return terminal_safe(f"Transcription failed: {reason} — the audio is kept in {name}.audio; "
                         f"retry with %transcribe {name}")


def transcribe_recording(session: Any, recording: Recording, options: Any, view: Any,
                         on_end: Callable[[Optional[str]], None] = lambda error: None) -> threading.Thread:
    """Transcribe ``recording.audio`` in a helper thread (the kernel stays free for the next
    cell), as ``%transcribe`` does a file: the Session's transcription run played into ``view``
    (``-c NAME`` records it in that conversation). ``on_end(error)`` shows the outcome (error is
    None on success) BEFORE the recording wakes its waiters, so a later cell sees it shown."""
    from .audio_sources import from_bytes
    from .transcribe_setup import transcription_run

    def work() -> None:
        result, error = None, None
        try:
            source = from_bytes(recording.name, recording.audio or b"", "recording.wav")
            batch = transcription_run(session, [source], options).play(view)
            result = batch.results[0] if batch.results else None
            problem = batch.problem()
            if problem:
                error = retry_line(recording.name, problem)
        except OAIError as exc:
            error = retry_line(recording.name, str(exc))
        except Exception as exc:  # a bug must not leave `await` hanging: say it in one line
            error = retry_line(recording.name, f"{type(exc).__name__}: {exc}")
        finally:
            try:
                view.close()
            finally:
                recording.finished(result, error, announce=lambda: on_end(error))

    thread = threading.Thread(target=work, name="oai-mic-transcribe", daemon=True)
    thread.start()
    return thread
