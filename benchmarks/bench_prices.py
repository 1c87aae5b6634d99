"""What pricing with ``genai-prices`` costs: install size, import time, and whether a footer waits.

    python benchmarks/bench_prices.py [--runs 5]

Each run is a fresh interpreter. It times importing ``genai_prices`` and the first price on the
main thread (what a footer would wait for without warming), then, in another fresh interpreter,
the first ``%%chat`` against the practice server with the price data warmed on a background
thread, beside the same chat with ``%config OAIMagics.prices`` (no package data needed).
``%load_ext`` must not import the package at all.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import subprocess
import sys
from pathlib import Path

IMPORT_PROBE = r"""
import json, sys, time
started = time.perf_counter()
import genai_prices
imported = time.perf_counter() - started
from oai_magic.core.costs import estimate_cost
started = time.perf_counter()
estimate_cost({"prompt_tokens": 10, "completion_tokens": 5}, "gpt-4o-mini")
first = time.perf_counter() - started
print(json.dumps({"import": imported, "first_price": first}))
"""

CHAT_PROBE = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
from oai_magic.practice import PracticeServer
ip = InteractiveShell.instance()
ip.run_line_magic("config", "HistoryManager.enabled = False")
ip.run_line_magic("load_ext", "oai_magic")
after_load = "genai_prices" in sys.modules
if sys.argv[1] == "override":
    ip.run_line_magic("config", 'OAIMagics.prices = {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}')
with PracticeServer() as server:
    ip.run_line_magic("oai", f"base-url {server.base_url}")
    from oai_magic.state import Secret, get_state
    get_state(ip).settings.api_key = Secret("sk-bench-0000000000")
    started = time.perf_counter()
    ip.run_cell("%%chat -o r\n[[echo]] hi", store_history=False)
    first = time.perf_counter() - started
print(json.dumps({"first_chat": first, "package_after_load_ext": after_load}))
"""

# What `pip install genai-prices` adds to an environment that has oai_magic's other dependencies.
ADDED = ("genai-prices", "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
         "httpx2", "httpcore2", "anyio", "truststore", "h11")


def installed_size(distribution: str) -> int:
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return 0
    return sum(Path(f.locate()).stat().st_size for f in files if Path(f.locate()).is_file())


def probe(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    sizes = {name: installed_size(name) for name in ADDED}
    print("installed size (MB):", ", ".join(f"{n} {s / 1e6:.1f}" for n, s in sizes.items() if s),
          f"= {sum(sizes.values()) / 1e6:.1f} MB")
    imports = [probe(IMPORT_PROBE) for _ in range(runs)]
    warmed = [probe(CHAT_PROBE, "package") for _ in range(runs)]
    override = [probe(CHAT_PROBE, "override") for _ in range(runs)]
    median = statistics.median
    print(f"{'':34}{'median':>10}")
    print(f"{'import genai_prices (main thread)':34}{median(r['import'] for r in imports):>9.3f}s")
    print(f"{'then the first price':34}{median(r['first_price'] for r in imports):>9.3f}s")
    print(f"{'first %%chat, data warmed':34}{median(r['first_chat'] for r in warmed):>9.3f}s")
    print(f"{'first %%chat, OAIMagics.prices':34}{median(r['first_chat'] for r in override):>9.3f}s")
    print("genai_prices imported by %load_ext:",
          any(r["package_after_load_ext"] for r in warmed + override))


if __name__ == "__main__":
    main()
