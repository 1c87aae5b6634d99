"""%chat conversation commands, history budget, and interrupts keeping the partial answer."""

from __future__ import annotations

import json
import os
import signal
import threading

from IPython.core.error import UsageError

from oai_magic.core.session import session_of
from oai_magic.errors import CellStopped
from oai_magic.practice import Scripted, sse_event
from oai_magic.state import Conversation, Message

from .conftest import run
from .interrupts import real_sigint
from .synthetic import delta_chunk


def chat(shell, text, options=""):
    return run(shell, f"%%chat {options}\n[[echo]] {text}")


def test_list_shows_each_conversation_with_its_size(shell, capsys):
    chat(shell, "one", "-c alpha")
    chat(shell, "two", "-c beta -s 'Be brief.'")
    chat(shell, "three", "-c beta")
    capsys.readouterr()
    run(shell, "%chat list")
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "Be brief." in out
    beta_line = next(line for line in out.splitlines() if line.startswith("beta"))
    assert " 2 " in beta_line


def test_history_renders_the_transcript(shell, capsys):
    chat(shell, "hello history", "-c h")
    capsys.readouterr()
    run(shell, "%chat history -c h")
    out = capsys.readouterr().out
    assert "### user" in out and "### assistant" in out and "hello history" in out


def test_reset_one_and_all(shell):
    chat(shell, "a", "-c one -s 'Keep me.'")
    chat(shell, "b", "-c two")
    run(shell, "%chat reset -c one")
    state = session_of(shell)
    assert state.conversations["one"].messages == []
    assert state.conversations["one"].system == "Keep me."
    run(shell, "%chat reset --all")
    assert state.conversations == {}


def test_undo_drops_the_last_exchange_only(shell, server):
    chat(shell, "first")
    chat(shell, "second")
    run(shell, "%chat undo")
    messages = session_of(shell).conversations["default"].messages
    assert [m.content for m in messages] == ["[[echo]] first", "first"]
    chat(shell, "third")
    sent = [m["content"] for m in server.requests[-1].json["messages"]]
    assert sent == ["[[echo]] first", "first", "[[echo]] third"]


def test_system_sets_the_prompt_sent_first(shell, server):
    run(shell, "%chat system You are a pirate. -c sea")
    chat(shell, "ahoy", "-c sea")
    first = server.requests[-1].json["messages"][0]
    assert first == {"role": "system", "content": "You are a pirate."}


def test_export_json_and_load_round_trip(shell, tmp_path):
    chat(shell, "keep this", "-c src -s 'Sys.'")
    path = tmp_path / "thread.json"
    run(shell, f"%chat export {path} -c src")
    data = json.loads(path.read_text())
    assert data["system"] == "Sys." and data["messages"][1]["content"] == "keep this"
    run(shell, f"%chat load {path} -c copy")
    copy = session_of(shell).conversations["copy"]
    assert copy.system == "Sys." and [m.content for m in copy.messages] == ["[[echo]] keep this", "keep this"]


def test_export_markdown(shell, tmp_path):
    chat(shell, "as markdown")
    path = tmp_path / "t.md"
    run(shell, f"%chat export {path}")
    assert "### assistant" in path.read_text() and "as markdown" in path.read_text()


def test_bad_commands_are_one_line_errors_and_change_nothing(shell, tmp_path):
    chat(shell, "x")
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "wizard", "content": "x"}]}')
    for line in ["%chat frobnicate", "%chat undo -c nope", f"%chat load {bad}", "%chat export out.txt", "%chat pick 2"]:
        error = run(shell, line, expect=UsageError)
        assert "\n" not in str(error)
    assert len(session_of(shell).conversations["default"].messages) == 2
    assert not os.path.exists("out.txt")


def test_history_budget_drops_oldest_exchanges_keeps_system_and_says_so(shell, server, capsys):
    magics = shell.magics_manager.registry["OAIMagics"]
    magics.history_max_messages = 4
    try:
        run(shell, "%chat system Stay. -c b")
        for word in ["one", "two", "three"]:
            chat(shell, word, "-c b")
        out = capsys.readouterr().out
        sent = server.requests[-1].json["messages"]
        assert sent[0] == {"role": "system", "content": "Stay."}
        assert [m["content"] for m in sent[1:]] == ["[[echo]] two", "two", "[[echo]] three"]
        assert "History trimmed" in out
        assert len(session_of(shell).conversations["b"].messages) == 6
    finally:
        magics.history_max_messages = 200


def test_budget_trimming_is_by_whole_exchanges():
    thread = Conversation("t", system="S")
    for i in range(5):
        thread.record_turn(Message("user", f"u{i}" * 40), [Message("assistant", f"a{i}" * 40)])
    messages, dropped = thread.api_messages([Message("user", "now")], max_tokens=60)
    assert messages[0]["role"] == "system" and messages[-1]["content"] == "now"
    assert dropped == 4 and [m["content"][:2] for m in messages[1:-1]] == ["u4", "a4"]


def test_a_real_sigint_mid_stream_keeps_the_partial_answer_marked_and_recorded(shell, server, capsys):
    gate = threading.Event()
    chunks = [sse_event(delta_chunk("Partial ")), sse_event(delta_chunk("answer")), sse_event(delta_chunk(" never"))]
    server.script("/chat/completions", Scripted(chunks=chunks, gate=gate, gate_before=2))
    main_thread = threading.main_thread().ident
    received = []

    # The interrupt is sent once the server has written the first two chunks and is holding the rest.
    magics = shell.magics_manager.registry["OAIMagics"]
    original_view = magics.chat_view

    def view_that_signals(args):
        view = original_view(args)
        original_delta = view.delta

        def delta(index, text):
            original_delta(index, text)
            received.append(text)
            if "".join(received) == "Partial answer":  # one delta or two (api/coalesce.py)
                threading.Thread(target=signal.pthread_kill, args=(main_thread, signal.SIGINT)).start()

        view.delta = delta
        return view

    magics.chat_view = view_that_signals
    try:
        with real_sigint(release=gate.set):
            run(shell, "%%chat -o r\nTell me everything", expect=CellStopped)
    finally:
        magics.chat_view = original_view
        gate.set()
    captured = capsys.readouterr()
    assert "Partial answer" in captured.out
    assert captured.out.count("■ stopped — kept in 'default' as partial") == 1
    message = session_of(shell).conversations["default"].messages[-1]
    assert (message.content, message.partial) == ("Partial answer", True)
    r = shell.user_ns["r"]  # -o holds the partial result
    assert (r.text, r.interrupted, r.partial) == ("Partial answer", True, True)
    run(shell, "%chat undo")
    assert session_of(shell).conversations["default"].messages == []
