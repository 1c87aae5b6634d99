"""Chat requests are checked before anything is sent, and built the way the API reads them.

Each range is checked at both edges: the last value accepted and the first refused. The refusal
texts are compared whole: they are the one line a user sees (``%%chat -t 3`` shows exactly
``--temperature must be between 0 and 2, got 3``), as the magic tests at the end show.
"""

from __future__ import annotations

import dataclasses

import pytest
from IPython.core.error import UsageError

from oai_magic.api.request import (
    ChatOptions,
    apply_extra_fields,
    build_chat_payload,
    parse_logit_bias,
    parse_param_value,
    parse_params,
    validate_chat_options,
    validate_logit_bias,
)
from oai_magic.errors import InputError

MESSAGES = [{"role": "user", "content": "hi"}]


def refusal(**options) -> str:
    with pytest.raises(InputError) as caught:
        validate_chat_options(ChatOptions(**options))
    return str(caught.value)


def accepted(**options) -> bool:
    validate_chat_options(ChatOptions(**options))
    return True


def body(**options) -> dict:
    return build_chat_payload("gpt-4o-mini", MESSAGES, ChatOptions(**options))


# --- ranges: the last accepted and the first refused value -------------------------------------


@pytest.mark.parametrize("field, low, high, flag", [
    ("temperature", 0, 2, "--temperature"),
    ("top_p", 0, 1, "--top-p"),
    ("presence_penalty", -2, 2, "--presence-penalty"),
    ("frequency_penalty", -2, 2, "--frequency-penalty"),
])
def test_each_range_accepts_its_edges_and_refuses_just_past_them(field, low, high, flag):
    assert accepted(**{field: low}) and accepted(**{field: high})
    assert refusal(**{field: high + 0.01}) == f"{flag} must be between {low} and {high}, got {high + 0.01:g}"
    assert refusal(**{field: low - 0.01}) == f"{flag} must be between {low} and {high}, got {low - 0.01:g}"


def test_temperature_refusal_reads_as_the_user_typed_it():
    assert refusal(temperature=2.5) == "--temperature must be between 0 and 2, got 2.5"
    assert refusal(top_p=-0.5) == "--top-p must be between 0 and 1, got -0.5"


def test_max_tokens_of_one_is_accepted_and_zero_is_refused():
    assert accepted(max_tokens=1)
    assert refusal(max_tokens=0) == "--max-tokens must be at least 1, got 0"


def test_choices_from_1_to_128_are_accepted_and_0_and_129_are_refused():
    assert accepted(n=1) and accepted(n=128)
    assert refusal(n=0) == "--choices must be between 1 and 128, got 0"
    assert refusal(n=129) == "--choices must be between 1 and 128, got 129"


def test_four_stop_sequences_are_accepted_and_a_fifth_is_refused():
    assert accepted(stop=["a", "b", "c", "d"])
    assert refusal(stop=["a", "b", "c", "d", "e"]) == (
        "--stop can be given at most 4 times (the API accepts up to 4 sequences)")


def test_logit_bias_of_plus_and_minus_100_is_accepted_and_101_is_refused():
    assert accepted(logit_bias={"1": 100, "2": -100, "3": 99.5})
    assert refusal(logit_bias={"1": 101}) == "--logit-bias value for 1 must be in -100..100, got 101"
    assert refusal(logit_bias={"7": -101}) == "--logit-bias value for 7 must be in -100..100, got -101"


def test_logit_bias_just_past_100_as_a_decimal_is_refused():
    assert refusal(logit_bias={"1": 100.5}) == (
        "--logit-bias value for 1 must be in -100..100, got 100.5")


def test_logit_bias_keys_must_be_token_ids():
    assert refusal(logit_bias={"hello": 1}) == (
        "--logit-bias keys must be token ids (integers), got 'hello'")
    assert refusal(logit_bias={"-5": 1}) == "--logit-bias keys must be token ids (integers), got '-5'"
    assert accepted(logit_bias={50256: 1})


def test_logit_bias_values_must_be_numbers_and_a_boolean_is_not_one():
    assert refusal(logit_bias={"1": "x"}) == "--logit-bias value for 1 must be a number, got 'x'"
    assert refusal(logit_bias={"1": True}) == "--logit-bias value for 1 must be a number, got True"
    assert refusal(logit_bias={"1": None}) == "--logit-bias value for 1 must be a number, got None"


def test_options_left_unset_are_all_accepted():
    assert accepted()
    assert accepted(temperature=None, top_p=None, max_tokens=None, n=None, logit_bias=None)


def test_every_reasoning_effort_and_verbosity_the_api_names_is_accepted():
    for effort in ("none", "minimal", "low", "medium", "high", "xhigh", "max"):
        assert accepted(reasoning_effort=effort)
    for verbosity in ("low", "medium", "high"):
        assert accepted(verbosity=verbosity)


def test_an_unknown_reasoning_effort_or_verbosity_is_refused_with_the_choices():
    assert refusal(reasoning_effort="extreme") == (
        "--reasoning-effort must be one of none, minimal, low, medium, high, xhigh, max, "
        "got 'extreme'")
    assert refusal(verbosity="max") == "--verbosity must be one of low, medium, high, got 'max'"


