"""How light ``%load_ext oai_magic`` is: seconds and the heavy modules it pulls in.

    python benchmarks/bench_load.py [--runs 5]

Each run is a fresh interpreter (imports are cached within one), timing ``%load_ext`` alone and
then the first ``%%chat`` against the practice server, which is when the renderer, requests and
sseclient-py are imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
from oai_magic.practice import PracticeServer
ip = InteractiveShell.instance()
ip.run_line_magic("config", "HistoryManager.enabled = False")
heavy = ("ipywidgets", "markdown_it", "requests", "sseclient", "mdit_py_plugins")
started = time.perf_counter()
ip.run_line_magic("load_ext", "oai_magic")
load = time.perf_counter() - started
loaded = [m for m in heavy if m in sys.modules]
with PracticeServer() as server:
    ip.run_line_magic("oai", f"base-url {server.base_url}")
    from oai_magic.state import Secret
    from oai_magic.core.session import session_of
    session_of(ip).settings.api_key = Secret("sk-bench-0000000000")
    started = time.perf_counter()
    ip.run_cell("%%chat --no-footer\n[[echo]] hi", store_history=False)
    first = time.perf_counter() - started
print(json.dumps({"load": load, "first_chat": first, "heavy_after_load": loaded}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    load = statistics.median(r["load"] for r in runs)
    first = statistics.median(r["first_chat"] for r in runs)
    print(f"%load_ext oai_magic: {1000 * load:.1f} ms (median of {args.runs} fresh interpreters)")
    print(f"  heavy modules imported by it: {runs[0]['heavy_after_load'] or 'none'}")
    print(f"first %%chat in a plain shell (imports requests and sseclient-py, streams a short answer): {1000 * first:.0f} ms")


if __name__ == "__main__":
    main()
