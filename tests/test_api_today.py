"""Issue 16: any request field (--param, extra_body), structured outputs (--schema), reasoning
models, and what each answer cost — against the practice server over a real socket."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Literal, Optional, TypedDict

import jsonschema
import pytest
from IPython.core.error import UsageError

from oai_magic.core import costs, structured
from oai_magic.core.session import session_of
from oai_magic.errors import InputError
from oai_magic.practice import Scripted, sse_event

from .conftest import run
from .openapi import validator

CHAT = "/chat/completions"


def assert_valid_chat_request(body: dict) -> None:
    """The body is a CreateChatCompletionRequest by the OpenAPI spec (copied verbatim)."""
    validator("CreateChatCompletionRequest").validate(body)


def magics(shell):
    return shell.magics_manager.registry["OAIMagics"]


@pytest.fixture(autouse=True)
def _reset_cost_settings(shell):
    yield
    m = magics(shell)
    m.extra_body, m.prices = {}, {}
    m.session_budget_usd = m.session_budget_tokens = None


# --- 1. any parameter ----------------------------------------------------------------------


def test_param_values_are_json_when_they_parse_else_strings_and_the_body_follows_the_spec(
        shell, server):
    result = run(shell, "%%chat --param service_tier=flex --param store=true "
                        "--param prompt_cache_key=lesson-3 --param 'metadata={\"class\": \"7b\"}' "
                        "--param top_logprobs=2 --param logprobs=true\n[[echo]] hi")
    assert result.success
    body = server.requests[-1].json
    assert body["service_tier"] == "flex" and body["store"] is True
    assert body["metadata"] == {"class": "7b"} and body["top_logprobs"] == 2
    assert body["prompt_cache_key"] == "lesson-3"
    assert_valid_chat_request(body)


def test_param_that_collides_with_a_field_the_magic_sets_wins_with_a_notice(shell, server, capsys):
    result = run(shell, "%%chat -t 0.5 --param temperature=1\n[[echo]] hi")
    assert result.success
    assert server.requests[-1].json["temperature"] == 1
    out = capsys.readouterr().out
    assert out.count("--param temperature=1 overrides the value oai_magic set (0.5)") == 1


@pytest.mark.parametrize("name, hint", [("messages", "history"), ("stream", "--no-stream"),
                                        ("n", "-N")])
def test_messages_stream_and_n_are_refused_in_one_line_and_nothing_is_sent(shell, server, name,
                                                                          hint):
    before = len(server.requests)
    line = str(run(shell, f"%%chat --param {name}=1\n[[echo]] hi", expect=UsageError))
    assert f"--param {name}=… is refused" in line and hint in line and "\n" not in line
    assert len(server.requests) == before
    assert session_of(shell).conversations.get("default") is None or not session_of(
        shell).conversations["default"].messages


def test_stream_options_is_dropped_when_not_streaming(shell, server):
    param = "--param 'stream_options={\"include_usage\": true}'"
    assert run(shell, f"%%chat --no-stream {param}\n[[echo]] hi").success
    body = server.requests[-1].json
    assert "stream_options" not in body and "stream" not in body
    assert_valid_chat_request(body)


def test_extra_body_adds_fields_to_every_request_and_param_beats_it(shell, server):
    magics(shell).extra_body = {"service_tier": "flex", "store": False}
    run(shell, "%%chat\n[[echo]] one")
    assert server.requests[-1].json["service_tier"] == "flex"
    run(shell, "%%chat --param service_tier=priority\n[[echo]] two")
    body = server.requests[-1].json
    assert body["service_tier"] == "priority" and body["store"] is False
    assert_valid_chat_request(body)


def test_extra_body_refuses_messages_at_config_time(shell, caplog):
    run(shell, "%config OAIMagics.extra_body = {'messages': []}")
    assert "messages=… is refused" in caplog.text  # %config reports a refused value in one line
    assert magics(shell).extra_body == {}


def test_an_unknown_field_goes_as_given_and_the_servers_error_is_one_line(shell, server):
    line = str(run(shell, "%%chat --param reasoning_efort=low\n[[echo]] hi", expect=UsageError))
    assert server.requests[-1].json["reasoning_efort"] == "low"
    assert "Unrecognized request argument supplied: reasoning_efort" in line
    assert "\n" not in line


def test_known_options_are_still_validated_before_sending(shell, server):
    before = len(server.requests)
    line = str(run(shell, "%%chat --param 'a b'\n[[echo]] hi", expect=UsageError))
    assert "NAME=VALUE" in line and len(server.requests) == before


def test_transcribe_param_sends_strings_json_text_and_lists_as_repeated_parts(shell, server):
    audio = Path(__file__).parent / "fixtures" / "hello.wav"
    # (the practice server refuses include[]=logprobs and known speakers with whisper-1, as
    # OpenAI does since issue 28: the lists here are fields it leaves alone)
    run(shell, f"%transcribe {audio} --param 'languages=[\"en\"]' "
               "--param chunking_strategy=auto --param 'keywords=[\"Ann\", \"Bo\"]' "
               "--param 'extra={\"a\": 1}' --param temperature=0.2")
    form = server.requests[-1].form
    fields = [(part.name, part.value) for part in form if part.name != "file"]
    assert ("languages[]", "en") in fields
    assert ("chunking_strategy", "auto") in fields
    assert [v for n, v in fields if n == "keywords[]"] == ["Ann", "Bo"]
    assert ("extra", '{"a": 1}') in fields
    assert [v for n, v in fields if n == "temperature"] == ["0.2"]


# --- 2. structured outputs -----------------------------------------------------------------


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@dataclass
class Address:
    city: str
    zip_code: Optional[str]


@dataclass
class Person:
    name: str
    age: int
    height: float
    student: bool
    mood: Mood
    level: Literal["a1", "a2", "b1"]
    tags: List[str]
    home: Address


class Movie(TypedDict):
    title: str
    year: int
    genres: List[Literal["drama", "comedy"]]


def _walk(schema):
    yield schema
    for value in schema.values():
        if isinstance(value, dict):
            yield from _walk(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _walk(item)


def _assert_strict(schema):
    for node in _walk(schema):
        assert "default" not in node
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])


def test_a_dataclass_becomes_a_strict_schema_with_nested_objects_enums_and_literals():
    target = structured.schema_target(Person, "Person")
    schema = target.schema
    _assert_strict(schema)
    assert schema["properties"]["mood"] == {"type": "string", "enum": ["happy", "sad"]}
    assert schema["properties"]["level"] == {"type": "string", "enum": ["a1", "a2", "b1"]}
    assert schema["properties"]["home"]["properties"]["zip_code"] == {"type": ["string", "null"]}
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert target.response_format() == {"name": "Person", "schema": schema, "strict": True}


def test_a_typeddict_and_a_plain_dict_become_strict_schemas():
    _assert_strict(structured.schema_target(Movie, "Movie").schema)
    loose = {"type": "object", "properties": {"x": {"type": "integer", "default": 3},
                                              "y": {"type": "object",
                                                    "properties": {"z": {"type": "string"}}}}}
    schema = structured.schema_target(loose, "point").schema
    _assert_strict(schema)
    assert schema["properties"]["x"] == {"type": "integer"}


def test_a_pydantic_model_becomes_a_strict_schema_and_answers_become_instances():
    pydantic = pytest.importorskip("pydantic")  # in the test extra, so it runs

    class City(pydantic.BaseModel):
        name: str
        population: int = 0

    target = structured.schema_target(City, "City")
    _assert_strict(target.schema)
    parsed = structured.parse_answer('{"name": "Oslo", "population": 700000}', target)
    assert isinstance(parsed, City) and parsed.population == 700000


@pytest.mark.parametrize("hint, words", [(Any, "is Any"), (dict, "free-form dict"),
                                         (list, "list without item type")])
def test_types_strict_mode_cannot_express_are_refused_naming_the_field(hint, words):
    holder = dataclass(type("Holder", (), {"__annotations__": {"ok": int, "bad": hint}}))
    with pytest.raises(InputError) as caught:
        structured.schema_target(holder, "Holder")
    assert "Holder.bad" in str(caught.value) and words in str(caught.value)


def test_schema_answer_is_parsed_into_a_dataclass_with_the_right_types(shell, server, capsys):
    shell.user_ns.update(Person=Person)
    run(shell, "%%chat --schema Person -o r\nDescribe a student")
    body = server.requests[-1].json
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert_valid_chat_request(body)
    r = shell.user_ns["r"]
    person = r.parsed
    assert isinstance(person, Person) and isinstance(person.home, Address)
    assert isinstance(person.mood, Mood) and isinstance(person.age, int)
    assert isinstance(person.height, float) and person.level == "a1"
    assert json.loads(r.text)["name"] == person.name  # the raw text is kept too
    assert "[[" not in r.text  # no label in the content


def test_schema_from_a_typeddict_and_a_dict_gives_dicts_and_every_choice_is_parsed(shell, server):
    shell.user_ns.update(Movie=Movie, point={"type": "object",
                                            "properties": {"x": {"type": "number"}}})
    assert run(shell, "%%chat --schema Movie -o r\nA film").success
    assert isinstance(shell.user_ns["r"].parsed["year"], int)
    assert run(shell, "%%chat --schema point -N 2 -o r\nA point").success
    r = shell.user_ns["r"]
    assert [type(c.parsed) for c in r.choices] == [dict, dict] and r.parsed == r.choices[0].parsed


def test_schema_with_tools_parses_the_final_answer(shell, server):
    def lookup(city: str) -> str:
        """Find a city."""
        return f"{city}: 5 degrees"

    shell.user_ns.update(lookup=lookup, Movie=Movie)
    run(shell, "%%chat --schema Movie --tools lookup --auto-tools -o r\nWeather in Oslo?")
    assert_valid_chat_request(server.requests[-1].json)


def _scripted_answer(text, refusal=None):
    delta = {"refusal": refusal} if refusal else {"content": text}
    return Scripted(chunks=[
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [
            {"index": 0, "delta": delta, "finish_reason": None}]}),
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        sse_event("[DONE]")])


def test_an_answer_that_does_not_validate_is_one_line_with_the_raw_text_kept(shell, server):
    shell.user_ns.update(Person=Person)
    server.script(CHAT, _scripted_answer('{"name": "Ann", "age": "old"}'))
    line = str(run(shell, "%%chat --schema Person -o r\nWho?", expect=UsageError))
    assert "does not match Person" in line and "\n" not in line
    r = shell.user_ns["r"]
    assert r.text == '{"name": "Ann", "age": "old"}' and r.parsed is None
    assert session_of(shell).conversations["default"].messages[-1].content == r.text


def test_a_refusal_is_one_line(shell, server):
    shell.user_ns.update(Person=Person)
    server.script(CHAT, _scripted_answer(None, refusal="I can't help with that."))
    line = str(run(shell, "%%chat --schema Person\nWho?", expect=UsageError))
    assert "the model refused: I can't help with that." in line


def test_schema_naming_a_missing_variable_is_one_line(shell, server):
    before = len(server.requests)
    line = str(run(shell, "%%chat --schema Nope\nWho?", expect=UsageError))
    assert "--schema Nope: no such variable" in line and len(server.requests) == before


# --- 3. reasoning --------------------------------------------------------------------------


def test_reasoning_effort_and_verbosity_are_sent_and_reasoning_is_kept_not_recorded(shell, server,
                                                                                    capsys):
    result = run(shell, "%%chat --reasoning-effort xhigh --verbosity low -o r\n[[echo]] two words")
    assert result.success
    body = server.requests[-1].json
    assert body["reasoning_effort"] == "xhigh" and body["verbosity"] == "low"
    assert_valid_chat_request(body)
    r = shell.user_ns["r"]
    assert r.text == "two words" and r.reasoning.startswith("The question has")
    assert all("question has" not in (m.content or "")
               for m in session_of(shell).conversations["default"].messages)
    out = capsys.readouterr().out
    assert "\x1b[2m" in out and out.index("The question has") < out.index("two words")
    assert "reasoning" in out.splitlines()[-1]  # the footer counts reasoning tokens
    run(shell, "%%chat\n[[echo]] next")
    assert all("reasoning_content" not in m for m in server.requests[-1].json["messages"])


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_reasoning_effort_of_the_spec_is_accepted(shell, server, effort):
    assert run(shell, f"%%chat --reasoning-effort {effort}\n[[echo]] hi").success
    assert_valid_chat_request(server.requests[-1].json)


def test_notebook_shows_reasoning_live_collapsed_above_the_answer_and_escaped(shell, server,
                                                                            frontend):
    from .recording import Notebook

    thought = "Is <b>x</b> & y bigger?"
    server.script(CHAT, Scripted(chunks=[
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [
            {"index": 0, "delta": {"reasoning_content": thought}, "finish_reason": None}]}),
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [
            {"index": 0, "delta": {"content": "Yes."}, "finish_reason": "stop"}]}),
        sse_event("[DONE]")]))
    with Notebook(shell) as publisher:
        assert run(shell, "%%chat -o r\nCompare").success
    page = next(iter(frontend.pages.values()))
    live = page.region("k").visible()
    assert "<details" in live and "Thinking… (23 chars)" in live and "<details open" not in live
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in live and "<b>x</b>" not in live
    html = publisher.messages[-1]["data"]["text/html"]
    assert html.index("<details") < html.index("Yes.")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert shell.user_ns["r"].reasoning == thought


# --- 4. what it cost -----------------------------------------------------------------------


def test_cost_comes_from_genai_prices_and_is_unknown_for_a_missing_model():
    from genai_prices import Usage, calc_price

    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
             "prompt_tokens_details": {"cached_tokens": 400_000}}
    expected = float(calc_price(Usage(input_tokens=1_000_000, cache_read_tokens=400_000,
                                      output_tokens=1_000_000), "gpt-4o-mini",
                                provider_id="openai").total_price)
    assert costs.estimate_cost(usage, "gpt-4o-mini-2024-07-18") == pytest.approx(expected)
    uncached = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    assert costs.estimate_cost(usage, "gpt-4o-mini") < costs.estimate_cost(uncached, "gpt-4o-mini")
    assert costs.estimate_cost(usage, "gpt-4o-mini", tier="batch") < expected
    assert costs.estimate_cost(usage, "no-such-model") is None
    assert costs.format_cost(None) == "price unknown"
    assert costs.format_cost(0.0012) == "≈ $0.0012"
    override = {"no-such-model": {"input": 1, "output": 2}}
    assert costs.estimate_cost(usage, "no-such-model", override) == pytest.approx(3)


def test_the_price_source_names_the_package_its_version_and_the_date_of_its_data():
    import genai_prices

    source = costs.price_source()
    assert f"genai-prices {genai_prices.__version__}" in source
    assert re.search(r"as of \d{4}-\d{2}-\d{2}", source)
    assert "OAIMagics.prices for o4-mini" in costs.price_source({"o4-mini": {"input": 1}})


def test_footer_shows_cached_tokens_and_the_estimate_or_price_unknown(shell, server, capsys):
    run(shell, "%%chat -n\n[[echo]] same words")
    run(shell, "%%chat -n -o r\n[[echo]] same words")  # the same prompt again: cached
    footer = capsys.readouterr().out.strip().splitlines()[-1]
    r = shell.user_ns["r"]
    cached = r.usage["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0 and f"{cached} cached" in footer
    assert costs.format_cost(r.cost) in footer and "≈ $" in footer
    magics(shell).prices = {"o4-mini": {"input": 1.1, "output": 4.4}}
    run(shell, "%%chat -m practice-1\n[[echo]] hi")
    assert "price unknown" in capsys.readouterr().out


def test_oai_usage_shows_session_totals_per_model_and_conversation_and_reset_clears(shell, server,
                                                                                   capsys):
    run(shell, "%%chat -c lesson\n[[echo]] one")
    run(shell, "%%chat -c lesson -m gpt-4o\n[[echo]] two")
    run(shell, "%%chat -c other --reasoning-effort low\n[[echo]] three")
    capsys.readouterr()
    run(shell, "%oai usage")
    report = capsys.readouterr().out
    ledger = costs.ledger_of(session_of(shell))
    assert ledger.total.requests == 3 and ledger.by_conversation["lesson"].requests == 2
    assert ledger.by_model["gpt-4o"].requests == 1 and ledger.total.reasoning > 0
    assert "gpt-4o-mini:" in report and "lesson:" in report and "restart" in report
    assert "total: requests 3" in report
    run(shell, "%oai usage --reset")
    assert "cleared" in capsys.readouterr().out and ledger.total.requests == 0


# --- 5. budgets ----------------------------------------------------------------------------


def test_token_budget_refuses_further_requests_in_one_line_with_the_totals(shell, server):
    magics(shell).session_budget_tokens = 10
    assert run(shell, "%%chat\n[[echo]] first request uses more than ten tokens").success
    before = len(server.requests)
    line = str(run(shell, "%%chat -n\n[[echo]] second", expect=UsageError))
    assert line.startswith("Session budget reached") and "tokens" in line and "1 request" in line
    assert len(server.requests) == before
    # -n was not applied: the refused cell changed nothing
    assert len(session_of(shell).conversations["default"].messages) == 2


def test_usd_budget_refuses_a_model_of_unknown_price_with_a_pointer_to_prices(shell, server):
    magics(shell).session_budget_usd = 0.5
    before = len(server.requests)
    line = str(run(shell, "%%chat -m practice-1\n[[echo]] hi", expect=UsageError))
    assert "price of 'practice-1' is unknown" in line and "OAIMagics.prices" in line
    assert len(server.requests) == before
    assert run(shell, "%%chat\n[[echo]] hi").success  # gpt-4o-mini has a price
    magics(shell).session_budget_usd = 0.0000001
    line = str(run(shell, "%%chat\n[[echo]] hi", expect=UsageError))
    assert "OAIMagics.session_budget_usd" in line


def test_ledger_reservations_count_against_the_budget():
    ledger = costs.UsageLedger()
    usd, tokens = costs.request_estimate("gpt-4o-mini", 1_000_000, 0)
    assert usd == pytest.approx(costs.estimate_cost({"prompt_tokens": 1_000_000}, "gpt-4o-mini"))
    assert 0 < usd < 0.3
    assert tokens == 1_000_000 and costs.request_estimate("unknown", 10, 5) == (0.0, 15)
    held = ledger.reserve(usd=0.3)
    budget = costs.Budget(usd=0.25)
    assert costs.budget_refusal(ledger, budget, "gpt-4o-mini") is not None
    ledger.release(held)
    assert costs.budget_refusal(ledger, budget, "gpt-4o-mini") is None


def test_chat_help_documents_every_new_option(shell):
    doc = magics(shell).chat.__doc__
    for option in ("--param NAME=VALUE", "--schema VAR", "--reasoning-effort", "--verbosity",
                   "xhigh", "extra_body", "result.parsed", "result.reasoning"):
        assert option in doc, option
    assert "--param NAME=VALUE" in magics(shell).transcribe.__doc__
    assert "%oai usage [--reset]" in magics(shell).oai.__doc__


def test_chat_list_shows_the_tokens_each_conversation_used(shell, server):
    run(shell, "%%chat -c notes\n[[echo]] a few words here")
    used = costs.ledger_of(session_of(shell)).by_conversation["notes"].tokens
    table = shell.run_line_magic("chat", "list")
    assert "tokens" in table.headers
    row = next(r for r in table.rows if r[0] == "notes")
    assert row[table.headers.index("tokens")] == f"{used:,}" and used > 0


def test_transcription_is_priced_per_minute_where_the_data_says_so_and_counted(shell, server,
                                                                               capsys):
    audio = Path(__file__).parent / "fixtures" / "hello.wav"
    magics(shell).prices = {"whisper-1": {"per_minute": 0.006}}
    assert run(shell, f"%transcribe {audio} -m whisper-1 -f verbose_json -o t").success
    t = shell.user_ns["t"]
    assert t.cost == pytest.approx(t.usage["seconds"] / 60 * 0.006)
    assert costs.format_cost(t.cost) in capsys.readouterr().out
    magics(shell).prices = {}
    assert run(shell, f"%transcribe {audio} -m gpt-4o-mini-transcribe -o t2").success
    t2 = shell.user_ns["t2"]
    assert t2.cost is not None and t2.cost > 0  # priced per token by genai-prices
    assert costs.format_cost(t2.cost) in capsys.readouterr().out
    ledger = costs.ledger_of(session_of(shell))
    assert ledger.by_model["whisper-1"].requests == 1
    assert ledger.by_model["gpt-4o-mini-transcribe"].prompt > 0  # its token usage counted


def test_practice_answers_validate_against_every_kind_of_schema(shell, server):
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        label: Literal["x", "y"]
        weight: Optional[float] = None

    class Outer(pydantic.BaseModel):
        items: List[Inner]
        count: int

    shell.user_ns.update(Person=Person, Movie=Movie, Outer=Outer)
    for name in ("Person", "Movie", "Outer"):
        assert run(shell, f"%%chat --schema {name} -o r -n\nFill it in").success, name
        body = server.requests[-1].json
        schema = body["response_format"]["json_schema"]["schema"]
        jsonschema.Draft202012Validator(schema).validate(json.loads(shell.user_ns["r"].text))
        assert_valid_chat_request(body)
    assert isinstance(shell.user_ns["r"].parsed, Outer)


def test_a_bad_schema_variable_is_one_line_and_nothing_is_sent(shell, server):
    @dataclass
    class Loose:
        data: dict

    shell.user_ns.update(Loose=Loose, number=3)
    before = len(server.requests)
    assert "field Loose.data is a free-form dict" in str(
        run(shell, "%%chat --schema Loose\nhi", expect=UsageError))
    assert "expected a dataclass" in str(run(shell, "%%chat --schema number\nhi", expect=UsageError))
    assert len(server.requests) == before


def test_prices_config_is_validated(shell, caplog):
    run(shell, "%config OAIMagics.prices = {'m': {'input': 'cheap'}}")
    assert "must be a number" in caplog.text and magics(shell).prices == {}


def test_choices_show_each_choices_reasoning_above_its_column(shell, server, frontend):
    from .recording import Notebook

    with Notebook(shell) as publisher:
        assert run(shell, "%%chat -N 2 --reasoning-effort low -o r\n[[echo]] two words").success
    page = next(iter(frontend.pages.values()))
    assert "Thinking… (" in page.region("k0").visible()
    assert "Thinking… (" in page.region("k1").visible()
    html = publisher.messages[-1]["data"]["text/html"]
    assert html.count("<details") == 2 and html.index("<details") < html.index("two words")
    assert all(c.reasoning for c in shell.user_ns["r"].choices)


def test_tool_rounds_show_their_reasoning_above_each_rounds_calls_and_answer(shell, server,
                                                                             frontend):
    from .recording import Notebook

    def lookup(city: str) -> str:
        """Find a city."""
        return f"{city}: 5 degrees"

    shell.user_ns.update(lookup=lookup)
    with Notebook(shell) as publisher:
        run(shell, "%%chat --tools lookup --auto-tools --reasoning-effort low -o r\n"
                   "Weather in Oslo?")
    html = publisher.messages[-1]["data"]["text/html"]
    assert html.count("<details class=\"oai-reasoning-block") == 2  # one per request
    assert html.index("oai-reasoning-block") < html.index("lookup")
    assert shell.user_ns["r"].reasoning


def test_terminal_tool_rounds_show_reasoning_as_dim_text(shell, server, capsys):
    def lookup(city: str) -> str:
        """Find a city."""
        return f"{city}: 5 degrees"

    shell.user_ns.update(lookup=lookup)
    assert run(shell, "%%chat --tools lookup --auto-tools --reasoning-effort low\nOslo?").success
    out = capsys.readouterr().out
    assert out.count("\x1b[2mThinking… The question has") == 2 and out.count("\x1b[22m") == 2
