"""The microphone recorder: a reusable widget that hands its host the finished WAV bytes.

``Recorder(on_audio=callback)`` shows a button named "Record" ("Stop recording" while it
records), a level meter and the elapsed time (``recorder.js``). The browser sends 16 kHz mono
PCM while recording, in small binary pieces; this side assembles them within the limits
(``core.recording.PcmAssembly``) and calls ``on_audio(wav_bytes)`` when the recording stops.
Every problem is one line, shown in the widget and passed to ``on_problem`` (the host shows it
where it wants: ``%transcribe --mic`` in the cell's output, a panel in its status line).

It is used by ``%transcribe --mic`` and built to be embedded by the chat panel: ``recorder.widget``
is an ordinary ipywidget to put in a ``Box``. anywidget is imported when the first recorder is
made, never at load time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..core.recording import RATE, PcmAssembly
from ..plain_text import terminal_safe
from ..render.markdown import escape_html
from ..render.surface import WIDGET_MIME

NEEDS_BROWSER = ("The microphone recorder needs a browser: open this notebook in JupyterLab "
                 "or Jupyter Notebook and run the cell there (a saved or nbconvert-run notebook "
                 "shows this line instead).")
PROBLEMS = {
    "denied": "Microphone permission denied: allow the microphone for this page (the icon in "
              "the address bar), then press Record again.",
    "no-device": "No microphone found: connect one (or choose one in the system's sound "
                 "settings), then press Record again.",
    "insecure": "The microphone works only on a secure page (https, or localhost): open "
                "Jupyter at an https:// or http://localhost address, or record a file and pass "
                "its path to %transcribe.",
    "blocked": "This frontend gives widgets no microphone access (Colab's output frame, VS "
               "Code): record a file there and pass its path to %transcribe, or open the "
               "notebook in JupyterLab.",
}
MAX_DETAIL_CHARS = 200


@lru_cache(maxsize=1)
def _widget_class() -> Any:
    import anywidget
    import traitlets

    class RecorderWidget(anywidget.AnyWidget):
        """The front-end half of :class:`Recorder`: its state is only its limit and a switch."""

        _esm = Path(__file__).with_name("recorder.js").read_text(encoding="utf-8")
        max_s = traitlets.Float(600.0).tag(sync=True)
        disabled = traitlets.Bool(False).tag(sync=True)

    return RecorderWidget


def problem_line(problem: Any, detail: Any = "") -> str:
    """The one line for a failure the browser reports (its words are untrusted: cut, cleaned)."""
    if isinstance(problem, str) and problem in PROBLEMS:
        return PROBLEMS[problem]
    said = " ".join(str(detail or "").split())[:MAX_DETAIL_CHARS]
    return terminal_safe(f"The microphone could not start{': ' + said if said else ''}.")


class Recorder:
    """One recorder widget; each recording that stops goes to ``on_audio`` as WAV bytes.

    - ``on_audio(wav)``: a recording stopped (by the user, or at a limit, with a line first);
    - ``on_start()``: recording began;
    - ``on_problem(line)``: a failure or a limit, one line (the widget shows it too).

    ``max_s``, ``max_chunk_bytes`` and ``max_chunks`` bound what the browser may send (its
    numbers are not trusted); ``once=True`` disables the button after the first recording.
    """

    def __init__(self, on_audio: Callable[[bytes], None], *,
                 on_start: Callable[[], None] = lambda: None,
                 on_problem: Callable[[str], None] = lambda line: None,
                 max_s: float = 600.0, max_chunk_bytes: int = 256 * 1024,
                 max_chunks: int = 4_000, once: bool = False) -> None:
        self.on_audio, self.on_start, self.on_problem = on_audio, on_start, on_problem
        self.max_s, self.max_chunk_bytes, self.max_chunks = max_s, max_chunk_bytes, max_chunks
        self.once = once
        self.widget = _widget_class()(max_s=float(max_s))
        self.widget.on_msg(self._on_message)
        self.assembly: Optional[PcmAssembly] = None
        self.browser_seen = False  # a page rendered the widget and said so
        self.line = ""

    # --- the host's side ---------------------------------------------------------------------

    def bundle(self) -> Dict[str, Any]:
        """The widget's MIME bundle; a frontend without widgets shows the line that it needs one."""
        return {
            WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
            "text/plain": NEEDS_BROWSER,
            "text/html": f'<div class="oai-placeholder">{escape_html(NEEDS_BROWSER)}</div>',
        }

    def show(self) -> None:
        from IPython.display import display

        display(self.bundle(), raw=True)

    def say(self, line: str) -> None:
        """Show one line under the button (status, a limit, a failure)."""
        from ..redaction import redact_outbound

        self.line = redact_outbound(line)  # it may quote a server's error
        self.widget.send({"kind": "say", "line": self.line})

    @property
    def recording(self) -> bool:
        return self.assembly is not None and self.assembly.ended is None

    def close(self) -> None:
        self.widget.close()

    # --- the browser's messages (recorder.js) --------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, buffers: List[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        if kind == "ready":
            self.browser_seen = True
            if content.get("problem"):
                self._problem(problem_line(content.get("problem")))
        elif kind == "start":
            self._start(content)
        elif kind == "chunk" and self.assembly is not None:
            data = bytes(buffers[0]) if buffers else b""
            line = self.assembly.add(content.get("seq"), data)
            if line:
                self.widget.send({"kind": "stop"})
                self._problem(line)
                self._deliver()
        elif kind == "stop" and self.assembly is not None:
            self.assembly.ended = self.assembly.ended or "stopped"
            self._deliver()
        elif kind == "failure":
            self._problem(problem_line(content.get("problem"), content.get("detail")))

    def _start(self, content: Dict[str, Any]) -> None:
        if content.get("rate") != RATE:
            self._problem(problem_line("other", f"the page records at {content.get('rate')!r} Hz, "
                                       f"not {RATE}"))
            self.widget.send({"kind": "stop"})
            return
        self.assembly = PcmAssembly(max_s=self.max_s, max_chunk_bytes=self.max_chunk_bytes,
                                    max_chunks=self.max_chunks)
        self.say("Recording…")
        self.on_start()

    def _deliver(self) -> None:
        assembly, self.assembly = self.assembly, None  # later pieces of it are dropped
        if assembly is None:
            return
        if not assembly.size:
            self._problem("The recording holds no audio: press Record and speak, then Stop.")
            return
        if self.once:
            self.widget.disabled = True
        self.on_audio(assembly.wav())

    def _problem(self, line: str) -> None:
        self.say(line)
        self.on_problem(line)
