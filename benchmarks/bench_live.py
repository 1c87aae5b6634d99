"""Live Markdown cost: bytes sent, render CPU and token-to-screen latency, against a naive
re-render-everything baseline with the same coalescing.

Synthetic realistic answers (tests/synthetic.py) of 2k/8k/32k tokens are fed through
LiveMarkdown on a fake clock, at 1 ms/token ("fast") and 20 ms/token ("slow"), drawing within
a frame (the default 16 ms; the naive view draws at most once a frame too). Bytes are every byte the kernel sends: the live surface's widget
messages (comm_open, custom messages, comm_close, counted at the comm) plus the display messages
at IPython's DisplayPublisher. Latency is simulated clock time from a token's arrival to the
first draw that shows it (a draw at a frame boundary counts at its own time).

    .venv/bin/python benchmarks/bench_live.py [--sizes 2000,8000,32000] [--naive-max 8000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import comm  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from oai_magic.render.chrome import ANSWER_REGION, answer_html  # noqa: E402
from oai_magic.render.frames import FRAME_S  # noqa: E402
from oai_magic.render.live import LiveMarkdown  # noqa: E402
from oai_magic.render.markdown import render_markdown  # noqa: E402
from oai_magic.render.surface import LiveSurface  # noqa: E402
from tests.page_model import WidgetFrontend  # noqa: E402
from tests.recording import RecordingPublisher  # noqa: E402
from tests.synthetic import FakeClock, answer_tokens  # noqa: E402

INTERVAL = FRAME_S


class NaiveLive:
    """The prior art: re-render and re-send the whole answer on every (coalesced) draw."""

    def __init__(self, clock: Callable[[], float], render_interval: float = INTERVAL) -> None:
        self.clock = clock
        self.render_interval = render_interval
        self.parts: List[str] = []
        self.handle: Any = None
        self.last: Any = None
        self.render_seconds = 0.0
        self.shown_chars = 0
        self.size = 0

    def append(self, delta: str) -> None:
        self.parts.append(delta)
        self.size += len(delta)
        now = self.clock()
        if self.last is None or now - self.last >= self.render_interval:
            self.draw()

    def draw(self) -> None:
        from IPython.display import display

        self.last = self.clock()
        text = "".join(self.parts)
        started = time.perf_counter()
        html = answer_html(render_markdown(text))
        self.render_seconds += time.perf_counter() - started
        bundle = {"text/html": html, "text/plain": text}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
        self.shown_chars = self.size

    def finish(self) -> None:
        self.draw()


def run(kind: str, tokens: List[str], per_token: float) -> Dict[str, float]:
    shell = InteractiveShell.instance()
    publisher = RecordingPublisher(shell=shell)
    saved, shell.display_pub = shell.display_pub, publisher
    clock = FakeClock()
    frontend = WidgetFrontend()
    frontend_comm = frontend.comm_class()
    saved_comm, comm.create_comm = comm.create_comm, lambda *a, **k: frontend_comm(*a, **k)
    surface = None
    try:
        if kind == "live":
            surface = LiveSurface([("a", "", ANSWER_REGION)])
            live: Any = LiveMarkdown(surface, "a", render_interval=INTERVAL, clock=clock)
        else:
            live = NaiveLive(clock)
        arrivals: List[float] = []
        ends: List[int] = []
        latencies: List[float] = []
        seen = 0  # tokens known to be on screen
        offset = 0
        cpu = time.perf_counter()
        def observe() -> None:
            nonlocal seen
            while seen < len(ends) and ends[seen] <= live.shown_chars:
                latencies.append(clock.now - arrivals[seen])
                seen += 1

        for token in tokens:
            end = clock.now + per_token
            while clock.timers and min(clock.timers)[0] <= end:  # draws at frame boundaries
                clock.advance(max(0.0, min(clock.timers)[0] - clock.now))
                observe()
            clock.advance(end - clock.now)
            offset += len(token)
            arrivals.append(clock.now)
            ends.append(offset)
            live.append(token)
            observe()
        if surface is not None:
            surface.finish(*live.finish())
        else:
            live.finish()
        cpu = time.perf_counter() - cpu
        latencies.extend(clock.now - arrivals[i] for i in range(seen, len(ends)))
    finally:
        shell.display_pub = saved
        comm.create_comm = saved_comm
    final = publisher.messages[-1]["nbytes"]
    total = publisher.total_bytes + frontend.bytes
    render_seconds = live.stats["render_seconds"] if kind == "live" else live.render_seconds
    lat = sorted(latencies)
    return {
        "draws": sum(1 for m in publisher.messages if m["kind"] != "clear")
        + frontend.received,
        "bytes": total,
        "ratio": total / final,
        "us_per_token": 1e6 * render_seconds / len(tokens),
        "wall_us_per_token": 1e6 * cpu / len(tokens),
        "p50_ms": 1000 * statistics.median(lat),
        "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
        "max_ms": 1000 * lat[-1],
        "final": final,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000,32000")
    parser.add_argument(
        "--naive-max",
        type=int,
        default=8000,
        help="largest answer for the naive baseline at 20 ms/token (it is quadratic: 32k "
        "tokens take ~10 minutes); the fast naive runs always happen",
    )
    args = parser.parse_args()
    render_markdown("warm *up* `x`\n\n```python\nx = 1\n```\n")  # import + build once
    header = (
        f"{'impl':6} {'tokens':>6} {'speed':>5} {'msgs':>6} {'bytes':>11} {'final':>9} "
        f"{'ratio':>7} {'cpu µs/tok':>10} {'wall µs/tok':>11} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'max ms':>7}"
    )
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",")):
        tokens = answer_tokens(size)
        for speed, per_token in (("fast", 0.001), ("slow", 0.020)):
            for kind in ("live", "naive"):
                if kind == "naive" and speed == "slow" and size > args.naive_max:
                    print(f"{kind:6} {size:>6} {speed:>5}  (skipped: quadratic, see --naive-max)")
                    continue
                r = run(kind, tokens, per_token)
                print(
                    f"{kind:6} {size:>6} {speed:>5} {r['draws']:>6} {r['bytes']:>11,} "
                    f"{r['final']:>9,} {r['ratio']:>6.2f}x {r['us_per_token']:>10.1f} "
                    f"{r['wall_us_per_token']:>11.1f} {r['p50_ms']:>7.0f} {r['p95_ms']:>7.0f} "
                    f"{r['max_ms']:>7.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
