"""The practice server, spoken to over real sockets with the standard library only."""

from __future__ import annotations

import http.client
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import wave

import pytest

from oai_magic.practice import PracticeServer, Scripted, error_body, sse_event

from .interrupts import SIGINT_WAIT_S, default_sigint_in_child

KEY = "sk-practice-test-0123456789"


@pytest.fixture
def fresh(practice):
    """The shared server with no recorded requests, no scripts, no pacing."""
    practice.requests.clear()
    practice.token_delay = 0.0
    yield practice
    practice._scripts.clear()


def call(server, method, path, body=None, headers=None, key=KEY):
    """One request with http.client: (status, lowercased headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    sent = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def chat(server, **body):
    body.setdefault("model", "gpt-4o-mini")
    return call(server, "POST", "/v1/chat/completions", body)


def user(text):
    return [{"role": "user", "content": text}]


def raw_send(server, method, path, body=b"", headers=None):
    """Send a request on a raw socket (Connection: close) and return the socket."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {KEY}",
            f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def read_to_eof(sock, data=b""):
    while True:
        more = sock.recv(65536)
        if not more:
            sock.close()
            return data
        data += more


def split_head(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def dechunk(body):
    """HTTP chunks of a chunked body, and whether the terminating 0-chunk arrived."""
    chunks, pos = [], 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return chunks, False
        size = int(body[pos:eol], 16)
        if size == 0:
            return chunks, body[eol:] == b"\r\n\r\n"
        chunk = body[eol + 2:eol + 2 + size]
        if len(chunk) < size or body[eol + 2 + size:eol + 4 + size] != b"\r\n":
            return chunks, False
        chunks.append(chunk)
        pos = eol + 4 + size


def streamed_chat(server, **body):
    """Stream a chat over a raw socket: (headers, HTTP chunks, decoded events, terminated?)."""
    body = {"model": "gpt-4o-mini", "stream": True, **body}
    raw = read_to_eof(raw_send(server, "POST", "/v1/chat/completions", json.dumps(body).encode(),
                               {"Content-Type": "application/json"}))
    status, headers, payload = split_head(raw)
    assert status == 200, payload
    chunks, terminated = dechunk(payload)
    events = [chunk[len(b"data: "):-2].decode() for chunk in chunks]
    return headers, chunks, events, terminated


def contents(events, index=0):
    pieces = []
    for event in events:
        if event == "[DONE]":
            continue
        for choice in json.loads(event)["choices"]:
            delta = choice["delta"]
            if choice["index"] == index and "content" in delta and "role" not in delta:
                pieces.append(choice["delta"]["content"])
    return pieces


# ---------------------------------------------------------------- models, auth, headers


def test_models_list_names_every_practice_model(fresh):
    status, headers, body = call(fresh, "GET", "/v1/models")
    listing = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert listing["object"] == "list"
    assert {m["id"] for m in listing["data"]} == {
        "gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "whisper-1",
        "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize", "practice-1"}
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in listing["data"])
    status, _, body = call(fresh, "GET", "/v1/models/practice-1")
    assert status == 200 and json.loads(body)["id"] == "practice-1"


def test_a_request_without_a_key_is_answered_unless_the_server_was_given_one(fresh):
    """Issue 31.5: the README says the practice server needs no key; only --key asks for one."""
    assert call(fresh, "GET", "/v1/models", key=None)[0] == 200
    with PracticeServer(api_key=KEY) as server:
        status, headers, body = call(server, "GET", "/v1/models", key=None)
    error = json.loads(body)["error"]
    assert status == 401 and headers["x-request-id"].startswith("req_")
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key" and "API key" in error["message"]


def test_wrong_key_is_refused_without_repeating_it_and_the_right_key_works():
    wrong = "sk-wrong-key-ABCDEFGHIJ"
    with PracticeServer(api_key=KEY) as server:
        status, _, body = call(server, "GET", "/v1/models", key=wrong)
        assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
        assert wrong.encode() not in body and b"ABCDEFGHIJ" not in body and KEY.encode() not in body
        assert call(server, "GET", "/v1/models")[0] == 200
        assert KEY not in repr(server) and KEY not in repr(server.requests[-1])


