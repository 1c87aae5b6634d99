"""Tools in the chat panel (issue 27): the Tools field, Approve and Deny on each tool card.

Driven as a browser would: widget values set, buttons clicked by the comm message a frontend
sends. Real sockets to the practice server, a real MCP server (tests/mcp_servers/everyday.py).
Nothing sleeps: the tests wait on the panel (``wait_for_approval``, ``wait``).
"""

from __future__ import annotations

import json
import sys

import ipywidgets as widgets
import pytest

from oai_magic.core.session import session_of

from .conftest import TEST_KEY, run
from .test_mcp import EVERYDAY, HOSTILE
from .test_widget import all_widgets, shown


@pytest.fixture
def every(shell):
    session = session_of(shell)
    session.mcp.add_stdio("every", sys.executable, [EVERYDAY], env={"HOSTILE": HOSTILE})
    yield session
    session.mcp.close()


def click(panel, description):
    """Click the one visible button so named, by the message a browser sends."""
    found = [w for w in all_widgets(panel.widget)
             if isinstance(w, widgets.Button) and w.description == description]
    assert len(found) == 1, f"{len(found)} {description!r} buttons"
    found[0]._handle_msg({"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []})


ANSWER_ACTIONS = {"Copy", "Insert as cell", "Regenerate"}  # under every answer (issue 30)


def buttons(panel):
    """The tool cards' buttons in the transcript (not the actions under each answer)."""
    return [w.description for w in all_widgets(panel.transcript)
            if isinstance(w, widgets.Button) and w.description not in ANSWER_ACTIONS]


def define_double(shell):
    run(shell, "calls = []\ndef double(x: int) -> int:\n    calls.append(x)\n    return 2 * x")


def test_approve_runs_an_mcp_tool_and_a_kernel_function_and_the_answer_arrives(shell, panel, every):
    define_double(shell)
    p = panel()
    p.tools.value = "mcp:every/add, double"
    p.input.value = "[[all-tools]] Add 2 and 3"
    p.send_button.click()
    assert p.wait_for_approval(60)
    assert buttons(p) == ["Approve", "Deny"]
    assert "waits for Approve or Deny" in p.status.value
    assert "add" in shown(p.transcript) and "&quot;a&quot;: 2" in shown(p.transcript)
    click(p, "Approve")
    assert p.wait_for_approval(60)
    click(p, "Approve")
    result = p.wait(60)
    assert [(o.name, o.content) for o in result.tool_results] == [("double", "4"), ("add", "5")]
    assert shell.user_ns["calls"] == [2]
    assert "**add** returned:\n\n```\n5\n```" in result.text
    assert buttons(p) == [] and "✓ returned" in shown(p.transcript)
    roles = [m.role for m in session_of(shell).conversations["default"].messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]


def test_deny_sends_the_refusal_and_nothing_runs(shell, panel, every, server):
    define_double(shell)
    p = panel()
    p.tools.value = "double"
    p.send("Double 21")
    assert p.wait_for_approval(60)
    click(p, "Deny")
    result = p.wait(60)
    assert shell.user_ns["calls"] == []
    assert [o.status for o in result.tool_results] == ["declined"]
    sent = server.requests[-1].json["messages"][-1]
    assert sent == {"role": "tool", "tool_call_id": sent["tool_call_id"],
                    "content": "The user declined to run double."}
    assert "⊘ declined" in shown(p.transcript)


def test_deny_an_mcp_call_is_the_same_refusal(shell, panel, every, server):
    p = panel()
    p.tools.value = "mcp:every/add"
    p.send("Add 2 and 3")
    assert p.wait_for_approval(60)
    click(p, "Deny")
    result = p.wait(60)
    assert [(o.status, o.content) for o in result.tool_results] == [
        ("declined", "The user declined to run add.")]
    assert "5" not in [m.get("content") for m in server.requests[-1].json["messages"]]


def test_stop_while_waiting_for_approval_ends_the_turn_cleanly(shell, panel, every):
    define_double(shell)
    p = panel()
    p.tools.value = "double"
    p.send("Double 21")
    assert p.wait_for_approval(60)
    click(p, "Stop")
    result = p.wait(30)
    assert result.interrupted and shell.user_ns["calls"] == []
    assert buttons(p) == [] and not p.busy and not p.send_button.disabled
    messages = session_of(shell).conversations["default"].messages
    assert messages[-1].role == "tool" and "Not run: interrupted by the user" in messages[-1].content
    assert "Stopped" in p.status.value
    p.tools.value = ""
    p.send("[[echo]] still usable")
    assert p.wait(30).text == "still usable"


def test_auto_approve_runs_without_asking(shell, panel, every):
    define_double(shell)
    p = panel()
    p.tools.value = "double,mcp:every/add"
    p.auto_tools.value = True
    p.send("Double 21")
    result = p.wait(60)
    assert [o.content for o in result.tool_results] == ["42"] and shell.user_ns["calls"] == [21]
    assert not p.wait_for_approval(0) and buttons(p) == []


@pytest.mark.parametrize("entry, line", [
    ("nothing_here", "Tools: no function named 'nothing_here' in the notebook; define it first."),
    ("mcp:nope/x", "no MCP server named 'nope'"),
    ("bad name!", "Tools: 'bad name!' is not a valid tool name"),
])
def test_a_bad_tools_entry_is_one_line_and_sends_nothing(shell, panel, server, every, entry, line):
    p = panel()
    p.tools.value = entry
    p.input.value = "Hello"
    p.send_button.click()
    assert p.error.startswith(line) and "\n" not in p.error
    assert server.requests == [] and p.input.value == "Hello" and not p.busy
    assert session_of(shell).conversations.get("default") is None or \
        not session_of(shell).conversations["default"].messages
    assert "You" not in shown(p.transcript)


def test_hostile_tool_text_stays_inert_and_masked_in_the_widgets(shell, panel, every, server,
                                                                 frontend):
    messages = []
    receive = frontend.receive
    frontend.receive = lambda *a: (messages.append(json.dumps(a, default=str, ensure_ascii=False)),
                                   receive(*a))
    p = panel()
    p.tools.value = "mcp:every/hostile, mcp:every/echo"
    p.send("[[all-tools]] Say \"<img src=x onerror=alert(2)> $y$ \u202eabc\"")
    for _ in range(2):
        assert p.wait_for_approval(60)
        click(p, "Approve")
    p.wait(60)
    cards = [w.value for w in all_widgets(p.transcript)
             if isinstance(w, widgets.HTML) and "oai-tool-call" in w.value]
    assert len(cards) == 2
    for card in cards:
        assert "tex2jax_ignore mathjax_ignore" in card
        assert "<img" not in card and "\u202e" not in card
    assert "\\u202e" in cards[1] and "&lt;img" in cards[1]
    for widget in all_widgets(p.widget):
        state = json.dumps(widget.get_state(), default=str)
        assert TEST_KEY not in state, type(widget).__name__
    assert messages and not any(TEST_KEY in m for m in messages)
    cards_sent = [m for m in messages if "oai-tool-call" in m]  # every redraw of every card
    assert cards_sent and not any("<img" in m or "\u202e" in m for m in cards_sent)
