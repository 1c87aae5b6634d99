"""Servers people run, part two (issue 32): what real models on llama-cpp-python, llama-server
and Whisper servers showed, played by the practice server's quirks modes over a real socket."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from oai_magic.api.client import OpenAIClient
from oai_magic.errors import APIError, CellStopped, InternalServerError, NotFoundError
from oai_magic.practice import PracticeServer, Scripted
from oai_magic.state import Secret, Settings, get_state

from .conftest import TEST_KEY, run
from .interrupts import real_sigint

CHAT = "/chat/completions"
HELLO = str(Path(__file__).resolve().parent / "fixtures" / "hello.wav")
CITY = '''
from dataclasses import dataclass

@dataclass
class City:
    name: str
    people: int
'''


@pytest.fixture
def city(shell):
    assert run(shell, CITY).success
    yield
    shell.user_ns.pop("City", None)


@pytest.fixture
def speech_server():
    """A second server, for speech only (the chat server is the ``server`` fixture)."""
    with PracticeServer(quirks="speech-only") as speech:
        yield speech


def make_client(server, **settings) -> OpenAIClient:
    values = {"api_key": Secret(TEST_KEY), "base_url": server.base_url, **settings}
    return OpenAIClient(Settings(**values), sleep=lambda seconds: None)


def history(shell, name="default"):
    return [m.to_api() for m in get_state(shell).conversation(name).messages]


def chat_ok(shell, line, prompt):
    return run(shell, f"%%chat {line}\n{prompt}")


def post(server, body, **headers):
    import requests

    return requests.post(server.base_url + CHAT, json=body, headers=headers, timeout=10)


# --- the quirks modes play what was measured -------------------------------------------------


def test_llamacpp_mode_ignores_tools_without_tool_choice_and_refuses_json_schema_with_a_500(
        llamacpp):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    hi = [{"role": "user", "content": "hi"}]
    answer = post(llamacpp, {"model": "gpt-4o-mini", "messages": hi, "tools": tools}).json()
    assert answer["choices"][0]["message"]["content"] and "tool_calls" not in answer["choices"][0][
        "message"]
    answer = post(llamacpp, {"model": "gpt-4o-mini", "messages": hi, "tools": tools, "tool_choice": "auto"})
    assert answer.json()["choices"][0]["message"]["tool_calls"]
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    refused = post(llamacpp, {"model": "gpt-4o-mini", "messages": hi, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    assert refused.status_code == 500
    assert "validation error for CreateChatCompletionRequest" in refused.json()["error"]["message"]
    taken = post(llamacpp, {"model": "gpt-4o-mini", "messages": hi,
                            "response_format": {"type": "json_object", "schema": schema}})
    assert json.loads(taken.json()["choices"][0]["message"]["content"]) == {"n": 1}


def test_llamacpp_mode_ignores_max_tokens_without_streaming(llamacpp):
    body = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "[[tokens=80]]"}]}
    assert post(llamacpp, body).json()["usage"]["completion_tokens"] == 80


def test_speech_only_mode_serves_one_model_and_has_no_other_endpoint(speech_server):
    client = make_client(speech_server)
    with open(HELLO, "rb") as audio:
        files = [("file", ("hello.wav", audio.read(), "audio/wav"))]
    data = client.post("/audio/transcriptions", data=[("model", "large-v3")], files=files).data
    assert data["model"] == "whisper-base" and data["text"]
    for path in ("/audio/translations", CHAT, "/models"):
        with pytest.raises(NotFoundError):
            client.post(path, data=[("model", "x")], files=files)


# --- 1. tools reach the model ----------------------------------------------------------------


def test_offered_tools_go_with_tool_choice_auto_so_llamacpp_calls_them(shell, llamacpp, weather):
    chat_ok(shell, "--tools get_weather --auto-tools -o r", 'Weather in "Oslo"?')
    r = shell.user_ns["r"]
    assert llamacpp.requests[0].json["tool_choice"] == "auto"
    assert [(o.name, o.status) for o in r.tool_results] == [("get_weather", "ok")]
    assert '"temperature": 21' in r.text
    chat_ok(shell, "--tools get_weather --tool-choice none --auto-tools", "And in Rome?")
    assert llamacpp.requests[-1].json["tool_choice"] == "none"  # the user's choice stands


# --- 2. --schema on a server that refuses json_schema ----------------------------------------


def test_a_refused_json_schema_is_sent_once_as_json_object_parsed_and_remembered(
        shell, llamacpp, city, capsys):
    chat_ok(shell, "--schema City -o r", "The biggest city?")
    r = shell.user_ns["r"]
    assert type(r.parsed).__name__ == "City" and isinstance(r.parsed.people, int)
    refused, taken = [q.json for q in llamacpp.requests]  # the 500 was not retried
    schema = refused["response_format"]["json_schema"]["schema"]
    assert taken["response_format"] == {"type": "json_object", "schema": schema}
    assert any("refused response_format json_schema" in n for n in r.notices)
    assert "sent again as json_object" in capsys.readouterr().out
    chat_ok(shell, "--schema City -o r", "And the second?")
    assert len(llamacpp.requests) == 3
    assert llamacpp.requests[-1].json["response_format"]["type"] == "json_object"
    assert not any("refused" in n for n in shell.user_ns["r"].notices)
    run(shell, "%oai")
    assert "json_object with the schema (this server refused json_schema)" in capsys.readouterr().out


def test_map_with_a_schema_falls_back_once_for_the_whole_job(shell, llamacpp, city, capsys):
    shell.user_ns["xs"] = ["Paris", "Rome", "Oslo"]
    assert run(shell, "%%chat --map xs --schema City --concurrency 3 -o out\nAbout {item}").success
    out = shell.user_ns["out"]
    assert out.failed == [] and all(type(item.parsed).__name__ == "City" for item in out)
    kinds = [q.json["response_format"]["type"] for q in llamacpp.requests]
    # Refused once per item at most (several may be in flight), each asked again as json_object.
    assert kinds.count("json_object") == 3 and 1 <= kinds.count("json_schema") <= 3
    assert capsys.readouterr().out.count("refused response_format json_schema") == 1
    assert llamacpp.base_url in get_state(shell).json_schema_refused


def test_a_500_whose_body_is_a_validation_error_is_not_retried_and_other_500s_are(server):
    dump = {"error": {"message": "1 validation error for CreateChatCompletionRequest\n"
                                 "response_format.type\n  Input should be 'text'"}}
    server.script("/models", Scripted(500, body=json.dumps(dump).encode()))
    with pytest.raises(InternalServerError):
        make_client(server).list_models()
    assert len(server.requests) == 1
    server.requests.clear()
    busy = json.dumps({"error": {"message": "busy"}}).encode()
    server.script("/models", *[Scripted(500, body=busy) for _ in range(3)])
    with pytest.raises(InternalServerError):
        make_client(server).list_models()
    assert len(server.requests) == 3


# --- 3. --max-tokens the server ignored -------------------------------------------------------


def test_without_streaming_a_max_tokens_the_server_ran_past_is_said_from_its_usage(
        shell, llamacpp, magics, capsys):
    chat_ok(shell, "--no-stream --max-tokens 5 -o r", "[[tokens=282]] write a lot")
    r = shell.user_ns["r"]
    assert r.usage["completion_tokens"] == 282
    notice = ("The server returned 282 completion tokens for --max-tokens 5: it ignored the "
              'limit (sent as max_completion_tokens; %config OAIMagics.max_tokens_param = '
              '"max_tokens" may help).')
    assert notice in r.notices and notice in capsys.readouterr().out
    magics.max_tokens_param = "max_tokens"
    chat_ok(shell, "--no-stream --max-tokens 5 -o r", "[[tokens=282]] again")
    assert "(sent as max_tokens)." in shell.user_ns["r"].notices[-1]
    chat_ok(shell, "--no-stream --max-tokens 500 -o r", "[[tokens=282]] within the limit")
    assert not any("ignored the limit" in n for n in shell.user_ns["r"].notices)


def test_in_map_the_ignored_max_tokens_is_said_once_for_the_job(shell, llamacpp, capsys):
    shell.user_ns["xs"] = ["[[tokens=40]] a", "[[tokens=60]] b", "[[tokens=3]] c"]
    assert run(shell, "%%chat --map xs --max-tokens 5 -o out\n{item}").success
    out = capsys.readouterr().out
    assert out.count("ignored the limit") == 1
    assert "returned up to 60 completion tokens for --max-tokens 5 (2 of 3 answers)" in out


# --- 4. speech and chat on different servers -------------------------------------------------


def test_transcribe_goes_to_the_audio_base_url_and_chat_to_the_base_url(
        shell, server, speech_server, magics, capsys):
    assert run(shell, f"%oai base-url --audio {speech_server.base_url}").success
    assert f"audio base url: {speech_server.base_url}" in capsys.readouterr().out
    assert magics.audio_base_url == speech_server.base_url
    assert run(shell, f"%transcribe -m whisper-base {HELLO} -o t").success
    chat_ok(shell, "-o r", "[[echo]] still chatting")
    assert shell.user_ns["r"].text == "still chatting" and shell.user_ns["t"].text
    assert [q.path for q in speech_server.requests] == ["/v1/audio/transcriptions"]
    assert [q.path for q in server.requests] == ["/v1/chat/completions"]
    assert speech_server.requests[0].headers["authorization"] == f"Bearer {TEST_KEY}"
    run(shell, "%oai")
    status = capsys.readouterr().out
    assert "audio base URL" in status and speech_server.base_url in status
    assert run(shell, "%oai base-url --audio --clear").success
    assert magics.audio_base_url is None
    assert "audio base url: the base URL" in capsys.readouterr().out
    assert run(shell, f"%transcribe {HELLO}").success
    assert server.requests[-1].path == "/v1/audio/transcriptions"


def test_a_bad_audio_base_url_is_one_line_and_changes_nothing(shell, magics, capsys):
    error = run(shell, "%oai base-url --audio ftp://speech", expect=UsageError)
    assert "must start with http:// or https://" in str(error)
    assert magics.audio_base_url is None
    assert run(shell, "%oai base-url --audio http://10.0.0.5:8000/v1").success
    assert "http://10.0.0.5:8000/v1 is plain http to another machine" in capsys.readouterr().out
    magics.audio_base_url = None


def test_the_panel_dictates_through_the_audio_base_url(shell, speech_server, magics):
    from oai_magic.core.audio_sources import resolve_sources
    from oai_magic.ui.panel.panel import ChatPanel

    magics.audio_base_url = speech_server.base_url
    p = ChatPanel(state=get_state(shell), client=magics.client)
    try:
        p._transcribe(resolve_sources([HELLO], shell.user_ns)[0])
        assert "practice transcript" in p.input.value
        assert [q.path for q in speech_server.requests] == ["/v1/audio/transcriptions"]
    finally:
        p.close()
        magics.audio_base_url = None


# --- 5. smaller ------------------------------------------------------------------------------


def test_an_error_body_with_an_empty_message_is_the_servers_error(server):
    body = json.dumps({"error": {"message": ""}}).encode()
    server.script("/models", Scripted(500, body=body))
    with pytest.raises(InternalServerError) as caught:
        make_client(server, max_retries=0).list_models()
    assert str(caught.value).startswith("HTTP 500: (the server's error message is empty)")
    server.script(CHAT, Scripted(chunks=[b'data: {"error": {"message": ""}}\n\n']))
    stream = make_client(server).stream(CHAT, json_body={
        "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(APIError) as caught:
        list(stream)
    assert str(caught.value) == "(the server's error message is empty)"  # in a stream too


def test_an_answer_that_is_all_reasoning_gets_a_note_and_is_recorded_with_empty_text(
        shell, server, capsys):
    chat_ok(shell, "--reasoning-effort low --max-tokens 3 -o r", "hi")
    r = shell.user_ns["r"]
    assert r.reasoning and r.text == "" and r.finish_reason == "length"
    note = ("The answer is all reasoning and no text: the model spent its tokens thinking: a "
            "larger --max-tokens leaves room for it.")
    assert note in r.notices and note in capsys.readouterr().out
    chat_ok(shell, "", "[[echo]] next")
    assert server.requests[-1].json["messages"][1] == {"role": "assistant", "content": ""}


def test_with_several_choices_the_plain_text_form_keeps_the_thought_line(shell, server, notebook):
    chat_ok(shell, "-N 2 --reasoning-effort low", "hi")
    plain = notebook.messages[-1]["data"]["text/plain"]
    assert plain.count("[Thought: ") == 2


def test_the_context_hint_fits_what_was_sent(shell, llamacpp):
    error = run(shell, "%%chat --no-stream\n" + "word " * 3000, expect=UsageError)
    assert "the prompt alone is over the server's context window" in str(error)
    assert "%oai context" not in str(error)
    long_prompt = "[[echo]] " + "word " * 600
    chat_ok(shell, "", long_prompt)
    error = run(shell, "%%chat\n" + long_prompt, expect=UsageError)  # fits alone, not with history
    assert "%oai context N tells oai_magic" in str(error) and "prompt alone" not in str(error)


class InterruptingPacer:
    """Paces as usual; on the first answer it presses Ctrl-C and holds that answer until the
    cell has ended, so it lands after the stop (as one did against llama-cpp-python)."""

    def __init__(self, pacer, held: threading.Event) -> None:
        self.pacer, self.held, self.pressed = pacer, held, False

    def __getattr__(self, name):
        return getattr(self.pacer, name)

    def observe(self, headers) -> None:
        if not self.pressed:
            self.pressed = True
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            self.held.wait(10)
        self.pacer.observe(headers)


def test_ctrl_c_during_map_counts_what_resume_sends(shell, server, monkeypatch):
    from oai_magic.core import map_plan
    from oai_magic.core.pacer import Pacer

    held = threading.Event()
    pacers = iter([InterruptingPacer(Pacer(), held)])
    monkeypatch.setattr(map_plan, "Pacer", lambda **options: next(pacers, None) or Pacer(**options))
    shell.user_ns["xs"] = [f"[[echo]] {i}" for i in range(6)]
    before = set(threading.enumerate())
    try:
        with real_sigint(release=held.set):
            error = run(shell, "%%chat --map xs --concurrency 1 -o out\n{item}", expect=CellStopped)
    finally:
        held.set()
    # The worker stores the held answer (or turns it away), then closes its connection, which
    # ends the server's thread for it. (Its own join is no use: the Ctrl-C interrupted one.)
    for thread in set(threading.enumerate()) - before:
        if not thread.name.startswith("oai-"):
            thread.join(10)
    out = shell.user_ns["out"]
    left = len(out.todo())
    assert f"--resume sends the {left} left" in str(error)
    assert f"{out.done} of 6 answers kept" in str(error)
    server.requests.clear()
    assert run(shell, "%%chat --map xs -o out --resume\n{item}").success
    assert len(server.requests) == left


def test_the_round_past_the_limit_is_not_recorded_so_the_model_never_reads_it(
        shell, server, weather, magics, monkeypatch, capsys):
    monkeypatch.setattr(magics, "max_tool_rounds", 1)
    chat_ok(shell, "--tools get_weather --auto-tools -o r", '[[tool-rounds=3]] Weather in "Oslo"?')
    r = shell.user_ns["r"]
    assert [o.status for o in r.tool_results] == ["ok", "skipped"]
    assert "stopped after 1 tool round" in capsys.readouterr().out
    assert [m["role"] for m in history(shell)] == ["user", "assistant", "tool"]
    chat_ok(shell, "", "[[echo]] and now?")
    sent = server.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert not any("Not run" in str(m.get("content")) for m in sent)


def test_translate_on_a_server_without_the_endpoint_names_it(shell, speech_server):
    get_state(shell).settings.base_url = speech_server.base_url
    error = run(shell, f"%transcribe --translate -m whisper-base {HELLO}", expect=UsageError)
    assert "HTTP 404" in str(error)
    assert (f"the server at {speech_server.base_url} has no /audio/translations endpoint, which "
            "--translate needs") in str(error)


def test_the_footer_names_the_served_model_or_marks_the_requested_one(
        shell, server, speech_server, magics, capsys):
    magics.audio_base_url = speech_server.base_url
    try:
        assert run(shell, f"%transcribe -m large-v3 {HELLO}").success
        assert "whisper-base (asked for large-v3)" in capsys.readouterr().out
    finally:
        magics.audio_base_url = None
    server.quirks = "faster-whisper"  # names no model
    assert run(shell, f"%transcribe -m large-v3 {HELLO}").success
    assert "large-v3 (requested)" in capsys.readouterr().out
    server.quirks = None  # OpenAI's API (played) honours the name
    assert run(shell, f"%transcribe -m whisper-1 {HELLO}").success
    out = capsys.readouterr().out
    assert "whisper-1" in out and "(requested)" not in out
