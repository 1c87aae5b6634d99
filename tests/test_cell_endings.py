"""How a %%chat cell ends (CONTRACTS section 1), as a user sees it in a notebook and a terminal.

An error before any answer is one line and nothing else; a partial answer keeps its mark and
footer and the cell's line does not repeat the reason; a stop by the user is one quiet line.
"""

from __future__ import annotations

import signal
import threading

import pytest
from IPython.core.error import UsageError

from oai_magic.core.session import session_of
from oai_magic.errors import CellStopped
from oai_magic.practice import Scripted, sse_event

from .conftest import run
from .interrupts import SIGINT_WAIT_S, real_sigint
from .recording import Notebook
from .synthetic import delta_chunk

CHAT = "/chat/completions"
UNAUTHORIZED = b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}'


def shown_html(publisher) -> str:
    return "".join(str(m["data"].get("text/html", "")) for m in publisher.messages)


def no_key(shell):
    session_of(shell).settings.api_key = None
    session_of(shell).settings.base_url = "https://api.openai.com/v1"  # local servers need no key


def unreachable(shell):
    session_of(shell).settings.base_url = "http://127.0.0.1:9/v1"
    session_of(shell).settings.max_retries = 0


def unauthorized(server):
    server.script(CHAT, Scripted(401, {}, UNAUTHORIZED))


def cell_shows_nothing(publisher) -> bool:
    """The live widget (if it was shown) is cleared away and nothing is displayed after it."""
    kinds = publisher.kinds()
    return kinds == [] or kinds[-1] == "clear"


@pytest.mark.parametrize("failure, words", [
    ("no_key", "No API key"),
    ("unreachable", "127.0.0.1:9"),
    ("unauthorized", "Incorrect API key provided"),
])
def test_an_error_before_any_answer_is_one_line_with_no_block_and_no_footer(shell, server, capsys, failure, words):
    {"no_key": lambda: no_key(shell), "unreachable": lambda: unreachable(shell),
     "unauthorized": lambda: unauthorized(server)}[failure]()
    with Notebook(shell) as publisher:
        error = run(shell, "%%chat\nhello", expect=UsageError)  # the cell fails: Run All stops
    captured = capsys.readouterr()
    assert words in str(error) and "\n" not in str(error)
    assert cell_shows_nothing(publisher), "no 'incomplete' block, no footer"
    assert (captured.out + captured.err).count(words) == 1
    assert "incomplete" not in captured.out + captured.err and "total 0.00 s" not in captured.out
    assert session_of(shell).conversations["default"].messages == []


def test_an_error_before_any_answer_prints_only_its_line_in_a_terminal(shell, server, capsys):
    unauthorized(server)
    run(shell, "%%chat\nhello", expect=UsageError)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("Incorrect API key provided") == 1


def test_a_partial_answer_keeps_its_mark_and_footer_and_the_cell_line_does_not_repeat_the_reason(shell, server, capsys):
    chunks = [sse_event(delta_chunk("The start ")), sse_event(delta_chunk("of it")), sse_event(delta_chunk("!"))]
    server.script(CHAT, Scripted(chunks=chunks, abort_after=2))
    with Notebook(shell) as publisher:
        error = run(shell, "%%chat -c story\nTell me", expect=UsageError)
    captured = capsys.readouterr()
    html = publisher.messages[-1]["data"]["text/html"]
    assert "The start of it" in html and "⚠ cut off: " in html and "oai-footer" in html
    assert shown_html(publisher).count("⚠ cut off") == 1
    reason = html.split("⚠ cut off: ")[1].split("<")[0]
    assert str(error) == (
        "answer cut off — kept in 'story' as partial; %chat undo -c story removes it")
    assert reason.strip() and reason not in captured.err
    message = session_of(shell).conversations["story"].messages[-1]
    assert (message.content, message.partial) == ("The start of it", True)