def test_a_refused_param_name_is_refused_even_when_it_came_from_elsewhere():
    assert refusal(param_names=["stream"]) == (
        "--param stream=… is refused: use --no-stream to wait for the whole answer.")
    assert accepted(param_names=["seed"])


# --- --logit-bias as typed ----------------------------------------------------------------------


def test_logit_bias_text_becomes_a_mapping_with_text_keys():
    assert parse_logit_bias('{"50256": -100, "11": 5}') == {"50256": -100, "11": 5}


def test_logit_bias_text_that_is_not_json_or_not_an_object_is_refused():
    with pytest.raises(InputError) as caught:
        parse_logit_bias("{nope")
    assert str(caught.value) == (
        '--logit-bias takes a JSON object of token id to bias, e.g. \'{"50256": -100}\'')
    with pytest.raises(InputError) as caught:
        parse_logit_bias("[1, 2]")
    assert str(caught.value) == '--logit-bias takes a JSON object, e.g. \'{"50256": -100}\''


def test_logit_bias_text_is_range_checked_too():
    with pytest.raises(InputError, match="must be in -100..100, got 101"):
        parse_logit_bias('{"1": 101}')


def test_validating_a_logit_bias_returns_nothing_and_changes_nothing():
    bias = {"1": 5}
    assert validate_logit_bias(bias) is None
    assert bias == {"1": 5}


# --- --param -------------------------------------------------------------------------------------


def test_param_values_are_json_when_they_parse_and_text_otherwise():
    assert parse_param_value("3") == 3
    assert parse_param_value("true") is True
    assert parse_param_value('{"a": 1}') == {"a": 1}
    assert parse_param_value("low") == "low"


def test_params_become_a_mapping_with_names_stripped():
    assert parse_params(["reasoning_effort=low", " seed =7", "note=a=b"]) == {
        "reasoning_effort": "low", "seed": 7, "note": "a=b"}


def test_a_param_without_a_name_or_an_equals_sign_is_refused_with_an_example():
    for word in ("seed", "=5", " =5"):
        with pytest.raises(InputError) as caught:
            parse_params([word])
        assert str(caught.value) == (f"--param takes NAME=VALUE, e.g. --param reasoning_effort=low "
                                     f"(got {word!r})")


def test_the_option_name_in_a_param_refusal_follows_the_caller():
    with pytest.raises(InputError, match=r"^--extra takes NAME=VALUE, e.g. --extra reasoning"):
        parse_params(["x"], option="--extra")


@pytest.mark.parametrize("name, why", [
    ("messages", "messages is the conversation's history; oai_magic builds it (use -c, -s, -n)"),
    ("stream", "use --no-stream to wait for the whole answer"),
    ("n", "use -N K for several choices"),
])
def test_params_that_an_option_owns_are_refused_with_the_option_to_use(name, why):
    with pytest.raises(InputError) as caught:
        parse_params([f"{name}=1"])
    assert str(caught.value) == f"--param {name}=… is refused: {why}."


# --- extra fields over what the magic set ---------------------------------------------------


def test_an_extra_field_is_added_and_a_changed_one_is_overridden_with_a_notice():
    payload = {"model": "gpt-4o-mini", "temperature": 0.5, "stream": True}
    options = ChatOptions(extra={"temperature": 1, "seed": 3}, param_names=["temperature"])
    notices = apply_extra_fields(payload, options)
    assert payload == {"model": "gpt-4o-mini", "temperature": 1, "seed": 3, "stream": True}
    assert notices == ["--param temperature=1 overrides the value oai_magic set (0.5)."]


def test_an_override_from_extra_body_names_that_setting():
    payload = {"model": "a"}
    notices = apply_extra_fields(payload, ChatOptions(extra={"model": "b"}))
    assert notices == ['OAIMagics.extra_body model="b" overrides the value oai_magic set ("a").']


def test_an_extra_field_equal_to_the_magic_value_needs_no_notice():
    payload = {"temperature": 1}
    assert apply_extra_fields(payload, ChatOptions(extra={"temperature": 1})) == []


def test_override_notices_cut_long_values_to_80_characters():
    payload = {"user": "é" * 100}
    notices = apply_extra_fields(payload, ChatOptions(extra={"user": "ü" * 100},
                                                      param_names=["user"]))
    shown_new, shown_old = '"' + "ü" * 79, '"' + "é" * 79
    assert notices == [f"--param user={shown_new} overrides the value oai_magic set ({shown_old})."]


def test_stream_options_are_sent_only_with_a_stream():
    extra = {"stream_options": {"include_usage": False}}
    streamed, whole = {"stream": True}, {"model": "m"}
    apply_extra_fields(streamed, ChatOptions(extra=extra))
    apply_extra_fields(whole, ChatOptions(extra=extra))
    assert streamed["stream_options"] == {"include_usage": False}
    assert "stream_options" not in whole


# --- the body ----------------------------------------------------------------------------------


