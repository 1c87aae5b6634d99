"""One home per job (issue 23): one cost function, one footer, one yes/no prompt, one schema
converter, one help text; and the four defects the copies caused, each shown as a user meets it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

import pytest
from IPython.core.error import UsageError

from oai_magic.core import costs
from oai_magic.state import get_state

from .conftest import run

AUDIO = Path(__file__).parent / "fixtures" / "hello.wav"


def magics(shell):
    return shell.magics_manager.registry["OAIMagics"]


@pytest.fixture(autouse=True)
def no_price_overrides(shell):
    """``%config OAIMagics.prices`` lives on the magics, which outlive a test: start and end
    with none."""
    magics(shell).prices = {}
    yield
    magics(shell).prices = {}


# --- the four defects ----------------------------------------------------------------------


def test_config_prices_reach_map_results_and_their_summary(shell, server, capsys):
    magics(shell).prices = {"gpt-4.1": {"input": 2.0, "output": 8.0}}
    shell.user_ns["xs"] = ["one", "two"]
    assert run(shell, "%%chat --map xs -m gpt-4.1 -o out\n[[echo]] {item}").success
    out = shell.user_ns["out"]
    expected = sum(costs.estimate_cost(r.usage, "gpt-4.1", magics(shell).prices) for r in out)
    assert out.usage["cost_usd"] == pytest.approx(expected) and expected > 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "cost unknown" not in summary and "price unknown" not in summary
    assert costs.format_cost(expected) in summary


def test_a_batch_is_priced_at_the_batch_price_and_counted_in_oai_usage(shell, server, capsys):
    shell.user_ns["xs"] = ["[[echo]] one", "[[echo]] two words"]
    assert run(shell, "%%chat --map xs --batch -o job\n{item}").success
    assert run(shell, "%chat batch wait").success
    result = shell.run_line_magic("chat", "batch results")
    full = sum(costs.estimate_cost(r.usage, r.model) for r in result)
    assert result.usage["cost_usd"] == pytest.approx(full / 2) and full > 0
    ledger = costs.ledger_of(get_state(shell))
    assert ledger.total.requests == 2
    assert ledger.total.cost == pytest.approx(full / 2)
    shell.run_line_magic("chat", "batch results")  # fetched again: not counted twice
    assert ledger.total.requests == 2
    capsys.readouterr()
    run(shell, "%oai usage")
    assert "total: requests 2" in capsys.readouterr().out


def test_a_transcript_from_the_practice_server_has_the_practice_badge(shell, server, capsys):
    assert run(shell, f"%transcribe {AUDIO} -o t").success
    footer = capsys.readouterr().out.strip().splitlines()[-1]
    assert footer.startswith("— practice · ")


def test_chat_alone_lists_every_command_batch_included(shell):
    listed = repr(shell.run_line_magic("chat", ""))
    for command in ("list", "history", "reset", "undo", "system", "export", "load", "pick",
                    "fix", "batch"):
        assert f"%chat {command}" in listed, command


# --- one cost function, one footer -----------------------------------------------------------


def test_the_same_usage_costs_the_same_text_in_the_chat_footer_the_map_summary_and_usage(
        shell, server, capsys):
    assert run(shell, "%%chat -n -o r\n[[echo]] alpha beta gamma").success
    chat_footer = capsys.readouterr().out.strip().splitlines()[-1]
    shell.user_ns["xs"] = ["delta omega sigma"]  # as long, and not cached
    assert run(shell, "%%chat --map xs -o out\n[[echo]] {item}").success
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    r, out = shell.user_ns["r"], shell.user_ns["out"]
    assert out[0].usage == r.usage
    shown = costs.format_cost(r.cost)
    assert shown.startswith("≈ $0.00000") and shown in chat_footer and shown in summary
    assert out.usage["cost_usd"] == pytest.approx(r.cost)


def test_every_footer_is_the_one_footer_with_the_badge_first(shell, server, capsys):
    from oai_magic.render.chrome import footer_parts, transcript_footer_parts

    assert run(shell, "%%chat -o r\n[[echo]] hi").success
    assert run(shell, f"%transcribe {AUDIO} -o t").success
    shell.user_ns["xs"] = ["a"]
    assert run(shell, "%%chat --map xs\n{item}").success
    chat, transcript = footer_parts(shell.user_ns["r"]), transcript_footer_parts(shell.user_ns["t"])
    assert chat[0] == transcript[0] == "practice"
    assert " · practice · " in capsys.readouterr().out.strip().splitlines()[-1]


def test_the_service_tier_prices_flex_and_priority_and_a_tier_without_a_price_is_unknown():
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    full = costs.estimate_cost(usage, "gpt-5-mini")
    assert costs.estimate_cost(usage, "gpt-5-mini", tier="default") == pytest.approx(full)
    assert costs.estimate_cost(usage, "gpt-5-mini", tier="flex") < full
    assert costs.estimate_cost(usage, "gpt-5-mini", tier="batch") < full
    assert costs.estimate_cost(usage, "gpt-5-mini", tier="priority") > full
    assert costs.estimate_cost(usage, "gpt-4o-mini", tier="flex") is None  # no flex price: no guess
    override = {"gpt-4o-mini": {"input": 1.0, "output": 2.0}}
    assert costs.estimate_cost(usage, "gpt-4o-mini", override, tier="flex") is None
    override["gpt-4o-mini"]["flex"] = {"input": 0.5, "output": 1.0}
    assert costs.estimate_cost(usage, "gpt-4o-mini", override, tier="flex") == pytest.approx(0.001)


# --- one %chat help text ---------------------------------------------------------------------


def test_chat_alone_and_chat_help_list_the_same_commands_and_every_command_is_listed(shell):
    from oai_magic.magics import conversations
    from oai_magic.magics.chat_help import CHAT_COMMANDS

    listed = {name for name, _, _ in CHAT_COMMANDS}
    assert set(conversations.COMMANDS) | set(conversations.LOG_COMMANDS) | {"fix", "batch"} == listed
    alone = repr(shell.run_line_magic("chat", "")).splitlines()[1:]
    doc = magics(shell).chat_line.__doc__
    assert all(line.strip() in doc for line in alone) and len(alone) == len(listed)
    for name in listed:
        assert name in doc.split("one of:")[1]  # the COMMAND argument's own help


# --- one yes/no prompt -----------------------------------------------------------------------


@pytest.mark.parametrize("typed, yes", [("y", True), (" YES ", True), ("n", False), ("", False),
                                        ("yep", False)])
def test_a_tool_call_and_a_big_map_read_the_same_answer_alike(shell, server, monkeypatch,
                                                            typed, yes):
    from oai_magic.core.chat_setup import ask_permission

    asked = []
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or typed)
    assert ask_permission("f", {"x": 1}) is yes
    shell.user_ns["xs"] = list(range(101))
    server.requests.clear()
    cell = run(shell, "%%chat --map xs\n{item}", expect=None if yes else UsageError)
    assert bool(server.requests) is yes
    assert all(q.endswith("[y/N] ") for q in asked) and len(asked) == 2
    if not yes:
        assert "nothing sent" in str(cell)


# --- one schema converter, one checker -------------------------------------------------------


@dataclass
class Point:
    x: int
    label: Optional[Literal["a", "b"]] = None


def place(point: Point, tags: List[str], extra: Dict[str, float], anything: Any = None):
    """Place a point."""


def total(scores: List[int]) -> int:
    return sum(scores)


def test_one_converter_describes_a_type_for_tools_and_strictly_for_schema():
    from oai_magic.core.json_schema import schema_problem, type_schema
    from oai_magic.core.structured import schema_target
    from oai_magic.core.tool_schema import function_schema
    from oai_magic.errors import InputError

    tool = function_schema(place)["parameters"]["properties"]
    strict = schema_target(Point, "Point").schema
    assert tool["point"]["properties"] == strict["properties"]  # the same words for a type
    assert tool["point"]["required"] == ["x"] and strict["required"] == ["x", "label"]
    assert strict["additionalProperties"] is False and "additionalProperties" not in tool["point"]
    assert tool["anything"] == {"default": None} and tool["extra"]["type"] == "object"
    for hint, refused in ((Any, "is Any"), (Dict[str, float], "free-form dict"), (list, "list")):
        with pytest.raises(InputError, match=refused):
            type_schema(hint, strict=True, path="Point.f")
    # one checker: a tool's arguments and a structured answer are read the same way
    assert schema_problem({"x": 1, "label": "c"}, strict) == \
        '$.label: "c" is not one of ["a", "b", null]'
    assert schema_problem({"x": 1, "label": "a"}, strict) is None
    assert "expected integer, got string" in schema_problem({"x": "1"}, tool["point"])


def test_a_tool_argument_is_checked_as_deep_as_its_schema(shell, server):
    from oai_magic.core.tool_schema import function_schema
    from oai_magic.core.tools import Tool, run_call

    tool = Tool("total", total, function_schema(total))
    call = {"id": "c1", "function": {"name": "total", "arguments": '{"scores": [1, "two"]}'}}
    outcome = run_call(call, [tool])
    assert outcome.status == "bad-arguments" and "$[1]" not in outcome.content
    assert "scores[1]: expected integer, got string" in outcome.content


# --- one {error} path, one fix request ---------------------------------------------------------


def test_error_before_any_error_is_the_same_line_for_chat_and_map(shell, server):
    shell.user_ns["xs"] = ["a"]
    get_state(shell).last_error = None
    chat = str(run(shell, "%%chat\nWhy {error}?", expect=UsageError))
    mapped = str(run(shell, "%%chat --map xs\n{item}: {error}", expect=UsageError))
    assert chat == mapped and "no error in this kernel yet" in chat and server.requests == []


def test_chat_fix_and_the_panel_send_the_same_request_about_the_last_error(shell, server, panel):
    from .test_context import failing_cell

    failing_cell(shell, "1/0")
    assert run(shell, "%chat fix -c fixing").success
    sent_by_magic = server.requests[-1].json["messages"][-1]["content"]
    p = panel("debug")
    p.fix_button.click()
    p.wait(10)
    sent_by_panel = server.requests[-1].json["messages"][-1]["content"]
    assert sent_by_magic == sent_by_panel and "ZeroDivisionError" in sent_by_magic[1]["text"]


def test_an_answer_billed_at_the_flex_tier_is_priced_at_the_flex_price(shell, server, capsys):
    from oai_magic.practice import Scripted, sse_event

    usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "o4-mini",
            "service_tier": "flex"}
    chunks = [sse_event({**head, "choices": [{"index": 0, "delta": {"content": "Cheap."},
                                               "finish_reason": "stop"}]}),
              sse_event({**head, "choices": [], "usage": usage}), sse_event("[DONE]")]
    server.script("/chat/completions", Scripted(chunks=chunks))
    assert run(shell, "%%chat -o r --param service_tier=flex\nhi").success
    r = shell.user_ns["r"]
    assert r.service_tier == "flex"
    assert r.cost == pytest.approx(costs.estimate_cost(usage, "o4-mini", tier="flex"))
    assert r.cost < costs.estimate_cost(usage, "o4-mini")
    footer = capsys.readouterr().out.strip().splitlines()[-1]
    assert "o4-mini · flex tier" in footer and costs.format_cost(r.cost) in footer
    assert costs.ledger_of(get_state(shell)).total.cost == pytest.approx(r.cost)


def test_only_the_cost_function_reads_the_price_data():
    root = Path(__file__).resolve().parent.parent / "oai_magic"
    readers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                     if p.name != "costs.py" and any(
                         word in p.read_text(encoding="utf-8")
                         for word in ("prices.json", "shipped_table", "_price_entry", "genai_prices")))
    assert readers == []


def test_the_panels_transcription_status_is_the_transcript_footer_and_is_counted(shell, server,
                                                                                 panel):
    import datetime

    data = AUDIO.read_bytes()
    p = panel()
    p.upload.value = ({"name": "hello.wav", "type": "audio/wav", "size": len(data),
                       "content": memoryview(data),
                       "last_modified": datetime.datetime.now(datetime.UTC)},)
    p.wait(10)
    status = p.status.value
    assert "Transcribed hello.wav · practice · whisper-1 · " in status
    ledger = costs.ledger_of(get_state(shell))
    assert ledger.by_model["whisper-1"].requests == 1  # %oai usage counts it, as %transcribe


def test_a_tool_exchange_costs_the_sum_of_its_requests_or_is_unpriced(shell, server):
    from oai_magic.render.chrome import footer_parts

    shell.user_ns["population"] = lambda city: 522250
    shell.user_ns["population"].__name__ = "population"
    assert run(shell, '%%chat --tools population --auto-tools -o r\nIn "Lyon"?').success
    r = shell.user_ns["r"]
    assert r.requests == 2 and not r.unpriced
    assert r.cost == pytest.approx(costs.estimate_cost(r.usage, "gpt-4o-mini"))
    assert run(shell, '%%chat -n -m practice-1 --tools population --auto-tools -o r\nIn "Lyon"?').success
    r = shell.user_ns["r"]
    assert r.unpriced and r.cost is None and "price unknown" in footer_parts(r)
