"""Shared fixtures: one practice server over a real socket, and a fresh IPython shell per test."""

from __future__ import annotations

import os
import sys
from typing import Optional, Type

import pytest
from hypothesis import settings
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from oai_magic import state as state_module
from oai_magic.core import session as session_module
from oai_magic.practice import PracticeServer

from . import scheduling
from .recording import Notebook

TEST_KEY = "sk-test-SECRETKEY-0123456789abcd"

# Each module is compiled once for the whole run, not once per process: the suite starts over a
# hundred Python processes from this checkout (three workers, kernels, JupyterLab, servers), and
# with PYTHONDONTWRITEBYTECODE (set in some images, this machine's among them) every one of them
# recompiled what it imported, and every worker re-ran pytest's assertion rewriting of all the
# test files (8 s of CPU each). The bytecode goes to the usual __pycache__ folders (ignored by git).
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    sys.dont_write_bytecode = False

# jsonschema (the spec checks here, the MCP SDK's tool results) imports rfc3987_syntax when it is
# installed, for its optional "iri" format, and that builds a Lark grammar: 1.2 s of CPU in every
# test process, three workers at collection among them. No test checks formats (validators do
# not unless asked), so test processes go without it.
sys.modules.setdefault("rfc3987_syntax", None)

# Under CI the property tests draw the same examples on every run (a fixed seed per test): CI
# decides whether a change lands, so a failure there must be one anyone can reproduce, never a
# new random draw. Runs elsewhere keep exploring with random seeds and keep what they find in
# .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


# --- how xdist shares the suite: files and groups, the longest first (tests/scheduling.py) ------


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    scheduling.tell_the_controller(config, items)


def pytest_configure(config):
    if not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") == "loadgroup":
        config.pluginmanager.register(scheduling.Schedule(config), "oai-magic-schedule")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _private_data_home(tmp_path_factory):
    """The log (issue 24) of a test run never is the user's: fixtures made for the whole session
    already see a private XDG_DATA_HOME (``private_log`` gives each test its own)."""
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if before is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = before


@pytest.fixture(autouse=True)
def private_log(tmp_path_factory, monkeypatch):
    """Every test has its own XDG_DATA_HOME, so its log starts empty, and no notebook name from
    the Jupyter that runs pytest (JPY_SESSION_NAME) leaks into it. Returns the folder."""
    home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    return home


@pytest.fixture(scope="module")
def practice():
    """A practice server for one test module, apart from the shared one that ``server`` resets."""
    with PracticeServer() as server:
        yield server


@pytest.fixture(scope="session")
def _server():
    server = PracticeServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_server):
    """The practice server, emptied of recorded requests and scripts for this test."""
    _server.requests.clear()
    _server.token_delay = 0.0
    _server._scripts.clear()
    _server.quirks = None
    _server.rate_limit = None
    _server.batches.batch_seconds = 1.0
    _server.batches.clock = __import__("time").monotonic
    yield _server
    _server.rate_limit = None
    _server._scripts.clear()
    _server.quirks = None


@pytest.fixture(scope="session")
def _shell():
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "oai_magic")
    return shell


@pytest.fixture
def shell(_shell, server, monkeypatch):
    """A shell whose kernel state is fresh and points at the practice server with a test key.
    Every ``%config OAIMagics`` trait is put back after the test: a setting changed through the
    session (``configure(log_path="")``) reaches the traits too, and leaked into the next test
    of the worker (test_batch, then test_log_wiring, found no log)."""
    magics = _shell.magics_manager.registry["OAIMagics"]
    traits_before = {name: getattr(magics, name) for name in magics.trait_names(config=True)}
    fresh = session_module.reset_session(_shell)
    magics.display_mode = "plain"
    magics.apply_configuration()
    fresh.settings.base_url = server.base_url
    fresh.settings.api_key = state_module.Secret(TEST_KEY)
    _shell.user_ns.pop("r", None)
    yield _shell
    for name, value in traits_before.items():
        if getattr(magics, name) != value:
            setattr(magics, name, value)


@pytest.fixture
def magics(shell):
    """The loaded OAIMagics, to read or set its traits as ``%config`` would."""
    return shell.magics_manager.registry["OAIMagics"]


@pytest.fixture
def notebook(shell):
    """Rich display, every message kept as a notebook frontend receives it; plain again after."""
    with Notebook(shell) as publisher:
        yield publisher


