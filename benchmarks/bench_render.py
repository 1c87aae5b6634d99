"""What a frontend receives while %%chat streams: the real magic against the practice server.

    python benchmarks/bench_render.py                 # 2k, 8k, 32k tokens; fast and 20 ms pacing
    python benchmarks/bench_render.py --sizes 2000 --paced-sizes 2000
    python benchmarks/bench_render.py --log-only --log-repeats 31   # the log's cost alone

The practice server runs in its own process (CONTRACTS 4; ``--delay 0``, and ``[[pace=20]]``
for the paced rows). For each answer size it runs ``%%chat`` through a real InteractiveShell whose display publisher
records every display / update / clear message and every widget message of the live surface (what
ipykernel would send over iopub), and prints:
updates sent, total bytes and their ratio to the final output, render CPU per token, and the
token-to-screen latency p50/p95 (from a token's arrival at the client to the draw that shows
it). The same figures are printed for a naive view that re-renders and re-sends the whole answer
on every token (chatlas-style). The naive baseline is quadratic, so by default it runs only up to
8k tokens (``--naive-max``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402

from benchmarks.practice_process import practice_server  # noqa: E402
from oai_magic.core.events import View  # noqa: E402
from oai_magic.state import Secret, get_state  # noqa: E402
from tests.page_model import WidgetFrontend  # noqa: E402
from tests.recording import RecordingPublisher  # noqa: E402

FRONTEND = WidgetFrontend()  # every widget message of the live surface, counted at the comm


def count_widget_messages() -> None:
    import comm

    frontend_comm = FRONTEND.comm_class()
    comm.create_comm = lambda *a, **k: frontend_comm(*a, **k)


class Timeline:
    """Token arrivals and draws, to compute token-to-screen latency."""

    def __init__(self) -> None:
        self.arrivals: List[Tuple[float, int]] = []  # (time, chars received so far)
        self.draws: List[Tuple[float, int]] = []  # (time, chars on screen)
        self.received = 0

    def latencies(self) -> List[float]:
        result, d = [], 0
        for arrived, chars in self.arrivals:
            while d < len(self.draws) and (self.draws[d][1] < chars or self.draws[d][0] < arrived):
                d += 1
            if d == len(self.draws):
                break
            result.append(self.draws[d][0] - arrived)
        return result


def instrumented(view: Any, timeline: Timeline, naive: bool) -> Any:
    original_delta, original_end = view.delta, view.end

    def delta(index: int, text: str) -> None:
        timeline.received += len(text)
        timeline.arrivals.append((time.perf_counter(), timeline.received))
        original_delta(index, text)
        if naive:
            timeline.draws.append((time.perf_counter(), timeline.received))
        elif view.live is not None:
            live = view.live
            if not timeline.draws or timeline.draws[-1][1] != live.shown_chars:
                timeline.draws.append((time.perf_counter(), live.shown_chars))

    def end(result: Any) -> None:
        original_end(result)
        timeline.draws.append((time.perf_counter(), timeline.received))

    view.delta, view.end = delta, end
    return view


class NaiveView(View):
    """Re-render the whole answer and re-send it on every token (the other events do nothing)."""

    def __init__(self) -> None:
        self.text = ""
        self.handle: Any = None
        self.render_seconds = 0.0
        self.live = None

    def begin(self, notices: List[str]) -> None:
        from IPython.display import display

        self.handle = display({"text/plain": ""}, raw=True, display_id=True)

    def delta(self, index: int, text: str) -> None:
        from oai_magic.render.chrome import answer_html
        from oai_magic.render.markdown import render_markdown

        self.text += text
        started = time.perf_counter()
        html = answer_html(render_markdown(self.text))
        self.render_seconds += time.perf_counter() - started
        self.handle.update({"text/html": html, "text/plain": self.text}, raw=True)

    def end(self, result: Any) -> None:
        self.delta(0, "")


def run_once(shell: Any, tokens: int, pace_ms: int, naive: bool) -> dict:
    magics = shell.magics_manager.registry["OAIMagics"]
    publisher: RecordingPublisher = shell.display_pub
    publisher.reset()
    FRONTEND.bytes, FRONTEND.received = 0, 0
    timeline = Timeline()
    views: List[Any] = []
    original_factory = magics.chat_view

    def factory(args: Any) -> Any:
        view = NaiveView() if naive else original_factory(args)
        views.append(instrumented(view, timeline, naive))
        return view

    magics.chat_view = factory
    pace = f" [[pace={pace_ms}]]" if pace_ms else ""
    try:
        result = shell.run_cell(f"%%chat -n --no-footer\n[[tokens={tokens}]]{pace}", store_history=False)
    finally:
        magics.chat_view = original_factory
    if not result.success:
        raise SystemExit(f"the chat cell failed: {result.error_in_exec}")
    final = publisher.messages[-1]["nbytes"]
    view = views[0]
    render_seconds = view.render_seconds if naive else view.live.stats["render_seconds"]
    latencies = timeline.latencies()
    total = publisher.total_bytes + FRONTEND.bytes
    return {
        "updates": sum(1 for m in publisher.messages if m["kind"] != "clear") + FRONTEND.received,
        "bytes": total,
        "ratio": total / final,
        "cpu_us_per_token": 1e6 * render_seconds / tokens,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": 1000 * statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else float("nan"),
        "final_bytes": final,
    }


def make_shell(base_url: str) -> Any:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = RecordingPublisher(shell=shell)
    count_widget_messages()
    shell.run_line_magic("load_ext", "oai_magic")
    shell.run_line_magic("config", "OAIMagics.display_mode = 'rich'")
    state = get_state(shell)
    state.settings.base_url = base_url
    state.settings.api_key = Secret("sk-bench-000000000000")
    return shell


def log_cost(shell: Any, sizes: List[int], repeats: int) -> List[Tuple[int, dict]]:
    """The whole %%chat cell's wall and CPU time with the log off and on (a private file, never
    the user's). The machine is shared, so one run of each says little: after a warm-up of each,
    ``repeats`` pairs are run back to back, in alternating order (off-on, then on-off), and the
    cost is the median of the pairs' ratios, with their quartiles to show how noisy it was. CPU
    time (this process, all its threads: the shell, the reader, the log's writer) is the figure
    a busy neighbour disturbs least."""
    import tempfile

    state = get_state(shell)
    folder = tempfile.mkdtemp(prefix="oai-bench-log-")
    paths = ("", f"{folder}/history.db")

    def timed(path: str, tokens: int) -> Tuple[float, float]:
        state.configure(log_path=path)
        started, cpu = time.perf_counter(), time.process_time()
        result = shell.run_cell(f"%%chat -n --no-footer\n[[tokens={tokens}]]", store_history=False)
        elapsed = time.perf_counter() - started, time.process_time() - cpu
        if not result.success:
            raise SystemExit(f"the chat cell failed: {result.error_in_exec}")
        return elapsed

    rows = []
    for tokens in sizes:
        for path in paths:
            timed(path, tokens)  # warm-up: the first logged turn creates the database
        runs: dict = {"wall": ([], [], []), "cpu": ([], [], [])}
        for repeat in range(repeats):
            order = paths if repeat % 2 == 0 else paths[::-1]
            pair = {path: timed(path, tokens) for path in order}
            for position, measure in enumerate(runs):
                off, on = pair[""][position], pair[paths[1]][position]
                offs, ons, ratios = runs[measure]
                offs.append(off)
                ons.append(on)
                ratios.append(on / off)
        figures = {}
        for measure, (offs, ons, ratios) in runs.items():
            quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
            figures[measure] = (statistics.median(offs), statistics.median(ons),
                                statistics.median(ratios), quartiles[0], quartiles[2])
        rows.append((tokens, figures))
    state.configure(log_path="")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--paced-sizes", type=int, nargs="*", default=[2000, 8000, 32000])
    parser.add_argument("--pace-ms", type=int, default=20)
    parser.add_argument("--naive-max", type=int, default=8000)
    parser.add_argument("--log-sizes", type=int, nargs="*", default=[2000, 8000])
    parser.add_argument("--log-repeats", type=int, default=41)
    parser.add_argument("--log-only", action="store_true", help="Only the log's cost.")
    args = parser.parse_args()
    if args.log_only:
        args.sizes, args.paced_sizes = [], []
    rows = []
    with practice_server(0.0) as base_url:
        shell = make_shell(base_url)
        shell.run_line_magic("config", "OAIMagics.log_path = ''")  # never the user's log
        plans = [(n, 0) for n in args.sizes] + [(n, args.pace_ms) for n in args.paced_sizes]
        for tokens, pace in plans:
            for naive in (False, True):
                if naive and tokens > args.naive_max:
                    rows.append((tokens, pace, "naive", None))
                    continue
                figures = run_once(shell, tokens, pace, naive)
                rows.append((tokens, pace, "naive" if naive else "oai_magic", figures))
                print(f"  done: {tokens} tokens, pace {pace} ms, {'naive' if naive else 'oai_magic'}", file=sys.stderr)
        logged = log_cost(shell, args.log_sizes, args.log_repeats)
    header = f"{'tokens':>7} {'pace':>6} {'view':>10} {'updates':>8} {'bytes':>12} {'x final':>8} {'µs/token':>9} {'p50 ms':>7} {'p95 ms':>7}"
    print(header)
    print("-" * len(header))
    for tokens, pace, view, f in rows:
        pace_label = f"{pace} ms" if pace else "full"
        if f is None:
            print(f"{tokens:>7} {pace_label:>6} {view:>10}   skipped: quadratic (raise --naive-max to run it)")
            continue
        print(
            f"{tokens:>7} {pace_label:>6} {view:>10} {f['updates']:>8} {f['bytes']:>12,} {f['ratio']:>8.2f} "
            f"{f['cpu_us_per_token']:>9.1f} {f['p50_ms']:>7.1f} {f['p95_ms']:>7.1f}"
        )

    if logged:
        print(f"\nThe log's cost: a whole %%chat cell, {args.log_repeats} interleaved pairs "
              "(issue 24: at most 5%); added = median of the pairs' on/off ratios, with quartiles")
        print(f"{'tokens':>7} {'time':>5} {'log off s':>10} {'log on s':>10} {'added':>7} {'quartiles':>16}")
        for tokens, figures in logged:
            for measure, (off, on, ratio, low, high) in figures.items():
                print(f"{tokens:>7} {measure:>5} {off:>10.3f} {on:>10.3f} {100 * (ratio - 1):>6.1f}% "
                      f"{100 * (low - 1):>+7.1f}%..{100 * (high - 1):>+5.1f}%")


if __name__ == "__main__":
    main()
