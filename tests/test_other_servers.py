"""Servers that are not OpenAI: the practice server's quirks modes play llama.cpp and
faster-whisper-server over a real socket, and the extension absorbs each difference."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

from oai_magic import errors
from oai_magic.accumulator import ChatAccumulator
from oai_magic.client import OpenAIClient
from oai_magic.errors import BadRequestError, InternalServerError, NotFoundError
from oai_magic.practice import Scripted
from oai_magic.state import Secret, Settings, get_state

from .conftest import TEST_KEY, run

CHAT = "/chat/completions"

WEATHER = '''
def get_weather(city: str) -> dict:
    """Weather now in a city."""
    return {"city": city, "temperature": 21}
'''


@pytest.fixture
def llamacpp(server):
    """The practice server playing llama-cpp-python's server for this test."""
    server.quirks = "llamacpp"
    return server


@pytest.fixture
def weather(shell):
    assert run(shell, WEATHER).success
    yield
    shell.user_ns.pop("get_weather", None)


def make_client(server, **settings) -> OpenAIClient:
    values = {"api_key": Secret(TEST_KEY), "base_url": server.base_url, **settings}
    return OpenAIClient(Settings(**values), sleep=lambda seconds: None)


def history(shell, name="default"):
    return [m.to_api() for m in get_state(shell).conversation(name).messages]


def chat_ok(shell, line, prompt):
    result = run(shell, f"%%chat {line}\n{prompt}")
    assert result.success, result.error_in_exec
    return result


# --- 11. the quirks mode itself -------------------------------------------------------------


def test_quirks_mode_streams_tool_calls_repeating_the_name_and_id_in_every_chunk(llamacpp):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    stream = make_client(llamacpp).stream(CHAT, json_body={
        "model": "gpt-4o-mini", "stream": True, "tools": tools,
        "messages": [{"role": "user", "content": 'Weather in "Oslo"?'}]})
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in stream
                 if c.get("choices") and c["choices"][0]["delta"].get("tool_calls")]
    assert len(fragments) > 2
    assert {f["function"]["name"] for f in fragments} == {"get_weather"}
    assert len({f["id"] for f in fragments}) == 1


def test_quirks_mode_refuses_null_content_beside_tool_calls_and_ignores_n_usage_and_max_completion(
        llamacpp):
    client = make_client(llamacpp, max_retries=0)
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with pytest.raises(InternalServerError):
        client.post(CHAT, json_body={"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"}]})
    data = client.post(CHAT, json_body={"model": "gpt-4o-mini", "n": 3, "max_completion_tokens": 2,
                                        "messages": [{"role": "user", "content": "hi"}]}).data
    assert len(data["choices"]) == 1 and len(data["choices"][0]["message"]["content"]) > 40
    events = list(client.stream(CHAT, json_body={
        "model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}]}))
    assert events and not any(e.get("usage") for e in events)


def test_quirks_mode_runs_from_the_command_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "oai_magic.practice", "--port", "0", "--quirks", "llamacpp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        client = OpenAIClient(Settings(base_url=base_url))  # llama.cpp needs no key
        data = client.post(CHAT, json_body={"model": "gpt-4o-mini", "n": 2, "messages": [
            {"role": "user", "content": "[[echo]] hello"}]}).data
        assert [c["message"]["content"] for c in data["choices"]] == ["hello"]
    finally:
        process.terminate()
        process.wait(5)


# --- 1. repeated tool-call names --------------------------------------------------------------


def test_a_name_repeated_in_every_chunk_is_one_name_and_arguments_still_concatenate():
    accumulator = ChatAccumulator()
    for piece in ('{"city": ', '"Oslo"}'):
        accumulator.add({"choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": piece}}]}}]})
    [call] = accumulator.choice(0).tool_call_list()
    assert call == {"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}


def test_a_streamed_tool_call_round_trips_against_llamacpp(shell, llamacpp, weather):
    chat_ok(shell, "--tools get_weather --auto-tools -o r", 'Weather in "Oslo"?')
    r = shell.user_ns["r"]
    assert [(o.name, o.status) for o in r.tool_results] == [("get_weather", "ok")]
    assert '"temperature": 21' in r.text and r.finish_reason == "stop"
    second = llamacpp.requests[-1].json
    assert second["messages"][1]["content"] == ""  # item 2: "" beside tool_calls, not null
    assert [m["role"] for m in history(shell)] == ["user", "assistant", "tool", "assistant"]
    chat_ok(shell, "", "[[echo]] and tomorrow?")  # the recorded exchange is accepted again


# --- 2. content "" beside tool_calls -----------------------------------------------------------


def test_a_loaded_history_with_null_content_is_sent_with_empty_content(shell, llamacpp, tmp_path):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    saved = {"name": "default", "system": None, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "assistant", "content": "done"}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(saved))
    assert run(shell, f"%chat load {path}").success
    chat_ok(shell, "", "[[echo]] again")
    sent = llamacpp.requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": "", "tool_calls": [call]}


