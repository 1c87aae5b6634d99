"""What an MCP tool costs: start, tools/list, one call, stop; stdio and streamable HTTP side by side.

Uses the test server written with the SDK (tests/mcp_servers/everyday.py). For each transport it
starts a fresh ``McpServers`` and times: the first use (start and tools/list); the first call,
``--think`` seconds later (the model's request); ``--rounds`` calls of ``add`` through the sync
bridge (the kernel's thread waiting on the MCP thread); how long a Stop from another thread takes
to end a slow call; ``close()``. The first call in a process pays the SDK's import of its result
validator (jsonschema), which the MCP thread starts as soon as a server is up.

    .venv/bin/python benchmarks/bench_mcp.py [--rounds 50] [--think 5]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oai_magic.core.mcp.servers import McpServers  # noqa: E402

KINDS = ("stdio", "http")
SERVER = str(ROOT / "tests" / "mcp_servers" / "everyday.py")


def http_server() -> tuple:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, SERVER, "http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}/mcp"
        time.sleep(0.05)
    raise SystemExit("the HTTP server did not start")


def measure(kind: str, rounds: int, logs: str, think: float) -> dict:
    servers = McpServers(timeout_s=120, log_directory=logs)
    process = None
    if kind == "stdio":
        servers.add_stdio("s", sys.executable, [SERVER])
    else:
        process, url = http_server()
        servers.add_http("s", url)
    began = time.perf_counter()
    tools = {t.name: t for t in servers.resolve(["mcp:s"]).tools}
    first_use = time.perf_counter() - began
    time.sleep(think)  # the model's request: the first tool call comes after it
    began = time.perf_counter()
    servers.call(tools["add"], {"a": 0, "b": 0})
    first_call = time.perf_counter() - began
    calls = []
    for i in range(rounds):
        began = time.perf_counter()
        servers.call(tools["add"], {"a": i, "b": 1})
        calls.append(time.perf_counter() - began)
    started = threading.Event()
    pending = servers.start_call(tools["slow"], {"seconds": 60}, on_progress=lambda *_: started.set())
    started.wait(60)
    began = time.perf_counter()
    threading.Thread(target=pending.abort).start()
    with contextlib.suppress(KeyboardInterrupt):  # McpCallStopped
        pending.wait()
    stop = time.perf_counter() - began
    began = time.perf_counter()
    servers.close()
    closing = time.perf_counter() - began
    if process is not None:
        process.terminate()
        process.wait(10)
    return {"first use (start + list)": first_use * 1000, "first call": first_call * 1000,
            "call p50": statistics.median(calls) * 1000,
            "call max": max(calls) * 1000, "Stop → returned": stop * 1000, "close()": closing * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--think", type=float, default=5.0, help="seconds between listing the "
                        "tools and the first call (the model's request)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs:
        results = {kind: measure(kind, args.rounds, logs, args.think) for kind in KINDS}
    print(f"{'ms':<26}{'stdio':>12}{'http':>12}")
    for row in results["stdio"]:
        print(f"{row:<26}{results['stdio'][row]:>12.1f}{results['http'][row]:>12.1f}")


if __name__ == "__main__":
    main()
