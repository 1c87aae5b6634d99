"""A turn is recorded once, when it ends, as CONTRACTS section 2 says (core/turn.py).

Every test talks to the practice server over a real socket and reads the conversation the way a
user does: ``%chat history`` or the panel's transcript. Recording is counted from the state's
own events, which the panel follows.
"""

from __future__ import annotations

import json

from IPython.core.error import UsageError

from oai_magic.core.session import session_of
from oai_magic.practice import Scripted, sse_event

from .conftest import run
from .test_widget import delta_chunk, shown

CHAT = "/chat/completions"
WEATHER = "def get_weather(city: str) -> str:\n    fail_next()\n    return 'sunny'"


def listed(shell, capsys, name="default"):
    """What ``%chat history -c NAME`` prints."""
    capsys.readouterr()
    assert run(shell, f"%chat history -c {name}").success
    return capsys.readouterr().out


def recordings(shell):
    """Each commit of a turn, as the state announces it: (name, roles recorded)."""
    seen = []

    def listener(event, info):
        if event == "conversation" and "recorded" in info:
            seen.append((info["name"], [m.role for m in info["recorded"]]))

    session_of(shell).subscribe(listener)
    return seen


def test_a_tool_turn_whose_follow_up_fails_records_the_pair_once(shell, server, capsys):
    shell.user_ns["fail_next"] = lambda: server.script(CHAT, Scripted(
        400, body=b'{"error": {"message": "overloaded, try later"}}'))
    assert run(shell, WEATHER).success
    commits = recordings(shell)
    try:
        error = run(shell, '%%chat --tools get_weather --auto-tools\nWeather in "Oslo"?', expect=UsageError)
    finally:
        shell.user_ns.pop("fail_next", None)
    assert "overloaded" in str(error)
    assert commits == [("default", ["user", "assistant", "tool"])]
    messages = session_of(shell).conversation("default").messages
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[1].content == "" and messages[1].tool_calls  # "", never null (CONTRACTS 2)
    assert messages[2].content == "sunny"
    out = listed(shell, capsys)
    assert "Weather in" in out and "sunny" in out and "overloaded" not in out


def test_a_partial_answer_is_committed_once_with_n_and_s(shell, server, capsys):
    assert run(shell, "%%chat\n[[echo]] an older exchange").success
    chunks = [sse_event(delta_chunk("Half an ")), sse_event(delta_chunk("answer"))]
    server.script(CHAT, Scripted(chunks=chunks, abort_after=2))
    commits = recordings(shell)
    error = run(shell, "%%chat -n -s 'Be brief.'\nTell me", expect=UsageError)
    assert "kept in 'default' as partial" in str(error)
    assert commits == [("default", ["user", "assistant"])]
    thread = session_of(shell).conversation("default")
    assert thread.system == "Be brief."
    assert [(m.content, m.partial) for m in thread.messages] == [
        ("Tell me", False), ("Half an answer", True)]
    out = listed(shell, capsys)
    assert "older exchange" not in out and "Half an answer" in out


def test_nothing_arrived_commits_nothing_not_even_n_and_s(shell, server, capsys):
    assert run(shell, "%%chat -s 'Old rules.'\n[[echo]] kept").success
    server.script(CHAT, Scripted(400, body=json.dumps({"error": {"message": "down"}}).encode()))
    commits = recordings(shell)
    error = run(shell, "%%chat -n -s 'New rules.'\nHello?", expect=UsageError)
    assert "down" in str(error)
    assert commits == []
    thread = session_of(shell).conversation("default")
    assert thread.system == "Old rules." and [m.content for m in thread.messages] == ["[[echo]] kept", "kept"]
    assert "kept" in listed(shell, capsys)


def test_the_panel_and_a_chat_cell_record_the_same_messages_for_the_same_exchange(
        shell, server, panel, capsys):
    commits = recordings(shell)
    assert run(shell, "%%chat -c cell\n[[echo]] the same words").success
    p = panel("from-panel")
    p.send("[[echo]] the same words")
    p.wait(10)
    assert commits == [("cell", ["user", "assistant"]), ("from-panel", ["user", "assistant"])]
    state = session_of(shell)

    def kept(name):
        return [(m.role, m.content, m.partial, m.tool_calls) for m in state.conversation(name).messages]

    assert kept("cell") == kept("from-panel") == [
        ("user", "[[echo]] the same words", False, None), ("assistant", "the same words", False, None)]
    assert (listed(shell, capsys, "cell").replace("cell", "NAME")
            == listed(shell, capsys, "from-panel").replace("from-panel", "NAME"))
    assert shown(p.transcript).count("the same words") == 2  # the prompt and the answer, once each


def test_the_panel_shows_what_its_turn_recorded_and_drops_a_turn_that_recorded_nothing(
        shell, server, panel):
    p = panel()
    p.send("[[echo]] alpha")
    p.wait(10)
    server.script(CHAT, Scripted(400, body=json.dumps({"error": {"message": "down"}}).encode()))
    p.send("second")
    assert p.wait(10) is None
    assert "second" not in shown(p.transcript) and p.input.value == "second"
    assert shown(p.transcript).count("alpha") == 2
    assert [m.content for m in session_of(shell).conversation("default").messages] == [
        "[[echo]] alpha", "alpha"]


def test_the_panel_follows_turns_recorded_elsewhere_including_one_that_starts_afresh(
        shell, server, panel):
    p = panel()
    assert run(shell, "%%chat\n[[echo]] beta from a cell").success
    assert shown(p.transcript).count("beta from a cell") == 2
    assert run(shell, "%%chat -n\n[[echo]] gamma afresh").success
    assert "beta" not in shown(p.transcript) and shown(p.transcript).count("gamma afresh") == 2
    assert [m.content for m in session_of(shell).conversation("default").messages] == [
        "[[echo]] gamma afresh", "gamma afresh"]
