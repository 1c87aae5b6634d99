"""A microphone recording and its transcript: what ``%transcribe --mic -o VAR`` stores.

The kernel cannot receive widget messages while a cell runs, so ``%transcribe --mic`` returns at
once and this object fills in later: ``audio`` when the recording stops, ``text`` when the
transcript arrives. ``await VAR`` waits for it from a later cell (the kernel handles widget
messages during an ``await``); ``VAR.wait()`` blocks, so it refuses in one line while the
recording is still going (a blocking call then would stop the very messages it waits for).

The recording is never lost: the audio stays here whatever the transcription does, ``save``
writes it, and ``%transcribe VAR`` sends it again. The browser's pieces are untrusted:
:class:`PcmAssembly` bounds their size, their count and the whole duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import threading
import wave
from typing import Any, Callable, List, Optional, Tuple

from ..errors import OAIError
from ..plain_text import shortened, terminal_safe

RATE = 16_000  # samples per second: 16 kHz mono 16-bit PCM, 32,000 bytes a second
BYTES_PER_SAMPLE = 2
STATES = ("waiting", "recording", "transcribing", "done", "failed")


class RecordingError(OAIError):
    """A recording's transcript failed or is not there yet: one line, no traceback."""

    def _render_traceback_(self) -> list:
        return [terminal_safe(str(self))]


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    """16-bit little-endian mono PCM packed as a WAV file (its header says the exact length)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(BYTES_PER_SAMPLE)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def wav_seconds(data: bytes) -> Optional[float]:
    """The duration a WAV file's header states, or None for anything else."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


class PcmAssembly:
    """The pieces of one recording, as the browser sends them, bounded at every step.

    ``add`` returns None, or the one line that ends the recording (what arrived before it is
    kept): a piece out of order, too big, one piece too many, or the duration limit reached
    (the audio is then cut at exactly ``max_s``).
    """

    def __init__(self, *, max_s: float, max_chunk_bytes: int, max_chunks: int,
                 rate: int = RATE) -> None:
        self.rate, self.max_s = rate, max_s
        self.max_chunk_bytes, self.max_chunks = max_chunk_bytes, max_chunks
        self.max_bytes = int(max_s * rate) * BYTES_PER_SAMPLE
        self.pieces: List[bytes] = []
        self.size = 0
        self.ended: Optional[str] = None

    @property
    def seconds(self) -> float:
        return self.size / BYTES_PER_SAMPLE / self.rate

    def add(self, seq: Any, data: bytes) -> Optional[str]:
        if self.ended:
            return None  # pieces sent after the end (already in flight) are dropped quietly
        problem = self._refusal(seq, data)
        if problem is None:
            room = self.max_bytes - self.size
            piece = bytes(data[:room])
            piece = piece[: len(piece) - len(piece) % BYTES_PER_SAMPLE]
            self.pieces.append(piece)
            self.size += len(piece)
            if len(data) > room or self.size >= self.max_bytes:
                problem = (f"The recording reached max_recording_s ({self.max_s:g} s) and was "
                           f"stopped; the {self.seconds:.1f} s recorded are kept.")
        self.ended = problem
        return problem

    def _refusal(self, seq: Any, data: bytes) -> Optional[str]:
        kept = f"the recording was stopped; the {self.seconds:.1f} s before it are kept."
        if len(data) > self.max_chunk_bytes:
            return (f"A piece of the recording was {len(data)} bytes, more than "
                    f"max_recording_chunk_bytes ({self.max_chunk_bytes}): {kept}")
        if len(self.pieces) >= self.max_chunks:
            return (f"The recording came in more than max_recording_chunks "
                    f"({self.max_chunks}) pieces: {kept}")
        if isinstance(seq, bool) or seq != len(self.pieces):
            return f"A piece of the recording arrived out of order: {kept}"
        return None

    def wav(self) -> bytes:
        return wav_bytes(b"".join(self.pieces), self.rate)


class Recording:
    """The audio of one ``%transcribe --mic`` and, once it arrives, its transcript.

    ``audio`` is the WAV file's bytes; ``result`` the ``TranscriptResult``; ``error`` the one
    line saying why there is no transcript. ``state`` is one of waiting, recording,
    transcribing, done, failed.
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.audio: Optional[bytes] = None
        self.result: Any = None
        self.error: Optional[str] = None
        self.state = "waiting"
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: List[Tuple[Any, Any]] = []  # (event loop, future) of each ``await``
        self.recorder: Any = None  # the widget that records it, when there is one

    # --- what a user reads ------------------------------------------------------------------

    @property
    def text(self) -> Optional[str]:
        """The transcript, or None until it arrives."""
        return self.result.text if self.result is not None else None

    @property
    def duration(self) -> Optional[float]:
        """Seconds of audio recorded (exact: from the WAV header)."""
        return wav_seconds(self.audio) if self.audio else None

    def save(self, path: str) -> str:
        """Write the recording (WAV) to ``path``; returns the path written."""
        if not self.audio:
            raise RecordingError(f"{self.name} holds no recording yet: press Record, then Stop.")
        path = os.path.expanduser(path)
        with open(path, "wb") as handle:
            handle.write(self.audio)
        return path

    def wait(self, timeout: Optional[float] = None) -> Any:
        """The TranscriptResult, once it arrived; a failure raises its one line."""
        if self.state in ("waiting", "recording"):
            raise RecordingError(
                f"{self.name} is still {'recording' if self.state == 'recording' else 'waiting for Record'}"
                f": press Stop first, or use `await {self.name}`, which lets the recorder's "
                "messages through while it waits.")
        if not self._done.wait(timeout):
            raise RecordingError(f"{self.name}'s transcript did not arrive within {timeout:g} s.")
        return self._outcome()

    def __await__(self) -> Any:
        return self._wait_async().__await__()

    async def _wait_async(self) -> Any:
        with self._lock:
            if not self._done.is_set():
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                self._waiters.append((loop, future))
            else:
                future = None
        if future is not None:
            await future
        return self._outcome()

    def _outcome(self) -> Any:
        if self.error is not None:
            raise RecordingError(self.error)
        return self.result

    def __repr__(self) -> str:
        seconds = self.duration
        audio = f"{seconds:.1f} s" if seconds is not None else "no audio yet"
        text = self.text if self.text is None else shortened(self.text, 60)
        return terminal_safe(f"<Recording {self.name} {self.state}: {audio}, text={text!r}>")

    # --- what the recorder and the transcription tell it ----------------------------------------

    def started(self) -> None:
        self.state = "recording"

    def stopped(self, audio: bytes) -> None:
        self.audio, self.state = audio, "transcribing"

    def finished(self, result: Any = None, error: Optional[str] = None,
                 announce: Callable[[], None] = lambda: None) -> None:
        """The transcript arrived (or ``error`` says why not). ``announce`` shows it first, so
        whoever was waiting wakes to a page that says so too; then every waiter wakes."""
        self.result, self.error = result, error
        self.state = "failed" if error is not None else "done"
        try:
            announce()
        finally:
            with self._lock:
                self._done.set()
                waiters, self._waiters = self._waiters, []
            for loop, future in waiters:
                with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody waits
                    loop.call_soon_threadsafe(lambda f=future: f.done() or f.set_result(None))
