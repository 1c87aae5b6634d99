"""Terminal IPython (no rich frontend): %%chat prints tokens as plain text as they arrive."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from oai_magic.practice import Scripted, sse_event


def delta(text, finish=None):
    return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def test_terminal_ipython_prints_each_token_before_the_answer_is_over(server, tmp_path):
    gate = threading.Event()
    chunks = [sse_event(delta("**First** words ")), sse_event(delta("then more.", "stop")), sse_event("[DONE]")]
    server.script("/chat/completions", Scripted(chunks=chunks, gate=gate, gate_before=1))
    script = tmp_path / "ask.ipy"
    script.write_text(
        f"%load_ext oai_magic\n%oai base-url {server.base_url}\n"
        "get_ipython().run_cell_magic('chat', '', 'Hello from a terminal')\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": "sk-terminal-test-0000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )
    try:
        seen = b""
        while b"words " not in seen:  # the first token is on screen while the server holds the rest
            byte = process.stdout.read(1)
            assert byte, f"IPython ended before the first token: {seen!r}"
            seen += byte
        gate.set()
        rest = process.stdout.read()
    finally:
        gate.set()
        process.wait(timeout=30)
    output = (seen + rest).decode()
    assert "**First** words then more." in output  # plain text, not HTML
    assert "<p>" not in output and "sk-terminal-test-0000" not in output
    assert process.returncode == 0