def test_every_response_carries_openai_style_headers(fresh):
    org = {"OpenAI-Organization": "org-class", "OpenAI-Project": "proj_demo"}
    _, first, _ = call(fresh, "GET", "/v1/models", headers=org)
    _, second, _ = call(fresh, "GET", "/v1/nowhere")
    assert first["x-request-id"] != second["x-request-id"]
    assert first["openai-organization"] == "org-class" and first["openai-project"] == "proj_demo"
    assert second["openai-organization"] == "user-practice" and "openai-project" not in second
    assert first["openai-version"] == "2020-10-01" and first["openai-processing-ms"].isdigit()
    assert int(second["x-ratelimit-remaining-requests"]) == (
        int(first["x-ratelimit-remaining-requests"]) - 1)
    for name in ("limit-requests", "limit-tokens", "remaining-tokens", "reset-requests",
                 "reset-tokens"):
        assert first[f"x-ratelimit-{name}"]


def test_unknown_routes_are_404_and_wrong_methods_are_405(fresh):
    status, _, body = call(fresh, "POST", "/v1/responses", {"model": "gpt-4o"})
    assert status == 404 and "Invalid URL" in json.loads(body)["error"]["message"]
    status, _, body = call(fresh, "GET", "/v1/chat/completions")
    assert status == 405 and json.loads(body)["error"]["type"] == "invalid_request_error"
    status, _, body = chat(fresh, model="gpt-9", messages=user("hi"))
    assert status == 404 and json.loads(body)["error"]["code"] == "model_not_found"


# ---------------------------------------------------------------- chat


