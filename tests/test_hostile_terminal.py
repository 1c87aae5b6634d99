"""Issue 25, class 6: no control sequence from a server reaches a terminal.

Terminal IPython runs under a pseudo-terminal (the stdlib ``pty``), as a user runs it, against a
server that puts OSC 52 clipboard writes, title changes, colours, BEL, a C1 CSI and bidi overrides
into the answer, the reasoning, the model id, the headers ``%oai`` shows, ``%oai models``,
``%oai usage``, ``%chat list``/``history``, a one-line error and a transcript. Every byte the
terminal receives is read: no ESC except our own dim reasoning, no BEL, no C1, no bidi override.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
import wave
from pathlib import Path

from . import hostile_replies  # noqa: F401  (registers the modes)
from .conftest import TEST_KEY

IPYTHON = Path(sys.executable).with_name("ipython")
REPO = Path(__file__).resolve().parent.parent
OURS = {b"\x1b[2m", b"\x1b[22m"}  # the dim reasoning of render.reasoning.DimReasoning


def tiny_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return path


def terminal_session(lines, env, timeout_s: float = 90.0) -> bytes:
    """Everything an ipython under a pty writes to its terminal while it runs ``lines``."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: terminal IPython, plain prompt, no colours of its own
        os.execve(str(IPYTHON), [str(IPYTHON), "--simple-prompt", "--no-banner",
                                 "--colors=NoColor", "--HistoryManager.hist_file=:memory:",
                                 "--TerminalInteractiveShell.term_title=False"], env)
    received = bytearray()
    script = "".join(line + "\n" for line in [*lines, "print('END' + 'MARK')"])
    os.write(fd, script.encode())
    deadline = time.monotonic() + timeout_s
    try:
        while b"ENDMARK" not in received and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    received += os.read(fd, 65536)
                except OSError:
                    break
        os.write(fd, b"exit\n")
    finally:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    received += os.read(fd, 65536)
                except OSError:
                    break
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    return bytes(received)


def test_terminal_ipython_gets_no_control_sequence_from_a_hostile_server(hostile, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": str(REPO), "OPENAI_API_KEY": TEST_KEY, "TERM": "xterm",
           "XDG_DATA_HOME": str(tmp_path / "data"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "LANG": "C.UTF-8"}
    audio = tiny_wav(tmp_path / "a.wav")
    good, bad = hostile.base_url("terminal_hostile"), hostile.base_url("error_hostile")
    lines = [
        "%load_ext oai_magic",
        "from oai_magic.state import get_state; s = get_state(get_ipython()).settings",
        f"s.base_url = {good!r}",
        "get_ipython().run_cell_magic('chat', '', 'hello')",
        "%oai",
        "%oai models",
        "%oai usage",
        "%chat list",
        "%chat history",
        f"%transcribe {audio}",
        f"s.base_url = {bad!r}",
        "get_ipython().run_cell_magic('chat', '', 'again')",
    ]
    out = terminal_session(lines, env)
    assert b"ENDMARK" in out, out[-2000:]
    text = out.decode("utf-8", "replace")
    assert "answer" in text and "bad request" in text and "heard" in text  # it all ran
    assert "\\x1b]52;c;ZXZpbA==" in text  # shown, as an escape
    foreign = [out[max(0, m.start() - 40): m.start() + 12] for m in re.finditer(rb"\x1b", out)
               if not any(out.startswith(ours, m.start()) for ours in OURS)]
    assert foreign == []
    assert b"\x07" not in out and b"\xc2\x9b" not in out and "\u202e" not in text
    assert "Traceback" not in text
