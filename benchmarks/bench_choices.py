"""-N columns: bytes sent while three choices stream side by side, against re-sending everything.

Three synthetic answers (tests/synthetic.py) of 2k/8k tokens each are interleaved by index,
as a server streams n=3, and fed to ColumnsView on a fake clock (20 ms between chunks of one
choice, so 6.7 ms between chunks overall; the default 50 ms render interval). Widget traffic is
counted at the comm: the JSON of the widget state each comm_open / comm_msg carries (as the
display side counts the data of each display message, not the protocol envelope); display
traffic at IPython's DisplayPublisher. The baseline re-renders all three columns into one HTML
output at the same redraw rate.

    .venv/bin/python benchmarks/bench_choices.py [--sizes 2000,8000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import comm  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from oai_magic.core.results import ChatResult, Choice  # noqa: E402
from oai_magic.render.chrome import answer_html  # noqa: E402
from oai_magic.render.markdown import render_markdown  # noqa: E402
from oai_magic.ui.columns import ColumnsView, columns_html  # noqa: E402
from tests.page_model import WidgetFrontend  # noqa: E402
from tests.recording import RecordingPublisher  # noqa: E402
from tests.synthetic import FakeClock, answer_tokens  # noqa: E402

INTERVAL = 0.05
N = 3
FRONTEND = WidgetFrontend()  # counts the comm messages and their bytes (state or custom content)


def streams(size: int) -> List[List[str]]:
    return [answer_tokens(size, seed=11 + i) for i in range(N)]


def interleaved(tokens: List[List[str]]):
    for step in range(max(len(t) for t in tokens)):
        for index, column in enumerate(tokens):
            if step < len(column):
                yield index, column[step]


def run_columns(size: int, publisher: RecordingPublisher) -> dict:
    tokens = streams(size)
    clock = FakeClock()
    FRONTEND.bytes, FRONTEND.received = 0, 0
    publisher.reset()
    view = ColumnsView(N, render_interval=INTERVAL, clock=clock)
    view.begin([])
    for index, token in interleaved(tokens):
        clock.now += 0.02 / N
        view.delta(index, token)
    streamed_comm = FRONTEND.bytes
    live_bytes = sum(live.stats["bytes"] for live in view.lives)
    messages = FRONTEND.received
    pieces = 1  # one live surface widget for all the columns
    texts = ["".join(t) for t in tokens]
    result = ChatResult(choices=[Choice(i, text, "stop") for i, text in enumerate(texts)])
    view.end(result)
    return {
        "chars": sum(len(t) for t in texts),
        "comm_bytes": streamed_comm,
        "live_bytes": live_bytes,
        "comm_messages": messages,
        "widgets": pieces,
        "close_bytes": FRONTEND.bytes - streamed_comm,
        "display_bytes": publisher.total_bytes,
        "final_html": len(publisher.messages[-1]["data"]["text/html"]),
    }


def run_naive(size: int, publisher: RecordingPublisher) -> int:
    """One HTML output with all three columns, re-rendered and re-sent at every redraw."""
    from IPython.display import display

    tokens = streams(size)
    publisher.reset()
    parts: List[List[str]] = [[] for _ in range(N)]
    clock, last, handle = 0.0, None, None
    for index, token in interleaved(tokens):
        clock += 0.02 / N
        parts[index].append(token)
        if last is None or clock - last >= INTERVAL:
            last = clock
            html = columns_html([(f"Choice {i + 1}", answer_html(render_markdown("".join(p))))
                                 for i, p in enumerate(parts)])
            if handle is None:
                handle = display({"text/html": html}, raw=True, display_id=True)
            else:
                handle.update({"text/html": html}, raw=True)
    return publisher.total_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,8000")
    args = parser.parse_args()
    frontend_comm = FRONTEND.comm_class()
    comm.create_comm = lambda *a, **k: frontend_comm(*a, **k)  # type: ignore[assignment]
    shell = InteractiveShell.instance()
    publisher = RecordingPublisher(shell=shell)
    shell.display_pub = publisher
    print(f"{N} choices interleaved, 20 ms/token per choice, render interval {INTERVAL * 1000:.0f} ms")
    print(f"{'tokens/choice':>13} {'chars':>8} {'widgets':>8} {'live KB':>8} {'comm KB':>8} {'msgs':>6} "
          f"{'final KB':>9} {'total KB':>9} {'B/char':>7} {'naive KB':>9} {'naive/ours':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        ours = run_columns(size, publisher)
        naive = run_naive(size, publisher)
        total = ours["comm_bytes"] + ours["close_bytes"] + ours["display_bytes"]
        print(f"{size:>13} {ours['chars']:>8} {ours['widgets']:>8} {ours['live_bytes'] / 1e3:>8.1f} "
              f"{ours['comm_bytes'] / 1e3:>8.1f} "
              f"{ours['comm_messages']:>6} {ours['final_html'] / 1e3:>9.1f} {total / 1e3:>9.1f} "
              f"{total / ours['chars']:>7.1f} {naive / 1e3:>9.1f} {naive / total:>10.1f}")


if __name__ == "__main__":
    main()