def test_streamed_chat_sends_one_sse_event_per_chunk_then_usage_then_done(fresh):
    headers, chunks, events, terminated = streamed_chat(
        fresh, messages=user("Hello"), stream_options={"include_usage": True})
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked" and terminated
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"\n\n") == 1
               for c in chunks)
    assert events[-1] == "[DONE]"
    decoded = [json.loads(e) for e in events[:-1]]
    assert decoded[0]["choices"][0]["delta"]["role"] == "assistant"
    assert decoded[0]["choices"][0]["delta"]["content"] == ""
    finish, usage = decoded[-2], decoded[-1]
    assert finish["choices"] == [{"index": 0, "delta": {}, "logprobs": None,
                                  "finish_reason": "stop"}]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(contents(events))
    assert usage["usage"]["total_tokens"] == (
        usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"])
    for chunk in decoded:
        assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == "gpt-4o-mini"
        assert chunk["id"] == decoded[0]["id"] and chunk["id"].startswith("chatcmpl-")
        assert chunk["system_fingerprint"] and isinstance(chunk["created"], int)
    answer = "".join(contents(events))
    assert "practice" in answer.lower() and "Hello" in answer and "```python" in answer
    assert "$e^{i\\pi}+1=0$" in answer and "| --- |" in answer


def test_non_streamed_chat_returns_a_chat_completion(fresh):
    status, _, body = chat(fresh, messages=user("Hello"))
    completion = json.loads(body)
    choice = completion["choices"][0]
    assert status == 200 and completion["object"] == "chat.completion"
    assert choice["message"]["role"] == "assistant" and choice["message"]["refusal"] is None
    assert choice["finish_reason"] == "stop" and "Hello" in choice["message"]["content"]
    assert completion["usage"]["completion_tokens"] > 0


def test_prompt_html_reaches_the_answer_unescaped_for_the_client_to_escape(fresh):
    _, _, body = chat(fresh, messages=user("Show <script>alert(1)</script> please"))
    assert "<script>alert(1)</script>" in json.loads(body)["choices"][0]["message"]["content"]


def test_three_choices_stream_interleaved_round_robin_and_differ(fresh):
    _, _, events, _ = streamed_chat(fresh, messages=user("Hi"), n=3, temperature=0)
    indexes = [json.loads(e)["choices"][0]["index"] for e in events[:-1]]
    assert indexes[:6] == [0, 1, 2, 0, 1, 2]
    finishes = [json.loads(e)["choices"][0] for e in events[:-1]
                if json.loads(e)["choices"][0]["finish_reason"]]
    assert sorted(f["index"] for f in finishes) == [0, 1, 2]
    answers = {"".join(contents(events, i)) for i in range(3)}
    assert len(answers) == 3


def test_temperature_changes_wording_deterministically(fresh):
    def answer(**extra):
        return json.loads(chat(fresh, messages=user("Hi"), **extra)[2])[
            "choices"][0]["message"]["content"]

    assert answer(temperature=0) == answer(temperature=0)
    assert answer(temperature=1.5, seed=3) == answer(temperature=1.5, seed=3)
    varied = {answer(temperature=2, seed=s) for s in range(4)}
    assert len(varied | {answer(temperature=0)}) > 1


def test_max_completion_tokens_cuts_the_answer_with_finish_reason_length(fresh):
    _, _, events, _ = streamed_chat(fresh, messages=user("Hi"), max_completion_tokens=5)
    assert len(contents(events)) == 5
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "length"
    _, _, body = chat(fresh, messages=user("[[echo]] one two three four"), max_tokens=2)
    choice = json.loads(body)["choices"][0]
    assert choice["message"]["content"] == "one two " and choice["finish_reason"] == "length"


def test_stop_sequence_cuts_the_answer_just_before_it(fresh):
    _, _, body = chat(fresh, messages=user("[[echo]] alpha beta STOP gamma"), stop=["STOP", "zz"])
    choice = json.loads(body)["choices"][0]
    assert choice["message"]["content"] == "alpha beta " and choice["finish_reason"] == "stop"


def test_echo_answers_the_prompt_exactly_one_word_per_chunk(fresh):
    text = "Line one  has\ttabs\nand **bold** ü"
    _, _, events, _ = streamed_chat(fresh, messages=[
        {"role": "user", "content": [{"type": "text", "text": f"[[echo]] {text}"}]}])
    assert contents(events) == ["Line ", "one  ", "has\t", "tabs\n", "and ", "**bold** ", "ü"]


def test_json_directive_and_json_mode_answer_with_a_json_object(fresh):
    for extra in ({"messages": user("[[json]] list colours")},
                  {"messages": user("list colours"), "response_format": {"type": "json_object"}}):
        content = json.loads(chat(fresh, **extra)[2])["choices"][0]["message"]["content"]
        assert json.loads(content)["prompt"] == "list colours"


def test_tokens_directive_streams_exactly_that_many_content_chunks(fresh):
    _, _, events, terminated = streamed_chat(fresh, messages=user("[[tokens=2000]]"))
    pieces = contents(events)
    text = "".join(pieces)
    assert terminated and len(pieces) == 2000 and all(pieces)
    assert text.count("```") % 2 == 0 and "| --- |" in text and "\n## " in text


def test_pace_directive_and_token_delay_are_accepted(fresh):
    fresh.token_delay = 0.001
    _, _, events, terminated = streamed_chat(fresh, messages=user("[[pace=0]] [[echo]] a b"))
    assert terminated and contents(events) == ["a ", "b"]


def test_planned_tool_calls_stream_as_tool_call_deltas(fresh):
    numbers = {"type": "object", "required": ["a", "b"],
               "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    tools = [{"type": "function", "function": {"name": "add", "parameters": numbers}}]
    _, _, events, _ = streamed_chat(fresh, messages=user("add 1 and 2"), tools=tools)
    deltas = [json.loads(e)["choices"][0] for e in events[:-1]]
    calls = [d["delta"]["tool_calls"][0] for d in deltas if "tool_calls" in d["delta"]]
    assert calls[0]["function"] == {"name": "add", "arguments": ""} and calls[0]["id"]
    assert "".join(c["function"]["arguments"] for c in calls) == '{"a": 1, "b": 2}'
    assert deltas[-1]["finish_reason"] == "tool_calls"
    message = json.loads(chat(fresh, messages=user("add 1 and 2"), tools=tools)[2])["choices"][0]["message"]
    assert message["content"] is None and message["tool_calls"][0]["function"]["name"] == "add"


@pytest.mark.parametrize("bad, param", [
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 9}, "n"),
    ({"n": 0}, "n"),
    ({"presence_penalty": -3}, "presence_penalty"),
    ({"frequency_penalty": 2.1}, "frequency_penalty"),
    ({"messages": []}, "messages"),
    ({"messages": None}, "messages"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"stop": 5}, "stop"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
])
def test_invalid_chat_requests_get_400_naming_the_parameter(fresh, bad, param):
    body = {"messages": user("hi"), **bad}
    if body["messages"] is None:
        del body["messages"]
    status, _, raw = chat(fresh, **body)
    assert status == 400 and json.loads(raw)["error"]["param"] == param


