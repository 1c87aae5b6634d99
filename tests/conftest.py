"""Shared fixtures: one practice server over a real socket, and a fresh IPython shell per test."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from oai_magic import state as state_module
from oai_magic.practice import PracticeServer

TEST_KEY = "sk-test-SECRETKEY-0123456789abcd"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


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
    """A shell whose kernel state is fresh and points at the practice server with a test key."""
    fresh = state_module.reset_state(_shell)
    magics = _shell.magics_manager.registry["OAIMagics"]
    magics.display_mode = "plain"
    magics.apply_configuration()
    fresh.settings.base_url = server.base_url
    fresh.settings.api_key = state_module.Secret(TEST_KEY)
    _shell.user_ns.pop("r", None)
    yield _shell
    magics.display_mode = "auto"
    magics.organization = None
    magics.project = None
    magics.context_tokens = None
    magics.max_tokens_param = "max_completion_tokens"


def run(shell, cell: str):
    """Run a cell; return its ExecutionResult (errors are inspected, not swallowed)."""
    return shell.run_cell(cell, store_history=False)


@pytest.fixture
def frontend(monkeypatch):
    """Every widget message, as a frontend would hold it (live surfaces included)."""
    import comm
    from comm.base_comm import BaseComm

    from .page_model import WidgetFrontend

    seen = WidgetFrontend()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            seen.receive(self.comm_id, msg_type, data)

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
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
