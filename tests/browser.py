"""A real JupyterLab on 127.0.0.1 and Debian's headless Chromium driven by Playwright, for e2e tests.

The server runs from this virtualenv on a free port with a token, over a temporary copy of
notebooks/, with its own config, data, runtime, settings and workspace directories, no OpenAI
settings, and Jupyter's news prompt switched off. Readiness is read from the server's log, never
waited for by sleeping.

Writing a browser test (issue 26: one JupyterLab and one Chromium, on the one worker that runs
the browser files, started once):

- Ask for the fixtures ``lab`` and ``page`` (and ``screenshots`` to save images), and mark the
  file ``pytestmark = pytest.mark.xdist_group("jupyterlab")``: every browser file then runs on
  one worker (tests/scheduling.py), which starts JupyterLab on first use (session scope, in
  tests/conftest.py) and keeps it for the others. Don't start your own JupyterLab or browser.
- Each test gets the page where JupyterLab is already loaded (``page``): ``open_notebook``
  opens the test's notebook alone in it, and after the test ``page`` closes every document
  (unsaved) and shuts down every kernel the test started (``lab.end_sessions``). A test that
  reloads the page, or leaves it broken, gets the next test a fresh one. Chromium stops after the last browser test in a row
  (Playwright's sync API keeps an asyncio loop running while it is open), so keep ``browser``
  out of module or session fixtures: ask for it, or ``page``, in the test. Leave the server as you found it: no settings changed
  for everyone, and new notebooks under a name of their own (``add_notebook``).
- Open a guide from notebooks/ with ``open_notebook(page, lab, "01-quickstart.ipynb")``, or one
  of your own with ``open_notebook(page, lab, add_notebook(lab, "mine.ipynb", [source, ...]))``;
  both return the cells once all are drawn and the kernel is idle. Run them with
  ``run_cells_through``, which waits for each cell, or only the ones you watch with
  ``run_cells`` (a guide's setup cell and the one under test). Wait on the page (``expect``, ``wait_for``,
  ``page.wait_for_function``), never with a sleep.
- Keep a test short: say its cost in your issue's note. A paced answer costs its pace (1,500
  tokens at 20 ms is 30 s): pace only what the test watches stream, at the fewest ms it needs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, Optional

import nbformat

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # A fake microphone that plays real speech (issue 28), granted without asking.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    f"--use-file-for-fake-audio-capture={Path(__file__).resolve().parent / 'fixtures' / 'hello.wav'}",
]
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLab:
    """``jupyter lab`` as a child process; ``url(path)`` opens a notebook with the token."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "notebooks"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log: List[str] = []
        self.process: Optional[subprocess.Popen] = None
        self._ready = threading.Event()

    def start(self, timeout: float = 90.0) -> JupyterLab:
        shutil.copytree(NOTEBOOK_DIR, self.root)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OAI_MAGIC_"))}
        for name in ("config", "data", "runtime", "ipython", "settings", "workspaces"):
            (self.tmp / name).mkdir()
        env.update(
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
            JUPYTER_DATA_DIR=str(self.tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"),
            IPYTHONDIR=str(self.tmp / "ipython"),
            JUPYTERLAB_SETTINGS_DIR=str(self.tmp / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"),
            JUPYTER_PLATFORM_DIRS="1",
            XDG_DATA_HOME=str(self.tmp / "xdg-data"),  # the kernels' log (issue 24), not the user's
        )
        news = self.tmp / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
                "--ServerApp.allow_root=True", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                # window.jupyterapp, so a test's page opens its notebook in the JupyterLab already
                # loaded (open_notebook) instead of loading the whole application again
                "--LabApp.expose_app_in_browser=True",
            ],
            env=env, cwd=str(self.tmp), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("JupyterLab did not start:\n" + "".join(self.log[-40:]))
        return self

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            if f"http://127.0.0.1:{self.port}/" in line:
                self._ready.set()
        self._ready.set()  # the server exited: wake start() so it can report the log

    def end_sessions(self) -> None:
        """Shut down every kernel the tests' pages started, so the next test (of any file: the
        server is shared) meets a fresh kernel and no CPU goes to the last one's."""
        import urllib.request

        base = f"http://127.0.0.1:{self.port}/api/sessions"
        headers = {"Authorization": f"token {self.token}"}
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(urllib.request.Request(base, headers=headers), timeout=10) as response:
            sessions = json.load(response)
        for session in sessions:
            request = urllib.request.Request(f"{base}/{session['id']}", headers=headers, method="DELETE")
            direct.open(request, timeout=30).close()

    def url(self, notebook: str) -> str:
        """The notebook alone in the window: ``reset`` drops the tabs an earlier page left in the
        workspace (their kernels are shut down, see end_sessions)."""
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?reset&token={self.token}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SharedChromium:
    """Chromium under Playwright's sync API, started on first use, stopped by ``stop``."""

    def __init__(self) -> None:
        self._playwright = None
        self._browser = None
        self._page = None

    def start(self):
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright()
            playwright = self._playwright.__enter__()
            self._browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        return self._browser

    def lab_page(self):
        """The page that keeps JupyterLab loaded from one browser test to the next, created on
        first use. Loading JupyterLab costs about 4 s of Chromium's CPU; a test opens its notebook
        in the loaded one instead (open_notebook), and ``close_documents`` closes it after."""
        browser = self.start()
        if self._page is None or self._page.is_closed():
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.dialogs = []  # an alert() from an answer would land here
            page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
            self._page = page
        self._page.dialogs.clear()
        return self._page

    def stop(self) -> None:
        self._page = None
        if self._playwright is not None:
            try:
                if self._browser is not None:
                    self._browser.close()
            finally:
                self._playwright.__exit__(None, None, None)
                self._playwright = self._browser = None


SHARED_CHROMIUM = SharedChromium()


def cell_count(notebook: str, folder: Path = NOTEBOOK_DIR) -> int:
    return len(nbformat.read(folder / notebook, as_version=4).cells)


def add_notebook(lab: JupyterLab, name: str, sources: List[str]) -> str:
    """Write a notebook of code cells (Python 3 kernel) into the lab's folder; return its name."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    nbformat.write(notebook, lab.root / name)
    return name


# Set on the page by open_notebook: a page reloaded or navigated since (a test's own page.reload)
# has lost it, and may still be opening the URL's notebook, so it is not reused.
APP_LOADED = "() => !!(window.jupyterapp && window.jupyterapp.shell && window.__oaiOpenedHere)"
MARK_OPENED = "() => { window.__oaiOpenedHere = true; }"
# Every document in the main area (notebooks, docked panels) closed without saving: the next test
# starts from an empty JupyterLab, as a fresh page with ?reset did. Once JupyterLab has restored
# its layout: a test that reloaded the page left one being restored, which came back afterwards.
CLOSE_DOCUMENTS = """async () => {
    await window.jupyterapp.restored;
    for (const widget of Array.from(window.jupyterapp.shell.widgets('main'))) {
        if (widget.context && widget.context.model) widget.context.model.dirty = false;
        widget.dispose();
    }
}"""
OPEN_ALONE = "async (path) => { await (" + CLOSE_DOCUMENTS + """)();
    await window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'});
}"""


def close_documents(page) -> None:
    """After a test: close what it opened in the shared JupyterLab page (then its kernels are
    shut down, see JupyterLab.end_sessions). A page that cannot do it (a test left it broken
    or reloaded it) is closed with its context, and the next test loads JupyterLab afresh."""
    try:
        if not page.is_closed() and page.evaluate(APP_LOADED):
            page.evaluate(CLOSE_DOCUMENTS)
            return
    except Exception as error:  # noqa: BLE001 - any failure here means: start the next one clean
        print(f"browser: the shared page is replaced ({type(error).__name__})", file=sys.stderr)
    if not page.is_closed():
        page.context.close()


def open_notebook(page, lab: JupyterLab, notebook: str):
    """Open ``notebook`` (a guide, or one added to ``lab.root``); return its cells once all are
    drawn and the kernel is idle."""
    from playwright.sync_api import expect

    if page.url.startswith(f"http://127.0.0.1:{lab.port}/lab") and page.evaluate(APP_LOADED):
        page.evaluate(OPEN_ALONE, notebook)
    else:
        page.goto(lab.url(notebook))
        page.evaluate(MARK_OPENED)
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
    expect(cells).to_have_count(cell_count(notebook, lab.root), timeout=90_000)
    page.wait_for_function(KERNEL_READY, arg=notebook, polling=100, timeout=90_000)
    return cells


# The notebook's kernel has started and its connection is up. The toolbar's execution indicator
# says "idle" before that (it was the wait here), and a Shift+Enter pressed then was dropped:
# the first cell of half the tests showed no start, and the press was repeated only after its
# 10 s wait (_run_selected).
KERNEL_READY = """(path) => {
    const widget = Array.from(window.jupyterapp.shell.widgets('main'))
        .find(w => w.context && w.context.path === path);
    const kernel = widget && widget.sessionContext.session && widget.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""


def cell_index(cells, containing: str) -> int:
    """Index of the first cell whose source contains ``containing``."""
    sources = cells.evaluate_all(
        "cells => cells.map(c => (c.querySelector('.cm-content') || {innerText: ''}).innerText)"
    )
    return next(i for i, source in enumerate(sources) if containing in source)


FINISHED_PROMPT = re.compile(r"\[\d+\]")  # "[*]:" while it runs, "[3]:" once it has run
STARTED_PROMPT = re.compile(r"\[(\d+|\*)\]")


def accept_dialog(page) -> None:
    """A JupyterLab dialog open over the notebook (seen twice under load, before the first
    Shift+Enter) takes the pointer, and a click on a cell then times out: accept it as a reader
    would, saying on stderr which one it was."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.first.is_visible():
        title = dialog.first.locator(".jp-Dialog-header").first.inner_text()
        print(f"browser: accepting a JupyterLab dialog: {title!r}", file=sys.stderr)
        dialog.first.locator(".jp-Dialog-button.jp-mod-accept").first.click()
        dialog.first.wait_for(state="detached", timeout=10_000)


def run_cells_through(page, cells, last: int, timeout_ms: float = 90_000) -> None:
    """Run cells 0 to ``last`` as a reader does: from the first cell, press Shift+Enter, and wait
    until a code cell has finished before pressing it again. Pressed ahead, a key can land in
    what a running cell shows (the panel's message box). A press that a busy page lost (the code
    cell shows no start after 10 s) is repeated once the cell is selected again. Cell ``last`` is
    left running, so the test can watch it."""
    accept_dialog(page)
    cells.nth(0).click()
    for index in range(last + 1):
        _run_selected(page, cells.nth(index), wait=index < last, timeout_ms=timeout_ms)


def run_cells(page, cells, indexes: List[int], timeout_ms: float = 90_000) -> None:
    """Run only the cells ``indexes``, in order, each clicked then Shift+Enter, waiting for each
    but the last (left running): a test of one cell of a guide runs its setup cell and that cell,
    not the guide's paced answers in between (tests/test_notebooks.py runs every guide whole)."""
    accept_dialog(page)
    for position, index in enumerate(indexes):
        cell = cells.nth(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputArea-editor").first.click()
        _run_selected(page, cell, wait=position < len(indexes) - 1, timeout_ms=timeout_ms)


def _run_selected(page, cell, wait: bool, timeout_ms: float) -> None:
    """Shift+Enter on the selected ``cell``; for a code cell, wait until it has started (pressing
    again if a busy page lost the key) and, if ``wait``, until it has finished."""
    from playwright.sync_api import expect

    page.keyboard.press("Shift+Enter")
    if "jp-CodeCell" not in (cell.get_attribute("class") or ""):
        return
    prompt = cell.locator(".jp-InputPrompt").first
    for _ in range(3):
        try:
            expect(prompt).to_have_text(STARTED_PROMPT, timeout=10_000)
            break
        except AssertionError:
            print("browser: a Shift+Enter showed no start after 10 s; pressing it again",
                  file=sys.stderr)
            accept_dialog(page)
            cell.locator(".jp-InputArea-editor").first.click()
            page.keyboard.press("Shift+Enter")
    if wait:
        expect(prompt).to_have_text(FINISHED_PROMPT, timeout=timeout_ms)
