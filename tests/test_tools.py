"""%%chat --tools: kernel functions as tools, against the practice server over a real socket."""

from __future__ import annotations

import builtins
import json
from typing import Dict, List, Literal, Optional, Tuple

import pytest
from IPython.core.error import StdinNotImplementedError, UsageError

from oai_magic.core.tool_schema import function_schema, parse_docstring
from oai_magic.core.tools import format_result
from oai_magic.errors import CellStopped
from oai_magic.practice.tools import UNKNOWN_TOOL, example_arguments, plan_tool_calls
from tests.recording import RecordingPublisher

from .conftest import run

CHAT = "/chat/completions"

WEATHER = '''
from typing import Literal
calls = []

def weather(city: str, days: int = 1, unit: Literal["C", "F"] = "C") -> dict:
    """Forecast for a city.

    Args:
        city: The city to look up.
        days: How many days ahead.
    """
    calls.append((city, days, unit))
    print(f"looking up {city}")
    return {"city": city, "days": days, "temperature": 21, "unit": unit}

def population(city: str) -> int:
    """People living in a city."""
    return {"Paris": 2102650, "Lyon": 522250}.get(city, 0)

def broken(x: int) -> int:
    """Always fails."""
    raise ValueError(f"no data for {x}")
'''


@pytest.fixture
def kernel_functions(shell):
    assert run(shell, WEATHER).success
    yield shell.user_ns
    for name in ("weather", "population", "broken", "calls"):
        shell.user_ns.pop(name, None)


@pytest.fixture
def answers(monkeypatch):
    """Answers typed at the confirmation prompt, and the prompts shown."""
    typed: List[str] = []
    prompts: List[str] = []

    def fake_input(prompt=""):
        prompts.append(prompt)
        return typed.pop(0)

    monkeypatch.setattr(builtins, "input", fake_input)
    return typed, prompts


def chat_ok(shell, line, prompt):
    return run(shell, f"%%chat {line}\n{prompt}")


def history(shell, name="default"):
    from oai_magic.core.session import session_of

    return session_of(shell).conversations[name].messages


def assert_every_call_is_answered(messages):
    owed = [c["id"] for m in messages if m.get("tool_calls") for c in m["tool_calls"]]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert sorted(owed) == sorted(answered)


# --- schema from annotated functions ---------------------------------------------------------


def test_schema_comes_from_hints_defaults_and_the_docstring(kernel_functions):
    schema = function_schema(kernel_functions["weather"])
    assert schema == {
        "name": "weather",
        "description": "Forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city to look up."},
                "days": {"type": "integer", "description": "How many days ahead.", "default": 1},
                "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
            },
            "required": ["city"],
        },
    }


