"""The HTTP client against a real server: headers, retries, errors, SSE framing, truncation."""

from __future__ import annotations

import json

import pytest

from oai_magic.api.accumulator import ChatAccumulator
from oai_magic.api.client import OpenAIClient, retry_delay
from oai_magic.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    MissingKeyError,
)
from oai_magic.practice import Scripted, error_body, sse_event
from oai_magic.state import Secret, Settings

from .conftest import TEST_KEY

CHAT = "/chat/completions"


def make_client(server, **settings) -> OpenAIClient:
    values = {"api_key": Secret(TEST_KEY), "base_url": server.base_url, **settings}
    return OpenAIClient(Settings(**values), sleep=lambda seconds: None)


def chunk(content=None, finish=None, index=0, **delta):
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-test",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def stream_text(client, body=None):
    """Stream a chat completion and fold it; returns (accumulator, stream)."""
    stream = client.stream(CHAT, json_body=body or {"model": "gpt-4o-mini", "messages": [], "stream": True})
    accumulator = ChatAccumulator()
    for event in stream:
        accumulator.add(event)
    return accumulator, stream


# --- headers -----------------------------------------------------------------------------


def test_headers_carry_bearer_key_user_agent_and_no_org_by_default(server):
    make_client(server).list_models()
    headers = server.requests[-1].headers
    assert headers["authorization"] == f"Bearer {TEST_KEY}"
    assert headers["user-agent"].startswith("oai-magic/")
    assert "openai-organization" not in headers
    assert "openai-project" not in headers


def test_organization_and_project_headers_follow_settings_mid_session(server):
    client = make_client(server, organization="org-one", project="proj_one")
    client.list_models()
    client.settings.organization = "org-two"
    client.settings.project = None
    client.list_models()
    first, second = server.requests[-2].headers, server.requests[-1].headers
    assert (first["openai-organization"], first["openai-project"]) == ("org-one", "proj_one")
    assert second["openai-organization"] == "org-two"
    assert "openai-project" not in second


def test_environment_supplies_key_org_project_and_base_url(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-abcdefgh1234")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/")
    OpenAIClient(Settings()).list_models()
    headers = server.requests[-1].headers
    assert headers["authorization"] == "Bearer sk-env-key-abcdefgh1234"
    assert headers["openai-organization"] == "org-env"
    assert headers["openai-project"] == "proj_env"


def test_session_value_beats_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    make_client(server, organization="org-session").list_models()
    assert server.requests[-1].headers["openai-organization"] == "org-session"


def test_missing_key_for_openai_is_a_clear_error_and_sends_nothing(server):
    client = OpenAIClient(Settings())  # api.openai.com: the error comes before any connection
    with pytest.raises(MissingKeyError, match="%oai key"):
        client.list_models()


def test_debug_headers_are_kept_on_results(server):
    response = make_client(server).list_models()
    assert response.request_id.startswith("req_")
    assert "x-ratelimit-remaining-requests" in response.headers
    assert response.headers["openai-version"]


# --- retries -----------------------------------------------------------------------------


def test_429_with_retry_after_ms_is_retried_after_that_delay(server):
    waits = []
    client = make_client(server)
    client._sleep = waits.append
    server.script(
        "/models",
        Scripted(429, {"retry-after-ms": "1500"}, error_body("slow down", "requests", "rate_limit")),
    )
    response = client.list_models()
    assert response.status_code == 200
    assert waits == [1.5]
    assert len(server.requests) == 2


def test_500_then_success_is_retried_with_backoff(server):
    waits = []
    client = make_client(server)
    client._sleep = waits.append
    server.script("/models", Scripted(500, {}, error_body("boom", "server_error")))
    assert client.list_models().status_code == 200
    assert len(waits) == 1 and 0.375 <= waits[0] <= 0.5


def test_400_is_not_retried_and_carries_message_type_code_and_request_id(server):
    server.script(
        "/models",
        Scripted(400, {"x-request-id": "req_bad"}, error_body("bad thing", code="bad_code")),
    )
    with pytest.raises(BadRequestError) as caught:
        make_client(server).list_models()
    error = caught.value
    assert (error.status_code, error.message, error.code) == (400, "bad thing", "bad_code")
    assert error.type == "invalid_request_error"
    assert error.request_id == "req_bad"
    assert len(server.requests) == 1


