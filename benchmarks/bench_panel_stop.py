"""How long the chat panel's Stop takes to end a stream (the issue asks for under 0.5 s).

    python benchmarks/bench_panel_stop.py [--runs 20]

Two cases, against the offline practice server in its own process (CONTRACTS 4), over a socket:
* held: the server sends a token every 3 s (``[[pace=3000]]``), so after the first the request
  thread is blocked in a socket read when Stop is pressed (the case where only shutting the
  socket helps);
* paced: a long answer streaming at 20 ms a token, stopped mid-stream.

Prints the median and worst time from ``stop()`` to ``wait()`` returning (partial answer
recorded, connection closed, Send enabled again).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.practice_process import practice_server  # noqa: E402
from oai_magic.api.client import OpenAIClient  # noqa: E402
from oai_magic.core.session import Session  # noqa: E402
from oai_magic.state import Secret, Settings  # noqa: E402
from oai_magic.ui.panel.panel import ChatPanel  # noqa: E402


def first_token(panel: ChatPanel) -> threading.Event:
    event = threading.Event()

    def seen(change: dict) -> None:
        if "Answering" in change["new"]:
            event.set()
            panel.status.unobserve(seen, "value")

    panel.status.observe(seen, "value")
    return event


def one_stop(panel: ChatPanel, held: bool) -> float:
    answering = first_token(panel)
    panel.send("[[tokens=5000]] tell me a story" + (" [[pace=3000]]" if held else ""))
    answering.wait(10)
    if not held:
        time.sleep(0.1)  # a benchmark, not a test: let the paced stream run for a while
    started = time.perf_counter()
    panel.stop()
    result = panel.wait(10)
    elapsed = time.perf_counter() - started
    assert result is not None and result.interrupted and result.text, panel.error
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with practice_server(0.02) as base_url:
        settings = Settings(api_key=Secret("sk-bench-000000000000"), base_url=base_url)
        state = Session(settings=settings)
        client = OpenAIClient(settings)
        panel = ChatPanel(session=state, client=client)
        figures = {}
        for name, held in (("held (blocked read)", True), ("paced (20 ms/token)", False)):
            times = [one_stop(panel, held) for _ in range(args.runs)]
            figures[name] = times
            print(f"{name:22s} stop→idle median {statistics.median(times) * 1000:6.1f} ms, "
                  f"worst {max(times) * 1000:6.1f} ms over {len(times)} runs")
        panel.close()
        client.close()
    print(json.dumps({k: round(max(v), 4) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
