"""Servers that are not OpenAI: the practice server's quirks modes play llama.cpp and
faster-whisper-server over a real socket, and the extension absorbs each difference."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

from oai_magic import errors
from oai_magic.api.accumulator import ChatAccumulator
from oai_magic.api.client import OpenAIClient
from oai_magic.core.session import session_of
from oai_magic.errors import BadRequestError, InternalServerError, NotFoundError
from oai_magic.practice import Scripted
from oai_magic.state import Secret, Settings

from .conftest import TEST_KEY, run

CHAT = "/chat/completions"



def make_client(server, **settings) -> OpenAIClient:
    values = {"api_key": Secret(TEST_KEY), "base_url": server.base_url, **settings}
    return OpenAIClient(Settings(**values), sleep=lambda seconds: None)


def history(shell, name="default"):
    return [m.to_api() for m in session_of(shell).conversation(name).messages]


def chat_ok(shell, line, prompt):
    return run(shell, f"%%chat {line}\n{prompt}")


# --- 11. the quirks mode itself -------------------------------------------------------------


def test_quirks_mode_streams_tool_calls_repeating_the_name_and_id_in_every_chunk(llamacpp):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    stream = make_client(llamacpp).stream(CHAT, json_body={
        "model": "gpt-4o-mini", "stream": True, "tools": tools, "tool_choice": "auto",
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


def test_one_request_can_ask_for_a_quirks_mode_by_header(server):
    import requests

    body = {"model": "gpt-4o-mini", "n": 2, "messages": [{"role": "user", "content": "hi"}]}
    url = server.base_url + CHAT
    response = requests.post(url, json=body, headers={"x-practice-quirks": "llamacpp"}, timeout=10)
    assert response.status_code == 200 and len(response.json()["choices"]) == 1
    assert "openai-organization" not in response.headers
    response = requests.post(url, json=body, headers={"x-practice-quirks": "vintage"}, timeout=10)
    assert response.status_code == 400 and "llamacpp" in response.json()["error"]["message"]
    assert server.quirks is None  # the header changed nothing for the next request


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
        error = run(shell, '%%chat --tools get_weather --auto-tools\nWeather in "Oslo"?', expect=UsageError)
    finally:
        shell.user_ns.pop("fail_next", None)
    assert "Model is loading, try again" in str(error)
    recorded = history(shell)
    assert [m["role"] for m in recorded] == ["user", "assistant", "tool"]
    assert recorded[1]["content"] == "" and recorded[2]["content"] == "sunny"
    assert not any(m.partial for m in session_of(shell).conversation("default").messages)
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
    assert len(llamacpp.requests) == 1  # a 500 that is a validation error is not retried


def test_one_line_keeps_short_messages_and_cuts_long_ones_with_an_ellipsis():
    assert errors.one_line("a\n  b\tc") == "a b c"
    cut = errors.one_line("word " * 200)
    assert len(cut) <= 300 and cut.endswith("…")


def test_a_detail_error_reads_as_the_servers_message_in_a_cell(shell, llamacpp):
    error = run(shell, "%%chat\n[[tokens=2000000]] hi", expect=UsageError)
    assert "[[tokens=N]] allows at most" in str(error)
    assert "not an API error body" not in str(error)


def test_a_missing_model_list_is_a_not_found_error(server):
    server.quirks = "faster-whisper"
    with pytest.raises(NotFoundError):
        make_client(server).list_models()


# --- 5. servers that ignore options ------------------------------------------------------------


def test_a_400_naming_max_tokens_is_repeated_with_the_other_name_and_remembered(
        shell, server, capsys):
    assert run(shell, '%config OAIMagics.max_tokens_param = "max_tokens"').success
    chat_ok(shell, "-m o4-mini --max-tokens 5 -o r", "hi")  # o-models refuse max_tokens
    first, second = [r.json for r in server.requests]
    assert first["max_tokens"] == 5 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 5 and "max_tokens" not in second
    r = shell.user_ns["r"]
    assert r.finish_reason == "length" and r.text
    assert any("refused max_tokens" in n and "max_completion_tokens" in n for n in r.notices)
    assert "refused max_tokens" in capsys.readouterr().out
    chat_ok(shell, "-m o4-mini --max-tokens 5", "again")
    assert len(server.requests) == 3 and server.requests[-1].json["max_completion_tokens"] == 5
    run(shell, "%oai")
    assert "max_completion_tokens (this server refused max_tokens)" in capsys.readouterr().out


def test_a_server_that_refuses_max_completion_tokens_gets_max_tokens(shell, server):
    refusal = {"object": "error", "type": "BadRequestError", "code": 400, "message":
               "Unrecognized request argument supplied: max_completion_tokens"}
    server.script(CHAT, Scripted(400, body=json.dumps(refusal).encode()))
    chat_ok(shell, "--max-tokens 3 -o r", "hi")
    assert server.requests[-1].json["max_tokens"] == 3
    assert shell.user_ns["r"].text


def test_an_answer_running_far_past_an_ignored_limit_is_cut_kept_and_explained(
        shell, llamacpp, capsys):
    chat_ok(shell, "--max-tokens 10 -o r", "[[tokens=3000]] write a lot")
    r = shell.user_ns["r"]
    assert r.ignored_limit == 10 and 80 < len(r.text) < 200
    out = capsys.readouterr().out
    assert "the server ignored --max-tokens 10" in out
    assert 'OAIMagics.max_tokens_param = "max_tokens"' in out
    assert history(shell)[-1]["content"] == r.text
    assert "max_completion_tokens" in llamacpp.requests[-1].json


def test_an_ignored_limit_cuts_at_the_same_event_when_the_whole_answer_is_one_read(shell, server):
    # One write of 2,000 small events: one network read holds them all and they are decoded
    # as one run (api.coalesce); the cut must still land after the event that ran past twice
    # --max-tokens (10 tokens: 80 characters), as when each event arrives alone.
    def event(text):
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    body = b"".join(b"data: " + json.dumps(event(f"w{i:03} ")).encode() + b"\n\n"
                    for i in range(2000))
    server.script(CHAT, Scripted(chunks=[body + b"data: [DONE]\n\n"]))
    chat_ok(shell, "--max-tokens 10 -o r", "write a lot")
    r = shell.user_ns["r"]
    assert r.ignored_limit == 10
    assert r.text == "".join(f"w{i:03} " for i in range(17))  # 85 characters: the 17th passed 80


def test_fewer_choices_than_asked_are_named_and_pick_says_how_many(shell, llamacpp, capsys):
    chat_ok(shell, "-N 3 -o r", "hi")
    r = shell.user_ns["r"]
    assert len(r.choices) == 1
    assert "The server returned 1 of 3 choices; it may not support n." in r.notices
    out = capsys.readouterr().out
    assert "returned 1 of 3 choices" in out and "Choice 2" not in out
    error = run(shell, "%chat pick 2", expect=UsageError)
    assert "has 1 choice" in str(error)


def test_a_stream_without_usage_says_usage_not_reported(shell, llamacpp, capsys):
    chat_ok(shell, "-o r", "hi")
    assert shell.user_ns["r"].usage is None
    assert "usage not reported" in capsys.readouterr().out


# --- 6. an empty stream ------------------------------------------------------------------------


def test_an_empty_stream_is_repeated_without_streaming_to_get_the_real_error(shell, llamacpp):
    error = run(shell, "%%chat\n" + "word " * 3000, expect=UsageError)
    text = str(error)
    assert "exceed context window of 2048" in text and "repeated without streaming" in text
    assert "the prompt alone is over the server's context window" in text  # no history went
    assert "%oai context N" not in text
    streamed, whole = [r.json for r in llamacpp.requests]
    assert streamed["stream"] is True and "stream" not in whole
    assert history(shell) == []


def test_an_empty_stream_then_a_whole_answer_shows_the_answer_and_says_so(shell, server, capsys):
    server.script(CHAT, Scripted(chunks=[]))
    chat_ok(shell, "-o r", "[[echo]] hello there")
    r = shell.user_ns["r"]
    assert r.text == "hello there" and not r.partial
    assert any("repeated without streaming" in n for n in r.notices)
    out = capsys.readouterr().out
    assert "hello there" in out and "repeated without streaming" in out


# --- 7. context windows -------------------------------------------------------------------------


def test_the_context_window_trims_history_so_the_request_fits(shell, llamacpp, capsys):
    long_prompt = "[[echo]] " + "word " * 600  # about 750 tokens, echoed back
    chat_ok(shell, "", long_prompt)
    run(shell, "%%chat\n" + long_prompt, expect=UsageError)  # 2,250 tokens: past llama.cpp's 2,048
    assert run(shell, "%oai context 2048").success
    chat_ok(shell, "-o r", long_prompt)
    assert any("History trimmed" in n for n in shell.user_ns["r"].notices)
    assert [m["role"] for m in llamacpp.requests[-1].json["messages"]] == ["user"]
    run(shell, "%oai")
    assert "2,048 tokens" in capsys.readouterr().out


@pytest.mark.parametrize("line", ["%oai context lots", "%oai context 10", "%oai context"])
def test_a_bad_context_size_is_one_line_and_changes_nothing(shell, line):
    magics = shell.magics_manager.registry["OAIMagics"]
    error = run(shell, line, expect=UsageError)
    assert "usage: %oai context" in str(error)
    assert magics.context_tokens is None


# --- 9. small things ------------------------------------------------------------------------------


def test_without_streaming_the_footer_says_time_not_first_token(shell, server, capsys):
    chat_ok(shell, "--no-stream", "hi")
    footer = [line for line in capsys.readouterr().out.splitlines() if line.startswith("— ")][-1]
    assert " time " in footer and "first token" not in footer and "total" not in footer


def test_billed_to_only_when_the_server_says_so_else_the_org_is_requested(shell, server, capsys):
    chat_ok(shell, "--org org-asked", "hi")
    assert "billed to org-asked" in capsys.readouterr().out  # the practice server confirms it
    server.quirks = "llamacpp"  # sends no openai-organization header
    chat_ok(shell, "--org org-asked", "hi")
    out = capsys.readouterr().out
    assert "org org-asked (requested)" in out and "billed to" not in out


# --- 10. local servers need no key -------------------------------------------------------------


def test_a_local_server_is_used_without_a_key_and_that_is_said_once(shell, llamacpp, capsys):
    session_of(shell).settings.api_key = None
    chat_ok(shell, "-o r", "[[echo]] no key needed")
    assert shell.user_ns["r"].text == "no key needed"
    assert "authorization" not in llamacpp.requests[-1].headers
    assert "No API key is set" in capsys.readouterr().out
    chat_ok(shell, "", "[[echo]] again")
    assert "No API key is set" not in capsys.readouterr().out


# --- 8. transcription on other servers ---------------------------------------------------------

HELLO = str(__import__("pathlib").Path(__file__).resolve().parent / "fixtures" / "hello.wav")


@pytest.fixture
def whisper_server(server):
    """The practice server playing faster-whisper-server for this test."""
    server.quirks = "faster-whisper"
    return server


def test_translate_leaves_other_servers_model_names_to_the_server(shell, whisper_server):
    assert run(shell, f"%transcribe --translate -m whisper-base {HELLO} -o t").success
    request = whisper_server.requests[-1]
    assert request.path.endswith("/audio/translations")
    assert dict((p.name, p.value) for p in request.form if p.filename is None)["model"] == "whisper-base"
    assert shell.user_ns["t"].task == "translate" and shell.user_ns["t"].text


def test_a_format_the_server_refuses_reads_as_its_own_message(shell, whisper_server, capsys):
    error = run(shell, f"%transcribe -m Systran/faster-whisper-small -f text {HELLO}", expect=UsageError)
    assert "Unsupported response_format: text" in str(error)
    assert "not an API error body" not in str(error)


def test_missing_word_timestamps_are_named(shell, whisper_server, capsys):
    line = f"%transcribe -m whisper-base -f verbose_json --timestamps word {HELLO} -o t"
    assert run(shell, line).success
    assert shell.user_ns["t"].words == [] and shell.user_ns["t"].segments
    assert "No word timestamps came back" in capsys.readouterr().out


def test_oai_models_on_a_server_without_a_model_list_says_so_and_the_session_goes_on(
        shell, whisper_server, capsys):
    result = run(shell, "%oai models")
    assert result.success
    assert "This server does not list models" in capsys.readouterr().out
    assert run(shell, f"%transcribe -m whisper-base {HELLO}").success


def test_the_panel_says_when_the_server_does_not_list_models(shell, whisper_server):
    from oai_magic.ui.panel.panel import ChatPanel

    p = ChatPanel(state=session_of(shell), client=shell.magics_manager.registry["OAIMagics"].client)
    try:
        defaults = p.model.options
        p.refresh_models_button.click()
        p.wait(10)
        assert "does not list models" in p.models_note.value
        assert p.model.options == defaults
    finally:
        p.stop()
        p.wait(10)
        p.close()


def test_transcription_on_a_local_server_needs_no_key_and_says_so_once(shell, whisper_server, capsys):
    session_of(shell).settings.api_key = None
    assert run(shell, f"%transcribe -m whisper-base {HELLO}").success
    assert "authorization" not in whisper_server.requests[-1].headers
    assert "No API key is set" in capsys.readouterr().out
    assert run(shell, f"%transcribe -m whisper-base {HELLO}").success
    assert "No API key is set" not in capsys.readouterr().out
    run(shell, "%oai")
    assert "none needed" in capsys.readouterr().out


# --- in a notebook ---------------------------------------------------------------------------


def test_in_a_notebook_the_llamacpp_tool_round_ends_with_the_answer_and_the_limit_mark(
        shell, llamacpp, weather, monkeypatch):
    from tests.recording import RecordingPublisher

    magics = shell.magics_manager.registry["OAIMagics"]
    publisher = RecordingPublisher(shell=shell)
    monkeypatch.setattr(shell, "display_pub", publisher)
    monkeypatch.setattr(magics, "display_mode", "rich")
    chat_ok(shell, "--tools get_weather --auto-tools", 'Weather in "Oslo"?')
    html = publisher.messages[-1]["data"]["text/html"]
    assert "get_weather" in html and "no tool named" not in html
    assert "&quot;temperature&quot;: 21" in html and "usage not reported" in html
    chat_ok(shell, "--max-tokens 10", "[[tokens=3000]] go on")
    html = publisher.messages[-1]["data"]["text/html"]
    assert "the server ignored --max-tokens 10" in html and "usage not reported" in html