def test_retries_stop_after_max_retries_with_the_last_error(server):
    failures = [Scripted(503, {}, error_body("down", "server_error")) for _ in range(3)]
    server.script("/models", *failures)
    with pytest.raises(InternalServerError, match="down"):
        make_client(server, max_retries=2).list_models()
    assert len(server.requests) == 3


def test_x_should_retry_false_stops_a_retry(server):
    server.script("/models", Scripted(500, {"x-should-retry": "false"}, error_body("no", "e")))
    with pytest.raises(InternalServerError):
        make_client(server).list_models()
    assert len(server.requests) == 1


def test_retry_delay_reads_retry_after_seconds_and_dates_and_refuses_more_than_max_wait():
    from oai_magic.api.limits import WaitTooLong

    assert retry_delay({"retry-after": "2"}, 0) == 2.0
    with pytest.raises(WaitTooLong, match="max_wait_s = 60 s"):
        retry_delay({"retry-after": "600"}, 0)
    assert retry_delay({"retry-after": "600"}, 0, max_wait_s=900) == 600.0
    assert 0 <= retry_delay({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0) <= 0.001
    assert retry_delay({}, 5, rand=lambda: 0.0) == 8.0
    assert retry_delay({}, 1, rand=lambda: 1.0) == 0.75


def test_connection_refused_is_retried_then_reported_in_one_line():
    waits = []
    client = OpenAIClient(
        Settings(api_key=Secret(TEST_KEY), base_url="http://127.0.0.1:9/v1"), sleep=waits.append
    )
    with pytest.raises(APIConnectionError) as caught:
        client.list_models()
    assert len(waits) == 2
    assert "127.0.0.1:9" in str(caught.value) and "\n" not in str(caught.value)


def test_authentication_error_never_echoes_the_key(server):
    server.script("/models", Scripted(401, {}, error_body("Incorrect API key", code="invalid_api_key")))
    with pytest.raises(AuthenticationError) as caught:
        make_client(server).list_models()
    assert TEST_KEY not in str(caught.value) and TEST_KEY not in repr(caught.value)


def test_html_error_page_becomes_a_short_readable_message(server):
    page = b"<html><body><h1>502 Bad Gateway</h1><script>x()</script></body></html>"
    server.script("/models", Scripted(502, {"content-type": "text/html"}, page))
    with pytest.raises(InternalServerError) as caught:
        make_client(server, max_retries=0).list_models()
    text = str(caught.value)
    assert "502" in text and "Bad Gateway" in text and "text/html" in text
    assert "<" not in text


# --- streaming ---------------------------------------------------------------------------


def events(*items) -> list:
    return [sse_event(item) for item in items]


def test_stream_accumulates_content_and_keeps_the_usage_chunk(server):
    usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    server.script(
        CHAT,
        Scripted(chunks=events(chunk("", role="assistant"), chunk("Hel"), chunk("lo", "stop"), usage, "[DONE]")),
    )
    accumulator, stream = stream_text(make_client(server))
    assert accumulator.choice(0).content == "Hello"
    assert accumulator.choice(0).finish_reason == "stop"
    assert accumulator.usage == {"prompt_tokens": 3, "completion_tokens": 2}
    assert stream.done


def test_stream_request_asks_for_usage(server):
    client = make_client(server)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    stream_text(client, body)
    assert server.requests[-1].headers["accept"] == "text/event-stream"


def test_crlf_line_ends_and_comment_lines_are_understood(server):
    raw = (
        b": keep-alive comment\r\n\r\n"
        + json_event(chunk("a")).replace(b"\n", b"\r\n")
        + b":another comment\r\n"
        + json_event(chunk("b", "stop")).replace(b"\n", b"\r\n")
        + b"data: [DONE]\r\n\r\n"
    )
    server.script(CHAT, Scripted(chunks=[raw[:7], raw[7:50], raw[50:]]))
    accumulator, stream = stream_text(make_client(server))
    assert accumulator.choice(0).content == "ab"
    assert stream.done


def json_event(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_utf8_character_split_across_http_chunks_is_decoded_whole(server):
    data = json.dumps(chunk("héllo → 世界"), ensure_ascii=False).encode()
    raw = b"data: " + data + b"\n\n" + json_event(chunk("", "stop")) + b"data: [DONE]\n\n"
    cut = raw.index("世".encode()) + 1  # inside the three-byte character
    server.script(CHAT, Scripted(chunks=[raw[:cut], raw[cut:]]))
    accumulator, _ = stream_text(make_client(server))
    assert accumulator.choice(0).content == "héllo → 世界"


def test_close_delimited_stream_delivers_tokens_before_the_socket_closes(server):
    import threading

    gate = threading.Event()
    pieces = events(chunk("first"), chunk(" second", "stop"), "[DONE]")
    server.script(CHAT, Scripted(chunks=pieces, close_delimited=True, gate=gate, gate_before=1))
    stream = make_client(server).stream(CHAT, json_body={"model": "gpt-4o-mini", "messages": []})
    iterator = iter(stream)
    first = next(iterator)  # arrives although the server holds the rest until the gate opens
    assert first["choices"][0]["delta"]["content"] == "first"
    gate.set()
    rest = list(iterator)
    assert rest[0]["choices"][0]["delta"]["content"] == " second"
    assert stream.done


def test_chunked_stream_delivers_each_event_as_its_chunk_arrives(server):
    import threading

    gate = threading.Event()
    pieces = events(chunk("first"), chunk(" second", "stop"), "[DONE]")
    server.script(CHAT, Scripted(chunks=pieces, gate=gate, gate_before=1))
    iterator = iter(make_client(server).stream(CHAT, json_body={"model": "gpt-4o-mini", "messages": []}))
    assert next(iterator)["choices"][0]["delta"]["content"] == "first"  # the rest is still held back
    gate.set()
    assert [e["choices"][0]["delta"]["content"] for e in iterator] == [" second"]


def test_missing_done_and_finish_reason_is_detected(server):
    server.script(CHAT, Scripted(chunks=events(chunk("half an ans"))))
    accumulator, stream = stream_text(make_client(server))
    assert not stream.done and not accumulator.complete()
    assert accumulator.choice(0).content == "half an ans"


def test_error_event_in_stream_raises_with_the_server_message(server):
    error = {"error": {"message": "overloaded mid-way", "type": "server_error", "code": None}}
    server.script(CHAT, Scripted(chunks=events(chunk("par"), error)))
    with pytest.raises(APIError, match="overloaded mid-way"):
        stream_text(make_client(server))


def test_mid_stream_disconnect_raises_connection_error(server):
    server.script(CHAT, Scripted(chunks=events(chunk("abc"), chunk("def"), chunk("ghi")), abort_after=2))
    client = make_client(server)
    stream = client.stream(CHAT, json_body={"model": "gpt-4o-mini", "messages": []})
    seen = []
    with pytest.raises(APIConnectionError, match="broke"):
        for event in stream:
            seen.append(event["choices"][0]["delta"]["content"])
    assert "".join(seen) == "abcdef"  # one event or two: a read's text deltas are joined


def test_streams_are_not_retried_once_started(server):
    server.script(CHAT, Scripted(chunks=events(chunk("abc")), abort_after=1))
    with pytest.raises(APIConnectionError):
        stream_text(make_client(server))
    assert len(server.requests) == 1


def test_non_streamed_completion(server):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[[echo]] hi there"}]}
    response = make_client(server).post(CHAT, json_body=body)
    accumulator = ChatAccumulator()
    accumulator.add(response.data)
    assert accumulator.choice(0).content == "hi there"
    assert accumulator.usage["completion_tokens"] > 0


def test_tool_call_fragments_and_refusals_accumulate_by_index():
    accumulator = ChatAccumulator()
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_", "arguments": ""}}
    accumulator.add(chunk(tool_calls=[call]))
    accumulator.add(chunk(tool_calls=[{"index": 0, "function": {"name": "weather", "arguments": '{"ci'}}]))
    accumulator.add(chunk(tool_calls=[{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]))
    accumulator.add(chunk(refusal="I can't", index=1))
    accumulator.add(chunk(None, "tool_calls"))
    calls = accumulator.choice(0).tool_call_list()
    assert calls == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    ]
    assert accumulator.choice(1).refusal == "I can't"
