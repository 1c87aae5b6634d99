"""How light ``%load_ext oai_magic`` is: milliseconds and the heavy modules it pulls in.

    python benchmarks/bench_load.py [--runs 5]

Each run is a fresh interpreter (imports are cached within one). It builds an IPython shell (not
ours: a kernel has one before any extension loads), checks that nothing of ``oai_magic`` is
imported yet, then starts the clock and runs ``%load_ext oai_magic``. One unmeasured run first
writes the bytecode cache, so the runs compare loading, not compiling. Then it times the first
``%%chat`` against the practice server in its own process (CONTRACTS 4), which is when the
renderer and requests are imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.practice_process import practice_server  # noqa: E402

PROBE = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("config", "HistoryManager.enabled = False")
ours_before = sorted(m for m in sys.modules if m == "oai_magic" or m.startswith("oai_magic."))
heavy = ("ipywidgets", "anywidget", "markdown_it", "requests", "sseclient", "mdit_py_plugins")
started = time.perf_counter()
ip.run_line_magic("load_ext", "oai_magic")
load = time.perf_counter() - started
loaded = [m for m in heavy if m in sys.modules]
ip.run_line_magic("oai", f"base-url {sys.argv[1]}")
from oai_magic.state import Secret, get_state
get_state(ip).settings.api_key = Secret("sk-bench-0000000000")
started = time.perf_counter()
ip.run_cell("%%chat --no-footer\n[[echo]] hi", store_history=False)
first = time.perf_counter() - started
print(json.dumps({"load": load, "first_chat": first, "heavy_after_load": loaded,
                  "ours_before_clock": ours_before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(REPO / "artifacts" / "bench_load")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs = []
    with practice_server(0.0) as base_url:
        for index in range(args.runs + 1):  # the first run only fills the bytecode cache
            out = subprocess.run([sys.executable, "-c", PROBE, base_url], capture_output=True, text=True,
                                 check=True, env=env, cwd=str(REPO))
            if index:
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    load = statistics.median(r["load"] for r in runs)
    first = statistics.median(r["first_chat"] for r in runs)
    early = sorted({m for r in runs for m in r["ours_before_clock"]})
    each = ", ".join(f"{1000 * r['load']:.1f}" for r in runs)
    print(f"%load_ext oai_magic: {1000 * load:.1f} ms (median of {args.runs} fresh interpreters, bytecode "
          f"cached; runs: {each} ms; target ≤ 50 ms)")
    print(f"  imported before the clock started: {early or 'nothing of ours'}")
    print(f"  heavy modules imported by it: {runs[0]['heavy_after_load'] or 'none'}")
    print(f"first %%chat in a plain shell (imports requests and the renderer, streams a short answer): {1000 * first:.0f} ms")


if __name__ == "__main__":
    main()