def _interrupt_after(server, shell, cell, *, chunks_before):
    """Run ``cell`` and send a real SIGINT once the server holds the stream after ``chunks_before`` chunks.

    The cell must end as a stop does (``CellStopped``); that error is returned.
    """
    gate = threading.Event()
    texts = ["Partial ", "answer", " never"]
    chunks = [sse_event(delta_chunk(text)) for text in texts]
    server.script(CHAT, Scripted(chunks=chunks, gate=gate, gate_before=chunks_before))
    # Chunks that arrive in one read come as one delta (api/coalesce.py): wait for their text.
    before = "".join(texts[:chunks_before])
    main_thread = threading.main_thread().ident
    magics = shell.magics_manager.registry["OAIMagics"]
    original_view = magics.chat_view
    received = []

    def view_that_signals(args):
        view = original_view(args)
        original_begin, original_delta = view.begin, view.delta

        def interrupt():
            threading.Thread(target=signal.pthread_kill, args=(main_thread, signal.SIGINT)).start()

        def begin(notices):
            original_begin(notices)
            if chunks_before == 0:  # the request is on its way; nothing will arrive before the gate
                threading.Thread(target=lambda: (server.wait_for_requests(1, SIGINT_WAIT_S), interrupt())).start()

        def delta(index, text):
            original_delta(index, text)
            received.append(text)
            if chunks_before and "".join(received) == before:
                interrupt()

        view.begin, view.delta = begin, delta
        return view

    magics.chat_view = view_that_signals
    try:
        with real_sigint(release=gate.set):
            return run(shell, cell, expect=CellStopped)
    finally:
        magics.chat_view = original_view
        gate.set()


def test_a_stop_keeps_the_partial_answer_and_ends_the_cell_with_one_quiet_line(shell, server, capsys):
    error = _interrupt_after(server, shell, "%%chat\nTell me everything", chunks_before=2)  # the cell fails: Run All stops
    captured = capsys.readouterr()
    line = "■ stopped — kept in 'default' as partial"
    assert str(error) == line
    assert "Partial answer" in captured.out
    assert captured.out.count("stopped") == 1 and line in captured.out
    assert "Traceback" not in captured.out + captured.err and "Interrupted" not in captured.out + captured.err
    message = session_of(shell).conversations["default"].messages[-1]
    assert (message.content, message.partial) == ("Partial answer", True)


def test_a_stop_before_any_answer_says_so_in_one_line_and_records_nothing(shell, server, capsys):
    with Notebook(shell) as publisher:
        error = _interrupt_after(server, shell, "%%chat\nTell me everything", chunks_before=0)
    captured = capsys.readouterr()
    assert str(error) == "■ stopped before any answer arrived"
    assert cell_shows_nothing(publisher)
    assert captured.out.strip() == "■ stopped before any answer arrived"
    assert session_of(shell).conversations["default"].messages == []


def test_a_tool_cell_whose_first_request_fails_shows_only_the_error_line(shell, server, capsys):
    run(shell, "def noop() -> int:\n    return 1")
    unauthorized(server)
    with Notebook(shell) as publisher:
        run(shell, "%%chat --tools noop --auto-tools\nhello", expect=UsageError)
    captured = capsys.readouterr()
    assert cell_shows_nothing(publisher)
    assert (captured.out + captured.err).count("Incorrect API key provided") == 1


# --- the live widget is closed on every path (nbclient would save an open widget's state) --------


@pytest.mark.parametrize("ending", ["complete", "cut off", "interrupted", "interrupted before any answer",
                                    "error before any answer"])
def test_the_live_widget_is_closed_and_replaced_on_every_path(shell, server, frontend, ending):
    with Notebook(shell) as publisher:
        if ending == "complete":
            run(shell, "%%chat\n[[echo]] all of it")
        elif ending == "cut off":
            chunks = [sse_event(delta_chunk("Half ")), sse_event(delta_chunk("an answer"))]
            server.script(CHAT, Scripted(chunks=chunks, abort_after=2))
            run(shell, "%%chat\nhello", expect=UsageError)
        elif ending.startswith("interrupted"):
            before = 0 if ending.endswith("before any answer") else 1
            _interrupt_after(server, shell, "%%chat\nTell me everything", chunks_before=before)
        else:
            unauthorized(server)
            run(shell, "%%chat\nhello", expect=UsageError)
    assert len(frontend.pages) == 1  # the answer streamed into one live widget...
    assert frontend.models and set(frontend.closed) == set(frontend.models)  # ...closed at the end
    kinds = publisher.kinds()
    assert kinds[0] == "display" and "application/vnd.jupyter.widget-view+json" in publisher.messages[0]["data"]
    if ending.endswith("before any answer"):
        assert kinds[-1] == "clear"  # nothing arrived: the widget goes, the cell's one line says why
    else:  # the widget's output is replaced in place by the static final block
        assert kinds[-1] == "update" and "text/html" in publisher.messages[-1]["data"]
        assert "application/vnd.jupyter.widget-view+json" not in publisher.messages[-1]["data"]
