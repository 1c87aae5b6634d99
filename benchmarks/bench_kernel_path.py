"""The whole ``%%chat`` magic against a raw line reader, on one fast stream, in a real kernel.

    python benchmarks/bench_kernel_path.py                       # 20,000 tokens, 5 runs each
    python benchmarks/bench_kernel_path.py --profile /tmp/magic.prof   # and cProfile one magic run

The practice server runs in its own process (``python -m oai_magic.practice --port 0 --delay 0``:
it sends as fast as it can, CONTRACTS 4). A real IPython kernel (ipykernel, so every display and
widget message is serialised and sent on iopub as in a notebook) runs, interleaved:

* **raw lines**: ``requests`` + ``iter_lines`` + ``json.loads``, collecting the content;
* **%%chat**: ``%%chat -n`` as a user runs it, display included (the live surface, then the final
  block), recorded in the conversation and the log.

* **render_markdown(answer)**: the final Markdown of that answer rendered once (markdown-it-py and
  Pygments, no reading): the part of any ``%%chat`` that shows Markdown which a line reader
  does not do.

Both readers read the same answer (``[[tokens=N]]``) from the same server. Prints each one's
median seconds, the ratio magic / raw lines (the target is ≤ 1.0×), and the render's share.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.practice_process import practice_server  # noqa: E402
from tests.kernels import kernel_env, kernel_manager  # noqa: E402

SETUP = r'''
import json, time, requests
from IPython import get_ipython
ip = get_ipython()
ip.run_line_magic("load_ext", "oai_magic")
ip.run_line_magic("oai", "base-url {base}")
import os
os.environ["OPENAI_API_KEY"] = "sk-bench-0000000000000000"
PROMPT = "{prompt}"

def raw_lines():
    body = {{"model": "gpt-4o-mini", "stream": True, "messages": [{{"role": "user", "content": PROMPT}}]}}
    parts = []
    with requests.post("{base}/chat/completions", json=body, stream=True,
                       headers={{"Authorization": "Bearer sk-bench-0000000000000000"}}) as response:
        for line in response.iter_lines():
            if line.startswith(b"data: {{"):
                for choice in json.loads(line[6:])["choices"]:
                    content = choice["delta"].get("content")
                    if content:
                        parts.append(content)
    return len("".join(parts))

def magic():
    ip.run_cell_magic("chat", "-n -o _bench_result", PROMPT)
    return len(_bench_result.text)

from oai_magic.render.markdown import render_markdown

def render_only():
    render_markdown(_bench_result.text)
    return len(_bench_result.text)

def timed(function):
    started, cpu = time.perf_counter(), time.process_time()
    size = function()
    return time.perf_counter() - started, time.process_time() - cpu, size

raw_lines(); magic(); render_only()  # warm: imports, the first connection, the renderer
'''

PROFILE = r'''
import cProfile
cProfile.run("magic()", {path!r})
'''


# What runs in the kernel, interleaved: the two readers, and the one render of the final
# Markdown that %%chat must do and a line reader does not.
PARTS = {"raw lines": "raw_lines", "%%chat": "magic", "render_markdown(answer)": "render_only"}


def execute(client, code: str) -> str:
    """Run ``code`` in the kernel; its stdout (display messages are ignored)."""
    out = []
    msg_id = client.execute(code)
    while True:
        msg = client.get_iopub_msg(timeout=600)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif kind == "error":
            raise SystemExit("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--prompt", default="", help="extra directives, e.g. '[[shape=code]]'")
    parser.add_argument("--profile", metavar="PATH", help="also cProfile one %%chat run into PATH")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oai-kernel-path-"))
    with practice_server(0.0) as base:
        times, sizes = measure(args, base, tmp)
    report(args, times, sizes)


def measure(args: argparse.Namespace, base: str, tmp: Path) -> tuple:
    manager = kernel_manager(sys.executable, tmp)
    env = kernel_env(tmp, {"XDG_DATA_HOME": str(tmp / "data"), "PYTHONPATH": str(REPO)})
    manager.start_kernel(env=env, cwd=str(REPO))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        prompt = f"[[tokens={args.tokens}]] {args.prompt}".strip()
        execute(client, SETUP.format(base=base, prompt=prompt))
        times: dict = {name + cpu: [] for name in PARTS for cpu in ("", " cpu")}
        sizes: dict = {}
        for _ in range(args.runs):  # interleaved, so drift and neighbours hit all alike
            for name, function in PARTS.items():
                seconds, cpu, size = json.loads(execute(client, f"print(json.dumps(timed({function})))"))
                times[name].append(seconds)
                times[name + " cpu"].append(cpu)
                sizes[name] = size
        if args.profile:
            execute(client, PROFILE.format(path=os.path.abspath(args.profile)))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return times, sizes


def report(args: argparse.Namespace, times: dict, sizes: dict) -> None:
    raw, ours = statistics.median(times["raw lines"]), statistics.median(times["%%chat"])
    print(f"One answer of {args.tokens:,} tokens ({sizes['%%chat']:,} chars) from the practice server in its "
          f"own process, sent as fast as it can; a real kernel; median of {args.runs} interleaved runs:")
    print(f"  {'raw lines (requests.iter_lines + json.loads)':48s} {raw:7.3f} s   "
          f"(runs: {', '.join(f'{t:.3f}' for t in times['raw lines'])})")
    print(f"  {'%%chat -n (display, record, log)':48s} {ours:7.3f} s   "
          f"(runs: {', '.join(f'{t:.3f}' for t in times['%%chat'])})")
    print(f"  ratio %%chat / raw lines: {ours / raw:.2f}x   (target ≤ 1.00x)")
    raw_cpu, ours_cpu = statistics.median(times["raw lines cpu"]), statistics.median(times["%%chat cpu"])
    print(f"  the kernel's CPU time (all its threads; less sensitive to a busy machine): raw lines "
          f"{raw_cpu:.3f} s, %%chat {ours_cpu:.3f} s, ratio {ours_cpu / raw_cpu:.2f}x")
    render_cpu = statistics.median(times["render_markdown(answer) cpu"])
    print(f"  one render_markdown of the final answer (no reading): {render_cpu:.3f} s of CPU, "
          f"{render_cpu / raw_cpu:.2f}x raw lines' CPU; %%chat less that render: "
          f"{(ours_cpu - render_cpu) / raw_cpu:.2f}x")
    if sizes["raw lines"] != sizes["%%chat"]:
        print(f"  ! the two read different lengths: {sizes['raw lines']} and {sizes['%%chat']} chars")
    if args.profile:
        print(f"  profile of one %%chat run: {args.profile} "
              f"(python -c \"import pstats; pstats.Stats('{args.profile}').sort_stats('tottime').print_stats(25)\")")


if __name__ == "__main__":
    main()
