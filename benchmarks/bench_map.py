"""%%chat --map against practice servers in their own processes (CONTRACTS 4).

1. 200 items at --concurrency 8, each answered after [[delay_ms=100]]: target ≤ 3.5 s, ideal
   2.5 s (200 × 0.1 s / 8); the ratio to the ideal is printed.
2. 200 items against a server allowing 60 requests per 2-second window, fixed windows and
   continuous refill: no failed item, at most one 429 per window boundary.
3. The same 200 items as a plain sequential loop (one requests.Session, one at a time).

    .venv/bin/python benchmarks/bench_map.py [--items 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402

from oai_magic import state as state_module  # noqa: E402

KEY = "sk-bench-0123456789abcdef"


@contextlib.contextmanager
def practice_server(*options: str):
    """``python -m oai_magic.practice --port 0`` in its own process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "oai_magic.practice", "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(5)


def shell_for(base_url: str) -> Any:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    if "OAIMagics" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "oai_magic")
    shell.magics_manager.registry["OAIMagics"].display_mode = "plain"
    from oai_magic.core.session import session_of

    state = session_of(shell)
    state.settings.base_url = base_url
    state.settings.api_key = state_module.Secret(KEY)
    return shell


def run_map(base_url: str, items: List[str], concurrency: int) -> Tuple[float, Any]:
    shell = shell_for(base_url)
    shell.user_ns["items"] = items
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = shell.run_cell(f"%%chat --map items --concurrency {concurrency} --yes -o out\n"
                                "{item}", store_history=False)
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"--map failed: {result.error_in_exec}")
    return elapsed, shell.user_ns["out"]


def sequential(base_url: str, items: List[str]) -> float:
    import requests

    session = requests.Session()
    started = time.perf_counter()
    for item in items:
        answer = session.post(f"{base_url}/chat/completions", timeout=30,
                              headers={"Authorization": f"Bearer {KEY}"},
                              json={"model": "gpt-4o-mini", "messages": [
                                  {"role": "user", "content": item}]})
        answer.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    n = args.items
    items = [f"[[delay_ms=100]] [[echo]] item {i}" for i in range(n)]
    rows = []
    with practice_server() as url:
        elapsed, out = run_map(url, items, 8)
        ideal = n * 0.1 / 8
        assert out.texts == [f"item {i}" for i in range(n)], "answers out of order"
        rows.append(("--map, concurrency 8, 100 ms each", elapsed,
                     f"ideal {ideal:.2f} s, ratio {elapsed / ideal:.2f}, target ≤ 3.5 s "
                     f"{'met' if elapsed <= 3.5 else 'MISSED'}; failed {len(out.failed)}"))
        loop = sequential(url, items)
        rows.append(("plain sequential loop, 100 ms each", loop,
                     f"{loop / elapsed:.1f}× the --map time"))
    quick = [f"[[echo]] item {i}" for i in range(n)]
    for label, options in (("fixed 2 s windows", ()), ("continuous refill", ("--refill",))):
        with practice_server("--rate-limit", "60/2", *options) as url:
            elapsed, out = run_map(url, quick, 8)
            boundaries = max(1, math.floor(elapsed / 2.0))  # windows turned over
            ok = not out.failed and out.rate_limited <= boundaries
            rows.append((f"--map, 60 requests / 2 s, {label}", elapsed,
                         f"429s {out.rate_limited} over {boundaries} window boundaries, failed "
                         f"{len(out.failed)}: {'met' if ok else 'MISSED'}"))
    width = max(len(r[0]) for r in rows)
    print(f"{n} items")
    for label, seconds, note in rows:
        print(f"{label.ljust(width)}  {seconds:6.2f} s  {note}")


if __name__ == "__main__":
    main()
