"""Live answers as a person sees them: latency from the server's send to the first frame.

Starts the practice server in its own process (logging the wall-clock time of every token it
sends), a real JupyterLab and Debian's headless Chromium (Playwright, executable_path
/usr/bin/chromium). For each shape and length it runs a ``%%chat`` cell, and (up to 2,000
tokens) the same answer through a naive view that re-renders the whole Markdown on every
chunk (chatlas-style), and records in the page, on every animation frame, how much text the
cell shows. A token counts as seen at the first frame whose text (whitespace removed) is at
least as long as the rendered text of the answer up to that token.

    .venv/bin/python benchmarks/bench_browser.py            # the full table (about 20 min)
    .venv/bin/python benchmarks/bench_browser.py --quick    # English, Chinese, the list; 240/2000

Prints p50/p95/p99/max latency (ms), bytes the kernel sent over the final block's size, long
tasks (>50 ms) on the page's main thread, and whether "Show more outputs" ever appeared.
Screenshots of each run's last frame go to artifacts/bench_browser/.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oai_magic.render.markdown import render_markdown  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, JupyterLab  # noqa: E402

SERVER = r'''
import json, sys, time
from oai_magic import practice
from oai_magic.practice.handler import PracticeHandler as Handler
log = open(sys.argv[2], "a", buffering=1)
write = Handler._write_chunk
def logged(self, data):
    write(self, data)
    self.wfile.flush()
    for line in data.split(b"\n"):
        if line.startswith(b"data: {"):
            try:
                event = json.loads(line[6:])
                text = (event.get("choices") or [{}])[0].get("delta", {}).get("content")
            except Exception:
                text = None
            if text:
                index = (event.get("choices") or [{}])[0].get("index", 0)
                log.write(json.dumps([time.time(), text, index]) + "\n")
Handler._write_chunk = logged
server = practice.PracticeServer("127.0.0.1", int(sys.argv[1]), token_delay=0.02)
server.start()
print(server.base_url, flush=True)
server._thread.join()
'''

NAIVE = r'''
import json, requests
from IPython.display import display
from oai_magic.render.markdown import render_markdown
def naive_chat(prompt):
    handle = display({"text/html": '<div class="oai-naive"></div>'}, raw=True, display_id=True)
    text = ""
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    with requests.post(BASE + "/chat/completions", json=body, stream=True,
                       headers={"Authorization": "Bearer sk-practice"}) as r:
        for line in r.iter_lines():
            if line.startswith(b"data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                text += delta
                handle.update({"text/html": f'<div class="oai-naive">{render_markdown(text)}</div>'}, raw=True)
    handle.update({"text/html": f'<div class="oai-naive">{render_markdown(text)}</div>'
                                '<div class="oai-footer">done</div>'}, raw=True)
'''

RECORDER = """() => {
  window.__oaiFrames = [];
  window.__oaiLong = [];
  window.__oaiMore = false;
  new PerformanceObserver(list => { for (const e of list.getEntries()) window.__oaiLong.push(e.duration); })
    .observe({entryTypes: ["longtask"]});
  const tick = () => {
    const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell');
    const cell = cells[window.__oaiCell];
    if (cell) {
      const area = cell.querySelector('.jp-OutputArea');
      // the answer being measured: the last answer (not a user message), or choice 1's column
      const answers = area ? [...area.querySelectorAll(window.__oaiTarget)]
        .filter(a => !a.closest('.oai-user')) : [];
      const answer = window.__oaiTarget.startsWith('.oai-choice') ? answers[0] : answers[answers.length - 1];
      const text = answer ? answer.textContent.replace(/\\s+/g, '') : '';
      const done = area ? area.querySelectorAll('.oai-footer').length > 0 : false;
      if (document.body.textContent.includes('Show more outputs')) window.__oaiMore = true;
      const frames = window.__oaiFrames;
      const last = frames[frames.length - 1];
      if (!last || last[1] !== text.length || last[2] !== done) frames.push([Date.now(), text.length, done]);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def visible_length(markdown: str) -> int:
    return len(re.sub(r"\s+", "", BeautifulSoup(render_markdown(markdown), "html.parser").get_text()))


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tokens", help="comma-separated answer lengths to run (e.g. 240)")
    parser.add_argument("--langs", help="comma-separated languages to run (e.g. en,zh)")
    parser.add_argument("--only", help="comma-separated views to run (chat, naive, panel, -N 2) "
                                       "and/or shapes (prose, list, code, table)")
    args = parser.parse_args()
    cases = [(lang, shape, n) for n in (240, 2000) for lang, shape in (
        ("en", "prose"), ("de", "prose"), ("ru", "prose"), ("zh", "prose"), ("ja", "prose"),
        ("en", "list"), ("en", "code"), ("en", "table"))]
    cases += [("en", "prose", 8000), ("zh", "prose", 8000)]
    if args.quick:
        cases = [(lang, shape, n) for lang, shape, n in cases
                 if (lang, shape) in (("en", "prose"), ("zh", "prose"), ("en", "list")) and n <= 2000]
    if args.tokens:
        cases = [c for c in cases if str(c[2]) in args.tokens.split(",")]
    if args.langs:
        cases = [c for c in cases if c[0] in args.langs.split(",")]
    wanted: set = set()
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c[1] in wanted or not wanted & {"prose", "list", "code", "table"}]
    shots = REPO / "artifacts" / "bench_browser"
    shots.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="oai-bench-"))
    log_path = tmp / "sent.jsonl"
    server = subprocess.Popen([sys.executable, "-c", SERVER, "0", str(log_path)], stdout=subprocess.PIPE,
                              text=True, cwd=str(REPO))
    base = server.stdout.readline().strip()
    lab = JupyterLab(tmp)
    cells = [nbformat.v4.new_code_cell(
        f"%load_ext oai_magic\n%oai base-url {base}\nimport os\nos.environ['OPENAI_API_KEY'] = 'sk-practice'\n"
        f"BASE = {base!r}\nimport oai_magic\n" + NAIVE + "\nprint('setup done')")]
    runs = []
    for lang, shape, n in cases:
        prompt = f"[[tokens={n}]] [[lang={lang}]] [[shape={shape}]]"
        for _ in range(args.runs):
            runs.append(("chat", lang, shape, n, len(cells)))
            cells.append(nbformat.v4.new_code_cell(f"%%chat -n -o bench_{len(cells)}\n{prompt}"))
            if n <= 2000:
                runs.append(("naive", lang, shape, n, len(cells)))
                cells.append(nbformat.v4.new_code_cell(f"naive_chat({prompt!r})"))
    if args.only:
        runs = [r for r in runs if r[0] in wanted or not wanted & {"chat", "naive", "panel", "-N 2"}]
    for n in (240, 2000):  # the panel and -N columns, English prose
        prompt = f"[[tokens={n}]] [[lang=en]] [[shape=prose]]"
        runs.append(("panel", "en", "prose", n, len(cells)))
        cells.append(nbformat.v4.new_code_cell(
            f"panel = oai_magic.ChatPanel('bench{len(cells)}')\ndisplay(panel)\npanel.send({prompt!r})"))
        runs.append(("-N 2", "en", "prose", n, len(cells)))
        cells.append(nbformat.v4.new_code_cell(f"%%chat -N 2 -n\n{prompt}"))
    if args.only:
        runs = [r for r in runs if r[0] in wanted or not wanted & {"chat", "naive", "panel", "-N 2"}]
    try:
        lab.start()
        nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
        nbformat.write(nb, lab.root / "bench.ipynb")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab.url("bench.ipynb"))
            page.locator(".jp-Notebook .jp-Cell").nth(len(cells) - 1).wait_for(timeout=90_000)
            page.locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status='idle']"
                         ).first.wait_for(state="attached", timeout=90_000)
            page.evaluate(RECORDER)
            page.locator(".jp-Notebook .jp-Cell").nth(0).click()
            page.keyboard.press("Shift+Enter")  # setup: wait for its last line, not for a time
            page.locator(".jp-Notebook .jp-Cell").nth(0).get_by_text("setup done").wait_for(timeout=120_000)
            print(f"{'view':6} {'lang':4} {'shape':6} {'tokens':>6} {'p50':>6} {'p95':>6} {'p99':>6} "
                  f"{'max':>6} {'first':>6} {'long>50ms':>9} {'more?':>5}")
            for view, lang, shape, n, index in runs:
                target = ".oai-choice .oai-answer" if view == "-N 2" else ".oai-answer, .oai-naive"
                page.evaluate(f"window.__oaiCell = {index}; window.__oaiTarget = {target!r}; "
                              "window.__oaiFrames = []; window.__oaiLong = [];")
                log_path.write_text("")
                cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
                cell.scroll_into_view_if_needed()
                cell.click()
                page.keyboard.press("Shift+Enter")
                try:
                    cell.locator(".oai-footer").first.wait_for(timeout=n * 60 + 60_000)
                except Exception:
                    cell.screenshot(path=str(shots / f"FAILED-{view}-{lang}-{shape}-{n}.png"))
                    print(f"{view} {lang} {shape} {n}: no footer (see the FAILED screenshot)")
                    continue
                page.wait_for_timeout(300)
                frames = page.evaluate("window.__oaiFrames")
                longs = page.evaluate("window.__oaiLong")
                more = page.evaluate("window.__oaiMore")
                cell.screenshot(path=str(shots / f"{view}-{lang}-{shape}-{n}.png"))
                sent = [json.loads(line) for line in log_path.read_text().splitlines() if line]
                sent = [(when, piece) for when, piece, choice in sent if choice == 0]
                latencies = []
                first = float("nan")
                text = ""
                step = max(1, len(sent) // 300)
                for i, (when, piece) in enumerate(sent):
                    text += piece
                    if i % step:
                        continue
                    need = visible_length(text)
                    seen = next((f[0] for f in frames if f[1] >= need), None)
                    if seen is not None:
                        latencies.append(seen - when * 1000)
                        if i == 0:
                            first = latencies[-1]  # the first token: widget made and drawn
                print(f"{view:6} {lang:4} {shape:6} {n:>6} {percentile(latencies, .5):6.0f} "
                      f"{percentile(latencies, .95):6.0f} {percentile(latencies, .99):6.0f} "
                      f"{max(latencies or [float('nan')]):6.0f} {first:6.0f} {len(longs):>9} {str(more):>5}", flush=True)
            browser.close()
    finally:
        lab.stop()
        server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