def test_missing_model_and_broken_json_get_400(fresh):
    status, _, body = call(fresh, "POST", "/v1/chat/completions", {"messages": user("hi")})
    assert status == 400 and "model" in json.loads(body)["error"]["message"]
    status, _, body = call(fresh, "POST", "/v1/chat/completions", b"{not json",
                           {"Content-Type": "application/json"})
    assert status == 400 and "JSON" in json.loads(body)["error"]["message"]


# ---------------------------------------------------------------- scripted responses


def test_scripted_status_headers_and_body_are_served_once_in_order(fresh):
    fresh.script("/chat/completions",
                 Scripted(429, {"Retry-After": "0", "x-request-id": "req_fixed"},
                          error_body("Slow down", "rate_limit_error", "rate_limit_exceeded")),
                 Scripted(200, body=b'{"ok": 1}'))
    status, headers, body = chat(fresh, messages=user("hi"))
    assert status == 429 and headers["retry-after"] == "0" and headers["x-request-id"] == "req_fixed"
    assert json.loads(body)["error"] == {"message": "Slow down", "type": "rate_limit_error",
                                         "param": None, "code": "rate_limit_exceeded"}
    assert chat(fresh, messages=user("hi"))[2] == b'{"ok": 1}'
    assert json.loads(chat(fresh, messages=user("hi"))[2])["object"] == "chat.completion"


def test_scripted_chunks_arrive_as_separate_http_chunks(fresh):
    events = [sse_event({"n": 1}), sse_event("[DONE]")]
    assert events == [b'data: {"n":1}\n\n', b"data: [DONE]\n\n"]
    fresh.script("/chat/completions", Scripted(chunks=[*events, b"tail"], chunk_delay=0.001))
    status, headers, body = split_head(read_to_eof(raw_send(fresh, "POST", "/v1/chat/completions")))
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert headers["content-type"].startswith("text/event-stream")
    assert dechunk(body) == ([*events, b"tail"], True)


def test_scripted_close_delimited_body_has_no_length_and_ends_with_the_connection(fresh):
    fresh.script("/chat/completions", Scripted(chunks=[b"data: a\n\n", b"data: b\n\n"],
                                               close_delimited=True))
    status, headers, body = split_head(read_to_eof(raw_send(fresh, "POST", "/v1/chat/completions")))
    assert status == 200 and "content-length" not in headers
    assert "transfer-encoding" not in headers and body == b"data: a\n\ndata: b\n\n"
    fresh.script("/v1/models", Scripted(body=b"whole", close_delimited=True))
    assert call(fresh, "GET", "/v1/models")[2] == b"whole"  # http.client reads until close


def test_scripted_abort_drops_the_connection_without_the_final_chunk(fresh):
    fresh.script("/chat/completions", Scripted(chunks=[b"one", b"two", b"three"], abort_after=2))
    _, _, body = split_head(read_to_eof(raw_send(fresh, "POST", "/v1/chat/completions")))
    assert dechunk(body) == ([b"one", b"two"], False)
    fresh.script("/chat/completions", Scripted(chunks=[b"one", b"two"], abort_after=1))
    with pytest.raises(http.client.IncompleteRead):
        chat(fresh, messages=user("hi"))


