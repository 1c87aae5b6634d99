"""MCP tools through the session, the tool loop and the practice server (issue 27's wiring)."""

from __future__ import annotations

import sys

from IPython.core.error import UsageError

from oai_magic.core.session import Session

from .conftest import TEST_KEY, run
from .test_mcp import EVERYDAY


def test_a_round_trip_through_the_practice_server_from_python(server, tmp_path):
    s = Session(api_key=TEST_KEY, base_url=server.base_url, model="gpt-4o-mini")
    try:
        s.mcp.add_stdio("every", sys.executable, [EVERYDAY])
        result = s.chat("Add 2 and 3", tools=["mcp:every/add"], auto_tools=True).result()
        assert [o.content for o in result.tool_results] == ["5"]
        assert "5" in result.text
        sent = server.requests[0].json["tools"][0]["function"]
        assert sent["name"] == "add" and sent["parameters"]["required"] == ["a", "b"]
    finally:
        s.mcp.close()


def test_a_round_trip_from_the_magic_mixing_a_function(shell, server):
    s = shell.user_ns
    run(shell, "def double(x: int) -> int:\n    return 2 * x")
    from oai_magic.core.session import session_of

    session = session_of(shell)
    session.mcp.add_stdio("every", sys.executable, [EVERYDAY])
    try:
        outcome = run(shell, "%%chat --tools mcp:every/add,double --tool-choice add --auto-tools -o r\nAdd 2 and 3")
        assert outcome.success, outcome.error_in_exec
        assert [o.name for o in s["r"].tool_results] == ["add"]
        assert s["r"].tool_results[0].content == "5"
    finally:
        session.mcp.close()


def test_oai_mcp_add_list_remove_with_secrets_masked(shell, server, tmp_path, capsys):
    outcome = run(shell, f"%oai mcp add every -- {sys.executable} {EVERYDAY} --token sk-live-0123456789abcdef")
    assert outcome.success
    assert "Added the MCP server every (stdio)" in capsys.readouterr().out
    run(shell, "%oai mcp add web http://127.0.0.1:9/mcp --header Authorization=Bearer_0123456789abcdef")
    run(shell, "%oai mcp list")
    printed = capsys.readouterr().out
    assert "0123456789abcdef" not in printed and "not started" in printed
    bad = run(shell, "%oai mcp add every -- python", expect=UsageError)
    assert str(bad) == "an MCP server named 'every' exists; remove it first."
    unknown = run(shell, "%oai mcp remove nope", expect=UsageError)
    assert str(unknown).startswith("no MCP server named 'nope' (every, web)")
    assert run(shell, "%oai mcp remove every").success and run(shell, "%oai mcp remove web").success


def test_configured_mcp_servers_from_the_config_and_the_python_api(server):
    s = Session(api_key=TEST_KEY, base_url=server.base_url,
                mcp_servers={"every": {"command": sys.executable, "args": [EVERYDAY]}})
    try:
        assert s.mcp.names == ["every"] and s.mcp.status("every") == "not started"
        s.configure(mcp_servers={"notes": {"command": sys.executable, "args": [EVERYDAY]}})
        assert s.mcp.names == ["every", "notes"]
        with __import__("pytest").raises(Exception, match="OAIMagics.mcp_servers: server name 'x y' must be"):
            s.configure(mcp_servers={"x y": {"command": "c"}})
    finally:
        s.mcp.close()


def test_stop_ends_a_slow_mcp_tool_and_the_exchange_is_recorded_as_stopped(server):
    import time

    from oai_magic.core.events import RoundEnd

    s = Session(api_key=TEST_KEY, base_url=server.base_url, model="gpt-4o-mini")
    try:
        s.mcp.add_stdio("every", sys.executable, [EVERYDAY])
        run_ = s.chat("Sleep 60 seconds", tools=["mcp:every/slow"], auto_tools=True, conversation="t")
        for event in run_:
            if isinstance(event, RoundEnd):  # the call is about to run
                began = time.monotonic()
                run_.stop()
                break
        assert time.monotonic() - began < 2.0
        messages = s.conversations["t"].messages
        assert messages[-1].role == "tool" and "interrupted by the user" in messages[-1].content
        assert s.mcp.call(s.mcp.resolve(["mcp:every/add"]).tools[0], {"a": 1, "b": 1}) == "2"
    finally:
        s.mcp.close()


def test_without_the_sdk_every_mcp_use_is_one_line(shell, server, monkeypatch):
    from oai_magic.core.mcp import MISSING

    monkeypatch.setitem(sys.modules, "mcp", None)
    for cell in ("%oai mcp list", "%oai mcp add x -- python", "%%chat --tools mcp:x\nhi"):
        assert str(run(shell, cell, expect=UsageError)) == MISSING


def test_mcp_timeout_s_is_a_finite_number_above_zero():
    import pytest

    from oai_magic.errors import InputError

    for wrong in (0, -1, float("nan"), float("inf")):
        with pytest.raises(InputError, match="OAIMagics.mcp_timeout_s must be a finite number > 0"):
            Session(mcp_timeout_s=wrong)
    assert Session(mcp_timeout_s=5).mcp.timeout_s == 5.0