# --- 3. a failed follow-up does not poison the conversation ------------------------------------


def test_a_follow_up_that_fails_keeps_the_tool_round_and_records_nothing_else(
        shell, llamacpp, weather):
    # The tool runs between the two requests: it makes the follow-up fail.
    shell.user_ns["fail_next"] = lambda: llamacpp.script(CHAT, Scripted(
        400, body=b'{"detail": "Model is loading, try again"}'))
    assert run(shell, "def get_weather(city: str) -> str:\n    fail_next()\n    return 'sunny'").success
    try:
        result = run(shell, '%%chat --tools get_weather --auto-tools\nWeather in "Oslo"?')
    finally:
        shell.user_ns.pop("fail_next", None)
    assert isinstance(result.error_in_exec, UsageError)
    assert "Model is loading, try again" in str(result.error_in_exec)
    recorded = history(shell)
    assert [m["role"] for m in recorded] == ["user", "assistant", "tool"]
    assert recorded[1]["content"] == "" and recorded[2]["content"] == "sunny"
    assert not any(m.partial for m in get_state(shell).conversation("default").messages)
    chat_ok(shell, "", "[[echo]] and now?")  # no 500, no undo needed
    assert [m["role"] for m in llamacpp.requests[-1].json["messages"]] == [
        "user", "assistant", "tool", "user"]


# --- 4. error bodies of other shapes -----------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    ({"detail": "Unsupported response_format: text"}, "Unsupported response_format: text"),
    ({"detail": {"error": {"message": "Model not loaded", "code": "no_model"}}}, "Model not loaded"),
    ({"detail": [{"loc": ["body", "temperature"], "msg": "Input should be at most 2",
                  "type": "less_than_equal"}]}, "body.temperature: Input should be at most 2"),
    ({"object": "error", "message": "max_tokens is too large", "type": "BadRequestError",
      "code": 400}, "max_tokens is too large"),
    ({"error": "the model is busy"}, "the model is busy"),
])
def test_error_bodies_of_every_usual_shape_give_the_servers_message(server, body, message):
    server.script("/models", Scripted(400, body=json.dumps(body).encode()))
    with pytest.raises(BadRequestError) as caught:
        make_client(server).list_models()
    assert caught.value.message == message
    assert str(caught.value).startswith("HTTP 400") and message in str(caught.value)


def test_a_long_multi_line_server_message_is_condensed_to_one_line(llamacpp):
    client = make_client(llamacpp)
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with pytest.raises(InternalServerError) as caught:
        client.post(CHAT, json_body={"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]}]})
    text = str(caught.value)
    assert "\n" not in text and len(text) <= 320
    assert "validation errors for ChatCompletionRequestAssistantMessage" in text
    assert len(llamacpp.requests) == 3  # 5xx keeps the SDK's retry policy


def test_one_line_keeps_short_messages_and_cuts_long_ones_with_an_ellipsis():
    assert errors.one_line("a\n  b\tc") == "a b c"
    cut = errors.one_line("word " * 200)
    assert len(cut) <= 300 and cut.endswith("…")


def test_a_detail_error_reads_as_the_servers_message_in_a_cell(shell, llamacpp):
    result = run(shell, "%%chat\n[[tokens=2000000]] hi")
    assert isinstance(result.error_in_exec, UsageError)
    assert "[[tokens=N]] allows at most" in str(result.error_in_exec)
    assert "not an API error body" not in str(result.error_in_exec)


def test_a_missing_model_list_is_a_not_found_error(server):
    server.quirks = "faster-whisper"
    with pytest.raises(NotFoundError):
        make_client(server).list_models()