def test_scripted_gate_pauses_the_stream_until_released(fresh):
    gate = threading.Event()
    fresh.script("/chat/completions", Scripted(chunks=[b"first", b"second"], gate=gate,
                                               gate_before=1))
    sock = raw_send(fresh, "POST", "/v1/chat/completions")
    data = b""
    while dechunk(data.partition(b"\r\n\r\n")[2])[0] != [b"first"]:
        data += sock.recv(65536)
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(1)  # nothing more was sent while the gate is closed
    sock.setblocking(True)
    gate.set()
    _, _, body = split_head(read_to_eof(sock, data))
    assert dechunk(body) == ([b"first", b"second"], True)


def test_stop_ends_open_and_paused_connections_and_is_idempotent():
    server = PracticeServer().start()
    server.script("/chat/completions", Scripted(chunks=[b"a", b"b"], gate=threading.Event(),
                                                gate_before=1))
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    idle.request("GET", "/v1/models", headers={"Authorization": "Bearer x"})
    idle.getresponse().read()
    paused = raw_send(server, "POST", "/v1/chat/completions")
    received = b""
    while not received.endswith(b"1\r\na\r\n"):  # the first chunk is out; the gate holds the rest
        more = paused.recv(65536)
        assert more, "the server closed before the first chunk"
        received += more
    server.stop()
    server.stop()
    assert idle.sock.recv(1) == b""
    _, _, body = split_head(read_to_eof(paused, received))
    assert dechunk(body)[1] is False


def test_client_leaving_mid_stream_does_not_disturb_the_server(capfd):
    with PracticeServer() as server:
        sock = raw_send(server, "POST", "/v1/chat/completions", json.dumps(
            {"model": "gpt-4o-mini", "stream": True, "messages": user("[[tokens=32000]]")}).encode())
        sock.recv(100)
        sock.close()
        assert call(server, "GET", "/v1/models")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------- audio


def wav_bytes(seconds=2.0, rate=16000):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return out.getvalue()


def multipart(fields, files, boundary="practiceBoundary42"):
    body = b""
    for name, value in fields:
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                 f"{value}\r\n").encode()
    for name, filename, ctype, data in files:
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                 f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n').encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def transcribe(server, fields, data=None, path="/v1/audio/transcriptions", filename="hello.wav"):
    data = wav_bytes() if data is None else data
    body, ctype = multipart(fields, [("file", filename, "audio/wav", data)] if data else [])
    return call(server, "POST", path, body, {"Content-Type": ctype})


def test_uploaded_file_is_recorded_byte_for_byte(fresh):
    payload = (bytes(range(256)) + b"\r\n--practiceBoundary4\r\n\r\n--practiceBoundary42x"
               + b"\r\n\r\n\r--\n" + bytes(range(255, -1, -1)) + b"\r\n")
    status, _, body = transcribe(fresh, [("model", "whisper-1"), ("prompt", "Grüße")], payload,
                                 filename="clip.bin")
    form = fresh.requests[-1].form
    assert status == 200, body
    assert [p.name for p in form] == ["model", "prompt", "file"]
    assert form[1].value == "Grüße" and form[2].value is None
    assert form[2].filename == "clip.bin" and form[2].content_type == "audio/wav"
    assert form[2].data == payload
    assert f"{len(payload):,} bytes" in json.loads(body)["text"]


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json"])
def test_each_transcription_format_reports_the_wav_honestly(fresh, fmt):
    fields = [("model", "whisper-1"), ("response_format", fmt),
              ("timestamp_granularities[]", "word"), ("timestamp_granularities[]", "segment")]
    status, headers, body = transcribe(fresh, fields)
    assert status == 200, body
    text = body.decode()
    assert "[practice transcript] hello.wav: I heard 2.0 s of 16 kHz mono audio" in text
    assert "not a real transcription" in text
    if fmt == "json":
        assert set(json.loads(body)) >= {"text"}
    elif fmt == "text":
        assert headers["content-type"].startswith("text/plain") and text.endswith(".\n")
    elif fmt == "srt":
        assert text.startswith("1\n00:00:00,000 --> ") and "\n\n2\n" in text
        assert "--> 00:00:02,000\n" in text
    elif fmt == "vtt":
        assert text.startswith("WEBVTT\n\n00:00:00.000 --> ") and "--> 00:00:02.000\n" in text
    else:
        verbose = json.loads(body)
        assert verbose["task"] == "transcribe" and verbose["language"] == "english"
        assert verbose["duration"] == 2.0 and 2 <= len(verbose["segments"]) <= 4
        segments = verbose["segments"]
        assert segments[0]["start"] == 0 and segments[-1]["end"] == 2.0
        assert "".join(s["text"] for s in segments).strip() == verbose["text"]
        assert {"id", "seek", "tokens", "temperature", "avg_logprob", "compression_ratio",
                "no_speech_prob"} <= set(segments[0])
        assert [w["word"] for w in verbose["words"]][:2] == ["[practice", "transcript]"]