def run(shell, cell: str, expect: Optional[Type[BaseException]] = None):
    """Run a cell as a notebook would; a cell that fails when it should not fails the test.

    IPython keeps a cell's exception in the ExecutionResult (``error_before_exec`` when the
    cell could not start, ``error_in_exec`` when it raised) after showing it to the user. Left
    there, a cell that broke looks like one that passed. So: without ``expect`` the error is
    raised again, with its own traceback, and the ExecutionResult is returned. With ``expect``
    the cell must fail with exactly that class (what the user sees is the class and its
    message); the error is returned so the test can assert on its message.
    """
    result = shell.run_cell(cell, store_history=False)
    error = result.error_before_exec or result.error_in_exec
    if expect is None:
        if error is not None:
            raise error
        return result
    if error is None:
        pytest.fail(f"the cell was expected to fail with {expect.__name__} but ran without error:\n{cell}")
    if type(error) is not expect:
        raise AssertionError(
            f"the cell was expected to fail with {expect.__name__}, not {type(error).__name__}: {error}"
        ) from error
    return error


@pytest.fixture
def frontend(monkeypatch):
    """Every widget message, as a frontend would hold it (live surfaces included)."""
    import comm

    from .page_model import WidgetFrontend

    seen = WidgetFrontend()
    frontend_comm = seen.comm_class()
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: frontend_comm(*a, **k))
    return seen




@pytest.fixture
def panel(shell):
    """Make chat panels; each is stopped, waited for and closed after the test."""
    from oai_magic.ui.panel.panel import ChatPanel

    made = []

    def make(*args, **kwargs):
        made.append(ChatPanel(*args, **kwargs))
        return made[-1]

    yield make
    for p in made:
        p.stop()
        p.wait(10)
        p.close()


# --- browser tests: one JupyterLab and one Chromium for every browser test of this process ---------
# Starting them takes seconds, and loading JupyterLab in the page 4 s of CPU: a worker does both
# once, and a test costs only the notebook it opens (tests/browser.py, tests/scheduling.py).


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A real JupyterLab over a copy of notebooks/ (tests/browser.py)."""
    from .browser import JupyterLab

    server = JupyterLab(tmp_path_factory.mktemp("lab")).start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    """Debian's headless Chromium (/usr/bin/chromium), driven by Playwright; never a downloaded one.

    One for a run of browser tests: started by the first, stopped after the last (before a test
    that needs none, see pytest_runtest_teardown): while open, Playwright's sync API keeps an
    asyncio loop running in this thread, and a later test's ``asyncio.run()`` would fail."""
    from .browser import CHROMIUM, SHARED_CHROMIUM

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's Chromium "
            "(apt-get install chromium; .ci/run installs it). Never `playwright install`."
        )
    return SHARED_CHROMIUM.start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    if "browser" in getattr(item, "fixturenames", ()) and (
            nextitem is None or "browser" not in getattr(nextitem, "fixturenames", ())):
        from .browser import SHARED_CHROMIUM

        SHARED_CHROMIUM.stop()
    return result


@pytest.fixture
def page(browser, lab):
    """The page holding JupyterLab, loaded once per run of browser tests (tests/browser.py);
    after the test, what it opened is closed and the kernels it started are shut down."""
    from .browser import SHARED_CHROMIUM, close_documents

    page = SHARED_CHROMIUM.lab_page()
    try:
        yield page
    finally:
        try:
            close_documents(page)
        finally:
            lab.end_sessions()


@pytest.fixture(scope="session")
def screenshots():
    """Where browser tests save screenshots: $OAI_E2E_SCREENSHOTS (default artifacts/screenshots)."""
    import os
    from pathlib import Path

    folder = Path(os.environ.get("OAI_E2E_SCREENSHOTS")
                  or Path(__file__).resolve().parent.parent / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# A kernel function the tool tests of other servers offer (test_other_servers*.py).
WEATHER = '''
def get_weather(city: str) -> dict:
    """Weather now in a city."""
    return {"city": city, "temperature": 21}
'''


@pytest.fixture
def llamacpp(server):
    """The practice server playing llama-cpp-python's server for this test."""
    server.quirks = "llamacpp"
    return server


@pytest.fixture
def weather(shell):
    """``get_weather`` defined in the test shell."""
    assert run(shell, WEATHER).success
    yield
    shell.user_ns.pop("get_weather", None)


@pytest.fixture(scope="module")
def hostile():
    """The hostile server (tests/hostile_server.py, with every mode of hostile_replies), one per
    test module, shared by the hostile test files."""
    from . import hostile_replies  # noqa: F401  (registers the modes)
    from .hostile_server import HostileServer

    server = HostileServer().start()
    yield server
    server.stop()