def test_schema_covers_float_bool_list_dict_optional_and_unannotated_defaults():
    def sample(
        ratio: float,
        flags: List[bool],
        scores: Dict[str, float],
        note: Optional[str] = None,
        level: Optional[Literal[1, 2]] = None,
        pair: Tuple[int, int] = (0, 0),
        limit=10,
        *args,
        **kwargs,
    ):
        pass

    properties = function_schema(sample)["parameters"]["properties"]
    assert properties["ratio"] == {"type": "number"}
    assert properties["flags"] == {"type": "array", "items": {"type": "boolean"}}
    assert properties["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert properties["note"] == {"type": ["string", "null"], "default": None}
    assert properties["level"] == {"type": ["integer", "null"], "enum": [1, 2, None], "default": None}
    assert properties["pair"]["type"] == "array"
    assert properties["limit"] == {"type": "integer", "default": 10}
    assert "args" not in properties and "kwargs" not in properties
    assert function_schema(sample)["parameters"]["required"] == ["ratio", "flags", "scores"]


def test_numpy_and_sphinx_docstrings_describe_each_parameter():
    numpy_doc = """Add two numbers.

    Parameters
    ----------
    a : float
        The first number,
        on two lines.
    b : float
        The second.

    Returns
    -------
    float
    """
    sphinx_doc = """Add two numbers.

    :param a: The first number.
    :param float b: The second.
    :returns: the sum
    """
    for doc in (numpy_doc, sphinx_doc):
        description, params = parse_docstring(doc)
        assert description == "Add two numbers."
        assert params["a"].startswith("The first number") and params["b"] == "The second."
    assert parse_docstring(numpy_doc)[1]["a"] == "The first number, on two lines."


def test_a_result_is_json_when_it_can_be_else_repr_and_long_ones_are_capped_with_a_note():
    assert format_result({"a": [1, 2.5, None]}) == '{"a": [1, 2.5, null]}'
    assert format_result("plain text") == "plain text"
    assert format_result({1, 2}) == "{1, 2}"
    capped = format_result("x" * 9000)
    assert capped.startswith("x" * 8000) and capped.endswith("[truncated: 1000 chars more]")


# --- the practice server plans deterministic tool calls --------------------------------------


def offered(*names, **parameters):
    return [{"type": "function", "function": {"name": n, "parameters": parameters or {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
        for n in names]


def test_practice_calls_the_first_tool_with_arguments_taken_from_the_prompt():
    body = {"messages": [{"role": "user", "content": 'Weather in "Lyon" for 3 days?'}],
            "tools": offered("weather")}
    assert plan_tool_calls(body) == [{"name": "weather", "arguments": '{"city": "Lyon"}'}]
    numbers = {"type": "object", "required": ["a", "b"], "properties": {
        "a": {"type": "integer"}, "b": {"type": "number"}, "c": {"type": "integer", "default": 0}}}
    assert example_arguments(numbers, "add 4 and 2.5") == {"a": 4, "b": 2.5}
    assert example_arguments(numbers, "add 4, 2.5 and 7") == {"a": 4, "b": 2.5, "c": 7}
    assert example_arguments(numbers, "add them") == {"a": 3, "b": 2.5}


def test_practice_answers_in_text_with_tool_choice_none_or_after_the_results():
    user = {"role": "user", "content": "hi"}
    assert plan_tool_calls({"messages": [user], "tools": offered("f"), "tool_choice": "none"}) is None
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    after = [user, {"role": "assistant", "content": None, "tool_calls": [call]},
             {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    assert plan_tool_calls({"messages": after, "tools": offered("f")}) is None


def test_practice_directives_for_every_tool_bad_arguments_and_unknown_names():
    def plan(prompt, **extra):
        return plan_tool_calls({"messages": [{"role": "user", "content": prompt}],
                                "tools": offered("f", "g"), **extra})

    assert [c["name"] for c in plan("[[all-tools]] go")] == ["f", "g"]
    assert [c["name"] for c in plan("go", tool_choice={"type": "function", "function": {"name": "g"}})] == ["g"]
    with pytest.raises(ValueError):
        json.loads(plan("[[bad-tool-args]] go")[0]["arguments"])
    assert plan("[[unknown-tool]] go")[0]["name"] == UNKNOWN_TOOL


# --- the tool loop through %%chat --------------------------------------------------------------


def test_a_two_round_loop_sends_each_result_back_as_a_tool_message_and_records_it_all(
        shell, server, kernel_functions, capsys):
    chat_ok(shell, "--tools weather,population --auto-tools -o r",
            '[[tool-rounds=2]] Weather in "Paris" for 2 days?')
    first, second, third = [r.json for r in server.requests]
    assert [t["function"]["name"] for t in first["tools"]] == ["weather", "population"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["city"]
    call = second["messages"][-2]
    assert call["role"] == "assistant" and call["content"] == ""  # not null: CONTRACTS 2
    [tool_call] = call["tool_calls"]
    assert tool_call["type"] == "function" and tool_call["function"]["name"] == "weather"
    assert json.loads(tool_call["function"]["arguments"]) == {"city": "Paris", "days": 2}
    assert second["messages"][-1] == {
        "role": "tool", "tool_call_id": tool_call["id"],
        "content": '{"city": "Paris", "days": 2, "temperature": 21, "unit": "C"}'}
    assert [m["role"] for m in third["messages"]] == ["user", "assistant", "tool", "assistant", "tool"]
    assert kernel_functions["calls"] == [("Paris", 2, "C"), ("Paris", 2, "C")]

    r = shell.user_ns["r"]
    assert r.rounds == 2 and [o.status for o in r.tool_results] == ["ok", "ok"]
    assert '"temperature": 21' in r.text and r.finish_reason == "stop"
    recorded = [m.to_api() for m in history(shell)]
    assert [m["role"] for m in recorded] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert recorded[-1]["content"] == r.text
    assert_every_call_is_answered(recorded)
    out = capsys.readouterr().out
    assert '→ weather {\n  "city": "Paris",\n  "days": 2\n}' in out  # the call, pretty-printed
    assert "printed: looking up Paris" in out and "temperature" in out


def test_a_follow_up_sends_the_whole_exchange_and_undo_removes_it(shell, server, kernel_functions):
    chat_ok(shell, "--tools population --auto-tools", 'How many live in "Lyon"?')
    chat_ok(shell, "", "[[echo]] And in Paris?")
    roles = [m["role"] for m in server.requests[-1].json["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert server.requests[-1].json["messages"][2]["content"] == "522250"
    run(shell, "%chat undo")
    run(shell, "%chat undo")
    assert history(shell) == []


def test_declining_tells_the_model_and_the_loop_goes_on(shell, server, kernel_functions, answers, capsys):
    typed, prompts = answers
    typed.append("n")
    chat_ok(shell, "--tools weather -o r", 'Weather in "Oslo"?')
    assert prompts and "weather" in prompts[0] and "[y/N]" in prompts[0]
    assert kernel_functions["calls"] == []
    assert server.requests[1].json["messages"][-1]["content"] == "The user declined to run weather."
    assert shell.user_ns["r"].tool_results[0].status == "declined"
    assert "declined" in capsys.readouterr().out
    assert len(server.requests) == 2


def test_answering_yes_runs_the_tool(shell, server, kernel_functions, answers):
    typed, _ = answers
    typed.append("y")
    chat_ok(shell, "--tools weather", 'Weather in "Oslo"?')
    assert kernel_functions["calls"] == [("Oslo", 1, "C")]


def test_a_tool_that_raises_sends_the_error_text_and_shows_no_traceback(
        shell, server, kernel_functions, capsys):
    chat_ok(shell, "--tools broken --auto-tools -o r", "Try 7 please")
    content = server.requests[1].json["messages"][-1]["content"]
    assert content == "Error: broken raised ValueError: no data for 7"
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "← broken ✗ raised ValueError: no data for 7" in captured.out
    assert "raised an error" not in captured.out  # said once, not "raised an error: Error: ..."
    assert "no data for 7" in shell.user_ns["r"].text


@pytest.mark.parametrize("directive, expected", [
    ("[[unknown-tool]]", f"Error: there is no tool named '{UNKNOWN_TOOL}'. Available tools: weather."),
    ("[[bad-tool-args]]", "Error: weather was not run because the arguments are not valid JSON"),
])
def test_unknown_names_and_invalid_arguments_are_reported_to_the_model(
        shell, server, kernel_functions, directive, expected):
    chat_ok(shell, "--tools weather --auto-tools", f'{directive} Weather in "Rome"?')
    assert server.requests[1].json["messages"][-1]["content"].startswith(expected)
    assert kernel_functions["calls"] == []
    assert_every_call_is_answered([m.to_api() for m in history(shell)])


def test_arguments_that_do_not_fit_the_signature_are_reported_not_raised(shell, server, monkeypatch):
    from oai_magic.practice import tools as _practice_tools

    monkeypatch.setattr(_practice_tools, "example_arguments", lambda parameters, prompt: {"a": 1})
    run(shell, "def needs_two(a: int, b: int) -> int:\n    return a + b")
    try:
        chat_ok(shell, "--tools needs_two --auto-tools", "add")
    finally:
        shell.user_ns.pop("needs_two", None)
    content = server.requests[1].json["messages"][-1]["content"]
    assert content.startswith("Error: needs_two was not run because the arguments do not fit its signature")


def test_the_round_limit_stops_the_loop_says_so_and_leaves_no_call_unanswered(
        shell, server, kernel_functions, magics, monkeypatch, capsys):
    monkeypatch.setattr(magics, "max_tool_rounds", 2)
    chat_ok(shell, "--tools population --auto-tools -o r", '[[tool-rounds=9]] People in "Lyon"?')
    assert len(server.requests) == 3  # two rounds ran, the third request's calls did not
    r = shell.user_ns["r"]
    assert r.rounds == 2 and [o.status for o in r.tool_results] == ["ok", "ok", "skipped"]
    assert "limit of 2 tool rounds" in r.tool_results[-1].content
    assert "stopped after 2 tool rounds" in capsys.readouterr().out
    recorded = [m.to_api() for m in history(shell)]
    assert recorded[-1]["role"] == "tool"
    assert_every_call_is_answered(recorded)


def test_tool_choice_names_the_function_first_and_later_requests_use_auto(shell, server, kernel_functions):
    chat_ok(shell, "--tools weather,population --tool-choice population --auto-tools", 'In "Paris"?')
    first, second = [r.json for r in server.requests]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "population"}}
    assert second["tool_choice"] == "auto"
    assert first["messages"][-1]["role"] == "user"
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "population"


def test_several_calls_in_one_round_each_get_their_own_result(shell, server, kernel_functions):
    chat_ok(shell, "--tools weather,population --auto-tools -o r", '[[all-tools]] About "Lyon"')
    messages = server.requests[1].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [m["content"] for m in messages[2:]][1] == "522250"
    assert_every_call_is_answered(messages)


def test_a_frontend_that_cannot_ask_says_to_use_auto_tools_and_keeps_history_valid(
        shell, server, kernel_functions, monkeypatch):
    def no_stdin(prompt=""):
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")

    monkeypatch.setattr(builtins, "input", no_stdin)
    error = run(shell, '%%chat --tools weather\nWeather in "Oslo"?', expect=UsageError)
    assert "--auto-tools" in str(error)
    assert kernel_functions["calls"] == []
    assert_every_call_is_answered([m.to_api() for m in history(shell)])


def test_an_interrupt_inside_a_tool_keeps_the_exchange_with_every_call_answered(shell, server):
    run(shell, "def slow(n: int) -> int:\n    raise KeyboardInterrupt")
    try:
        error = run(shell, "%%chat --tools slow --auto-tools\ncount to 3", expect=CellStopped)
    finally:
        shell.user_ns.pop("slow", None)
    assert str(error) == "■ stopped — kept in 'default' as partial"
    recorded = [m.to_api() for m in history(shell)]
    assert recorded[-1] == {"role": "tool", "content": "Not run: interrupted by the user.",
                            "tool_call_id": recorded[1]["tool_calls"][0]["id"]}
    assert history(shell)[-1].partial


@pytest.mark.parametrize("cell, message", [
    ("%%chat --tools nope\nhi", "no function named 'nope'"),
    ("%%chat --tools not_a_function\nhi", "is a int, not a function"),
    ("%%chat --tools 'bad name'\nhi", "not a valid tool name"),
    ("%%chat --tools weather --tool-choice sometimes\nhi", "--tool-choice must be auto, none, required"),
    ("%%chat --tool-choice auto\nhi", "--tool-choice needs --tools"),
    ("%%chat --auto-tools\nhi", "--auto-tools needs --tools"),
    ("%%chat --tools weather -N 2\nhi", "drop -N"),
    ("%%chat --tools weather --presence-penalty 3\nhi", "--presence-penalty must be between -2 and 2"),
])
def test_each_tool_option_error_is_one_line_and_nothing_is_sent(
        shell, server, kernel_functions, capsys, cell, message):
    shell.user_ns["not_a_function"] = 3
    try:
        error = run(shell, cell, expect=UsageError)
    finally:
        shell.user_ns.pop("not_a_function", None)
    assert message in str(error)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    assert server.requests == []


# --- in a notebook -----------------------------------------------------------------------------


def test_in_a_notebook_each_call_is_a_card_while_it_forms_and_the_exchange_ends_as_one_block(
        shell, server, kernel_functions, magics, monkeypatch, frontend):
    publisher = RecordingPublisher(shell=shell)
    monkeypatch.setattr(shell, "display_pub", publisher)
    monkeypatch.setattr(magics, "display_mode", "rich")
    chat_ok(shell, "--tools weather --auto-tools", 'Weather in "<b>Nice</b>"?')
    (page,) = frontend.pages.values()  # the whole exchange streams into one live surface
    heads = [op[2] for op in page.ops if op[0] == "h" and op[1] == "t1_0:h"]  # name and status
    assert any("calling…" in html for html in heads[:-1])  # drawn before it ran
    card = page.region("t1_0").visible()
    assert 'class="oai-tool-call"' in card and "✓ returned" in card
    assert "looking up &lt;b&gt;Nice&lt;/b&gt;" in card
    assert publisher.kinds() == ["display", "update"]
    assert set(frontend.closed) == set(frontend.models)
    final = publisher.messages[-1]["data"]
    html = final["text/html"]
    assert html.count('class="oai-tool-call"') == 1 and html.count('class="oai-footer"') == 1
    assert "&quot;city&quot;: &quot;&lt;b&gt;Nice&lt;/b&gt;&quot;" in html  # pretty, escaped
    assert "<b>Nice</b>" not in html
    assert 'class="oai-answer' in html and "Built from the tool results" in html
    assert 'class="oai-practice-badge"' in html  # the footer's badge: the practice server answered
    assert "→ weather" in final["text/plain"]


def test_first_token_time_leaves_out_the_time_at_the_question(shell, server, kernel_functions, capsys):
    """A user who thinks for 100 s before answering y must not see "first token 100 s"."""
    from oai_magic.core.session import session_of
    from oai_magic.core.tool_loop import ToolTurn
    from oai_magic.core.tools import resolve_tools
    from oai_magic.core.turn_options import TurnOptions
    from oai_magic.ui.tool_cards import TerminalToolView

    now = [0.0]

    def clock():
        now[0] += 0.001
        return now[0]

    def thinking_user(name, arguments):
        now[0] += 100.0
        return True

    state = session_of(shell)
    options = TurnOptions(tools=resolve_tools("weather", shell.user_ns), confirm=thinking_user,
                          clock=clock)
    result = ToolTurn(state, state.client(), options).run('Weather in "Oslo"?', TerminalToolView())
    assert result.rounds == 1 and result.text
    assert result.first_token_seconds < 1
    assert result.total_seconds > 100  # the whole cell did take that long
    assert "first token 0.0" in capsys.readouterr().out
