"""How long the chat panel's Stop takes to end a stream (the issue asks for under 0.5 s).

    python benchmarks/bench_panel_stop.py [--runs 20]

Two cases, against the offline practice server over a real socket:
* held: the server sends one token and then nothing, so the request thread is blocked in a
  socket read when Stop is pressed (the case where only shutting the socket helps);
* paced: a long answer streaming at 20 ms a token, stopped mid-stream.

Prints the median and worst time from ``stop()`` to ``wait()`` returning (partial answer
recorded, connection closed, Send enabled again).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from oai_magic.api.client import OpenAIClient
from oai_magic.core.session import Session
from oai_magic.practice import PracticeServer, Scripted, sse_event
from oai_magic.state import Secret, Settings
from oai_magic.ui.panel.panel import ChatPanel


def first_token(panel: ChatPanel) -> threading.Event:
    event = threading.Event()

    def seen(change: dict) -> None:
        if "Answering" in change["new"]:
            event.set()
            panel.status.unobserve(seen, "value")

    panel.status.observe(seen, "value")
    return event


def one_stop(panel: ChatPanel, server: PracticeServer, held: bool) -> float:
    gate = threading.Event()
    if held:
        chunk = {"id": "c", "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Once upon a time"},
                              "finish_reason": None}]}
        server.script("/chat/completions",
                      Scripted(chunks=[sse_event(chunk), sse_event("[DONE]")], gate=gate,
                               gate_before=1))
    answering = first_token(panel)
    panel.send("[[tokens=5000]] tell me a story")
    answering.wait(10)
    if not held:
        time.sleep(0.1)  # a benchmark, not a test: let the paced stream run for a while
    started = time.perf_counter()
    panel.stop()
    result = panel.wait(10)
    elapsed = time.perf_counter() - started
    gate.set()
    assert result is not None and result.interrupted and result.text, panel.error
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with PracticeServer(token_delay=0.02) as server:
        settings = Settings(api_key=Secret("sk-bench-000000000000"), base_url=server.base_url)
        state = Session(settings=settings)
        client = OpenAIClient(settings)
        panel = ChatPanel(session=state, client=client)
        figures = {}
        for name, held in (("held (blocked read)", True), ("paced (20 ms/token)", False)):
            times = [one_stop(panel, server, held) for _ in range(args.runs)]
            figures[name] = times
            print(f"{name:22s} stop→idle median {statistics.median(times) * 1000:6.1f} ms, "
                  f"worst {max(times) * 1000:6.1f} ms over {len(times)} runs")
        panel.close()
        client.close()
    print(json.dumps({k: round(max(v), 4) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