def test_a_streamed_body_asks_for_usage_and_a_whole_one_asks_for_no_stream():
    assert body() == {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
                      "stream_options": {"include_usage": True}}
    assert body(stream=False) == {"model": "gpt-4o-mini", "messages": MESSAGES}


def test_stop_is_absent_from_the_body_when_no_stop_was_given():
    assert "stop" not in body()
    assert "stop" not in body(stop=[])


def test_stop_sequences_are_sent_as_a_list_of_their_own():
    stops = ["END", "NEXT Q"]
    sent = body(stop=stops)
    assert sent["stop"] == ["END", "NEXT Q"]
    sent["stop"].append("x")
    assert stops == ["END", "NEXT Q"]


def test_zero_values_are_sent_and_unset_ones_are_not():
    sent = body(stream=False, temperature=0, top_p=0, seed=0, presence_penalty=0,
                frequency_penalty=0, max_tokens=1)
    assert sent == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0, "top_p": 0,
                    "seed": 0, "presence_penalty": 0, "frequency_penalty": 0,
                    "max_completion_tokens": 1}


def test_every_option_is_sent_under_the_name_the_api_reads():
    tools = [{"type": "function", "function": {"name": "f"}}]
    sent = body(stream=False, n=2, logit_bias={"1": 5}, user="u-1", tools=tools,
                tool_choice="auto", reasoning_effort="low", verbosity="high", max_tokens=9,
                max_tokens_field="max_tokens")
    assert sent == {"model": "gpt-4o-mini", "messages": MESSAGES, "n": 2,
                    "logit_bias": {"1": 5}, "safety_identifier": "u-1", "tools": tools, "tool_choice": "auto",
                    "reasoning_effort": "low", "verbosity": "high", "max_tokens": 9}


def test_json_mode_asks_for_a_json_object_and_a_schema_wins_over_it():
    schema = {"name": "point", "schema": {"type": "object"}}
    assert body(json_mode=True)["response_format"] == {"type": "json_object"}
    assert body(json_mode=True, json_schema=schema)["response_format"] == {
        "type": "json_schema", "json_schema": schema}
    assert "response_format" not in body()


def test_a_body_is_never_built_from_options_that_fail_their_checks():
    with pytest.raises(InputError, match="--temperature"):
        body(temperature=3)


def test_options_are_plain_data_that_can_be_copied_with_changes():
    options = ChatOptions(temperature=1)
    assert dataclasses.replace(options, stream=False).temperature == 1
    assert ChatOptions().stop == [] and ChatOptions().stop is not ChatOptions().stop


# --- what the user sees in a notebook ----------------------------------------------------------


@pytest.mark.parametrize("flags, line", [
    ("-t 2.01", "--temperature must be between 0 and 2, got 2.01"),
    ("--top-p 1.01", "--top-p must be between 0 and 1, got 1.01"),
    ("--max-tokens 0", "--max-tokens must be at least 1, got 0"),
    ("--stop a --stop b --stop c --stop d --stop e",
     "--stop can be given at most 4 times (the API accepts up to 4 sequences)"),
    ("--presence-penalty -2.01", "--presence-penalty must be between -2 and 2, got -2.01"),
    ("--frequency-penalty 2.01", "--frequency-penalty must be between -2 and 2, got 2.01"),
    ("-N 0", "--choices must be between 1 and 128, got 0"),
    ("-N 129", "--choices must be between 1 and 128, got 129"),
    ("--logit-bias '{\"50256\": 101}'", "--logit-bias value for 50256 must be in -100..100, got 101"),
    ("--logit-bias '{\"50256\": -101}'",
     "--logit-bias value for 50256 must be in -100..100, got -101"),
])
def test_a_value_just_past_its_range_is_one_usage_line_and_nothing_is_sent(shell, server, flags,
                                                                          line):
    result = shell.run_cell(f"%%chat {flags}\nhi", store_history=False)
    assert type(result.error_in_exec) is UsageError
    assert str(result.error_in_exec) == line
    assert server.requests == []


@pytest.mark.parametrize("flags, field, value", [
    ("-t 2", "temperature", 2),
    ("--top-p 1", "top_p", 1),
    ("--max-tokens 1", "max_completion_tokens", 1),
    ("--presence-penalty -2", "presence_penalty", -2),
    ("--frequency-penalty 2", "frequency_penalty", 2),
    ("-N 1", "n", 1),
    ("--logit-bias '{\"50256\": -100, \"11\": 100}'", "logit_bias", {"50256": -100, "11": 100}),
    ("--stop a --stop b --stop c --stop d", "stop", ["a", "b", "c", "d"]),
])
def test_the_last_value_inside_its_range_is_sent(shell, server, flags, field, value):
    result = shell.run_cell(f"%%chat {flags}\n[[echo]] hi", store_history=False)
    assert result.error_in_exec is None
    assert server.requests[-1].json[field] == value


def test_a_chat_without_stop_sends_no_stop_field(shell, server):
    assert shell.run_cell("%%chat\n[[echo]] hi", store_history=False).error_in_exec is None
    assert "stop" not in server.requests[-1].json