def test_streamed_transcription_sends_word_deltas_then_the_full_text(fresh):
    body, ctype = multipart([("model", "gpt-4o-transcribe"), ("stream", "true")],
                            [("file", "hello.wav", "audio/wav", wav_bytes())])
    raw = read_to_eof(raw_send(fresh, "POST", "/v1/audio/transcriptions", body,
                               {"Content-Type": ctype}))
    status, headers, payload = split_head(raw)
    chunks, terminated = dechunk(payload)
    events = [json.loads(c[len(b"data: "):]) for c in chunks]
    assert status == 200 and terminated and headers["content-type"].startswith("text/event-stream")
    assert {e["type"] for e in events[:-1]} == {"transcript.text.delta"}
    assert events[-1]["type"] == "transcript.text.done"
    assert "".join(e["delta"] for e in events[:-1]) == events[-1]["text"]
    status, _, body = transcribe(fresh, [("model", "whisper-1"), ("stream", "true")])
    assert status == 400 and json.loads(body)["error"]["param"] == "stream"


def test_translation_is_labelled_and_only_whisper_translates(fresh):
    fields = [("model", "whisper-1"), ("response_format", "verbose_json")]
    status, _, body = transcribe(fresh, fields, path="/v1/audio/translations")
    verbose = json.loads(body)
    assert status == 200 and verbose["task"] == "translate" and verbose["language"] == "english"
    assert verbose["text"].startswith("[practice translation]")
    status, _, _ = transcribe(fresh, [("model", "gpt-4o-transcribe")],
                              path="/v1/audio/translations")
    assert status == 400


@pytest.mark.parametrize("fields, data, param", [
    ([("model", "whisper-1")], b"", "file"),
    ([], None, "model"),
    ([("model", "whisper-1"), ("response_format", "xml")], None, "response_format"),
    ([("model", "gpt-4o-mini-transcribe"), ("response_format", "srt")], None, "response_format"),
])
def test_bad_transcription_requests_get_400_naming_the_parameter(fresh, fields, data, param):
    status, _, body = transcribe(fresh, fields, data)
    assert status == 400 and json.loads(body)["error"]["param"] == param


# ---------------------------------------------------------------- recording, CLI


def test_requests_are_recorded_with_lowercased_headers_and_exact_bodies(fresh):
    chat(fresh, messages=user("record me"))
    call(fresh, "GET", "/v1/models")
    first, second = fresh.wait_for_requests(2)
    assert (first.method, first.path, second.method) == ("POST", "/v1/chat/completions", "GET")
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.json["messages"] == user("record me") and json.loads(first.body) == first.json
    assert KEY not in repr(first) and second.body == b"" and second.json is None
    with pytest.raises(TimeoutError):
        fresh.wait_for_requests(3, timeout=0.01)


def test_command_line_prints_the_base_url_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "oai_magic.practice", "--port", "0",
                             "--delay", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint_in_child)
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer anything"})
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=SIGINT_WAIT_S) == 0
        except subprocess.TimeoutExpired:
            pytest.fail(f"the practice server did not stop on SIGINT within {SIGINT_WAIT_S:.0f} s",
                        pytrace=False)
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()
