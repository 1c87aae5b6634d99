"""The SSE decoder on byte chunks, and the same faults over a real socket.

The decoder (``api/sse.py``) is a pure function of bytes: most cases feed it a short list of
chunks. The faults a user meets (an error event, an event that is not JSON) are also played by the
practice server, so the client's framing and the decoder are checked together.
"""

from __future__ import annotations

import json

import pytest

from oai_magic.api.accumulator import ChatAccumulator
from oai_magic.api.client import OpenAIClient
from oai_magic.api.sse import EventStream
from oai_magic.errors import APIError
from oai_magic.practice import Scripted, sse_event
from oai_magic.state import Secret, Settings

from .conftest import TEST_KEY

CHAT = "/chat/completions"


def chunk(content=None, finish=None, index=0, model="gpt-4o-mini-2024-07-18", **delta):
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def event(payload, name=None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


def decode(*pieces: bytes, **options) -> EventStream:
    return EventStream(iter(pieces), **options)


def payloads(*pieces: bytes, **options) -> list:
    return list(decode(*pieces, **options))


def error_from(*pieces: bytes, **options) -> APIError:
    with pytest.raises(APIError) as caught:
        payloads(*pieces, **options)
    return caught.value


def make_client(server) -> OpenAIClient:
    settings = Settings(api_key=Secret(TEST_KEY), base_url=server.base_url, max_retries=0)
    return OpenAIClient(settings, sleep=lambda seconds: None)


def stream_over_socket(server, *pieces: bytes):
    """Serve ``pieces`` as the body of a chat stream; fold what the client decodes."""
    server.script(CHAT, Scripted(chunks=list(pieces)))
    stream = make_client(server).stream(CHAT, json_body={"model": "gpt-4o-mini", "messages": []})
    accumulator = ChatAccumulator()
    for payload in stream:
        accumulator.add(payload)
    return accumulator, stream


# --- the end of a stream -------------------------------------------------------------------


def test_done_ends_the_stream_and_later_events_are_not_read():
    stream = decode(event(chunk("a")), b"data: [DONE]\n\n", event(chunk("never")))
    assert [p["choices"][0]["delta"]["content"] for p in stream] == ["a"]
    assert stream.done


def test_a_stream_without_done_is_not_done():
    stream = decode(event(chunk("a", "stop")))
    assert len(list(stream)) == 1
    assert stream.done is False


def test_finish_reason_without_done_counts_as_complete_over_a_socket(server):
    accumulator, stream = stream_over_socket(server, sse_event(chunk("Hel")),
                                             sse_event(chunk("lo", "stop")))
    assert stream.done is False
    assert accumulator.complete() is True
    assert accumulator.choice(0).content == "Hello"


def test_a_stream_cut_before_any_finish_reason_is_not_complete_over_a_socket(server):
    accumulator, stream = stream_over_socket(server, sse_event(chunk("Hel")))
    assert (stream.done, accumulator.complete()) == (False, False)


def test_the_model_the_server_reports_replaces_the_one_asked_for_over_a_socket(server):
    accumulator, _ = stream_over_socket(
        server, sse_event(chunk("a", model="gpt-4o-mini-2024-07-18")),
        sse_event(chunk("b", "stop", model="gpt-4o-mini-2024-07-18")), sse_event("[DONE]"))
    assert server.requests[-1].json["model"] == "gpt-4o-mini"
    assert accumulator.model == "gpt-4o-mini-2024-07-18"


# --- events that are not chat chunks --------------------------------------------------------


def test_an_event_that_is_not_json_is_an_error_that_quotes_it():
    error = error_from(event(chunk("a")), b"data: {oops\n\n")
    assert str(error) == "the stream sent an event that is not JSON: '{oops'"


def test_an_event_of_80_characters_that_is_not_json_is_quoted_whole():
    data = "x" * 80
    error = error_from(f"data: {data}\n\n".encode())
    assert str(error) == f"the stream sent an event that is not JSON: {data!r}"


def test_an_event_over_80_characters_that_is_not_json_is_quoted_cut_to_80():
    data = "y" * 81
    error = error_from(f"data: {data}\n\n".encode())
    assert str(error) == f"the stream sent an event that is not JSON: {'y' * 77 + '...'!r}"


def test_an_event_nested_too_deep_for_json_is_reported_as_not_json():
    data = "[" * 100_000
    error = error_from(f"data: {data}\n\n".encode())
    assert str(error).startswith("the stream sent an event that is not JSON: '[[[[")


def test_the_quoted_event_that_is_not_json_is_redacted():
    error = error_from(f"data: key {TEST_KEY} leaked\n\n".encode(),
                       redact=lambda data: data.replace(TEST_KEY, "sk-***")
                       if isinstance(data, str) else data)
    assert str(error) == "the stream sent an event that is not JSON: 'key sk-*** leaked'"


def test_the_non_json_event_error_arrives_over_a_socket(server):
    with pytest.raises(APIError) as caught:
        stream_over_socket(server, sse_event(chunk("a")), b"data: <html>busy</html>\n\n")
    assert caught.value.message == "the stream sent an event that is not JSON: '<html>busy</html>'"


def test_an_event_that_is_a_json_list_is_an_error_naming_its_type():
    error = error_from(b"data: [1, 2]\n\n")
    assert str(error) == "the stream sent an event that is a JSON list, not an object"


def test_an_event_that_is_a_json_string_is_an_error_naming_its_type():
    error = error_from(b'data: "hello"\n\n')
    assert str(error) == "the stream sent an event that is a JSON str, not an object"


def test_bytes_that_are_not_utf8_are_one_clear_error():
    error = error_from(b'data: {"a": "\xff\xfe"}\n\n')
    assert str(error) == "the stream sent bytes that are not UTF-8 text"


def test_payloads_pass_through_the_redactor_before_anyone_sees_them():
    seen = payloads(event({"choices": [], "note": "secret"}),
                    redact=lambda data: {**data, "note": "***"} if isinstance(data, dict) else data)
    assert seen == [{"choices": [], "note": "***"}]


# --- errors inside the stream ----------------------------------------------------------------


def test_an_error_object_carries_its_message_type_code_and_param():
    body = {"message": "bad temperature", "type": "invalid_request_error",
            "code": "invalid_value", "param": "temperature"}
    error = error_from(event(chunk("a")), event({"error": body}))
    assert (error.message, error.type, error.code, error.param) == (
        "bad temperature", "invalid_request_error", "invalid_value", "temperature")
    assert error.body == body
    assert str(error) == "invalid_value: bad temperature"


def test_an_error_object_with_only_a_code_uses_the_code_as_its_message():
    error = error_from(event({"error": {"code": "overloaded"}}))
    assert (error.message, error.code, error.type, error.param) == (
        "overloaded", "overloaded", None, None)


def test_an_error_object_over_a_socket_keeps_type_code_and_param(server):
    body = {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded",
            "param": "model"}
    with pytest.raises(APIError) as caught:
        stream_over_socket(server, sse_event(chunk("par")), sse_event({"error": body}))
    error = caught.value
    assert (error.message, error.type, error.code, error.param) == (
        "slow down", "requests", "rate_limit_exceeded", "model")


def test_an_error_that_is_a_string_is_the_message():
    error = error_from(event({"error": "the model is overloaded", "type": "server_error",
                              "code": "busy", "param": "n"}))
    assert (error.message, error.type, error.code, error.param) == (
        "the model is overloaded", None, None, None)
    assert error.body == "the model is overloaded"


def test_an_error_that_is_a_list_is_reported_as_the_server_sent_it():
    error = error_from(event({"error": ["one", "two"]}))
    assert str(error) == "the server reported an error in the stream: ['one', 'two']"
    assert error.type is None and error.code is None


def test_an_error_that_is_a_number_is_reported_as_the_server_sent_it():
    error = error_from(event({"error": 503}))
    assert str(error) == "the server reported an error in the stream: 503"


def test_an_error_that_is_null_or_empty_is_no_error():
    seen = payloads(event({"error": None, "choices": []}), event({"error": {}, "choices": []}),
                    event({"error": "", "choices": []}))
    assert len(seen) == 3


def test_an_error_event_with_an_openai_error_body_is_raised():
    body = {"error": {"message": "stream aborted", "type": "server_error", "code": "aborted",
                      "param": "stream"}}
    error = error_from(event(chunk("a")), event(body, "error"))
    assert (error.message, error.type, error.code, error.param) == (
        "stream aborted", "server_error", "aborted", "stream")


def test_an_error_event_with_a_top_level_message_is_raised_with_its_fields():
    body = {"message": "vLLM ran out of memory", "type": "internal", "code": "oom",
            "param": "max_tokens"}
    error = error_from(event(body, "error"))
    assert (error.message, error.type, error.code, error.param) == (
        "vLLM ran out of memory", "internal", "oom", "max_tokens")
    assert error.body == body


def test_an_error_event_whose_data_is_a_json_string_is_the_message():
    error = error_from(event('"upstream closed"', "error"))
    assert str(error) == "upstream closed"


def test_an_error_event_with_an_object_that_has_no_message_shows_the_object():
    error = error_from(event({"status": "failed"}, "error"))
    assert str(error) == "the server reported an error in the stream: {'status': 'failed'}"


def test_an_error_event_with_a_number_shows_the_number():
    error = error_from(event("42", "error"))
    assert str(error) == "the server reported an error in the stream: 42"


def test_an_error_event_over_a_socket_stops_the_answer(server):
    with pytest.raises(APIError) as caught:
        stream_over_socket(server, sse_event(chunk("par")),
                           b'event: error\ndata: {"message": "engine died"}\n\n')
    assert caught.value.message == "engine died"


def test_an_event_named_otherwise_is_a_normal_chunk():
    assert payloads(event(chunk("a"), "message")) == [chunk("a")]


def test_errors_are_redacted_before_they_are_raised():
    error = error_from(event({"error": {"message": f"Incorrect API key {TEST_KEY}"}}),
                       redact=lambda data: json.loads(json.dumps(data).replace(TEST_KEY, "sk-***")))
    assert str(error) == "Incorrect API key sk-***"


# --- one line may not grow without end -------------------------------------------------------


def test_a_line_of_exactly_the_limit_is_accepted():
    line = b'data: {"a": "' + b"x" * 10 + b'"}'
    assert payloads(line + b"\n\n", max_line_bytes=len(line)) == [{"a": "x" * 10}]


def test_a_line_one_byte_over_the_limit_is_cut_with_the_setting_to_raise():
    line = b'data: {"a": "' + b"x" * 10 + b'"}'
    error = error_from(line + b"\n\n", max_line_bytes=len(line) - 1)
    assert str(error) == (f"the stream sent a line over {len(line) - 1:,} bytes; the answer was "
                          "cut there (OAIMagics.max_line_bytes sets the limit)")


def test_a_line_split_across_chunks_counts_every_piece():
    line = b'data: {"a": "' + b"x" * 10 + b'"}'
    pieces = [line[:5], line[5:12], line[12:] + b"\n\n"]
    with pytest.raises(APIError, match="a line over"):
        payloads(*pieces, max_line_bytes=len(line) - 1)
    assert payloads(*pieces, max_line_bytes=len(line)) == [{"a": "x" * 10}]


def test_a_long_line_after_a_short_one_in_the_same_chunk_is_caught():
    short, long = b'data: {"a": 1}', b'data: {"a": "' + b"x" * 30 + b'"}'
    with pytest.raises(APIError, match="a line over"):
        payloads(short + b"\n\n" + long + b"\n\n", max_line_bytes=len(long) - 1)


def test_a_line_opened_after_a_line_end_keeps_counting_into_the_next_chunk():
    short, long = b'data: {"a": 1}', b'data: {"a": "' + b"x" * 30 + b'"}'
    pieces = [short + b"\n\n" + long[:20], long[20:] + b"\n\n"]
    with pytest.raises(APIError, match="a line over"):
        payloads(*pieces, max_line_bytes=len(long) - 1)
    assert payloads(*pieces, max_line_bytes=len(long)) == [{"a": 1}, {"a": "x" * 30}]


def test_the_default_limit_is_8_mib_per_line():
    room = 8 * 1024 * 1024 - len(b'data: {"a": ""}')
    exact = b'data: {"a": "' + b"x" * room + b'"}\n\n'
    assert payloads(exact)[0]["a"] == "x" * room
    with pytest.raises(APIError, match="a line over 8,388,608 bytes"):
        payloads(exact.replace(b'"a"', b'"ab"'))


def test_many_short_lines_over_many_chunks_never_add_up_to_a_long_one():
    line = b'data: {"a": 1}'
    body = (line + b"\n\n") * 20
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    assert len(payloads(*pieces, max_line_bytes=len(line))) == 20


def test_each_chunk_ending_in_a_line_end_starts_the_count_again():
    line = b'data: {"a": 1}'
    pieces = [line + b"\n", b"\n" + line + b"\n", b"\n"]
    assert payloads(*pieces, max_line_bytes=len(line)) == [{"a": 1}, {"a": 1}]


def test_the_result_names_the_model_the_server_reported(shell, server):
    server.script(CHAT, Scripted(chunks=[sse_event(chunk("Hi", "stop", model="served-7b")),
                                         sse_event("[DONE]")]))
    result = shell.run_cell("%%chat -o r -m asked-model\nhello", store_history=False)
    assert result.error_in_exec is None
    assert server.requests[-1].json["model"] == "asked-model"
    assert shell.user_ns["r"].model == "served-7b"


def test_a_finish_reason_without_done_is_a_complete_answer_in_a_notebook(shell, server):
    server.script(CHAT, Scripted(chunks=[sse_event(chunk("Whole answer.", "stop"))]))
    result = shell.run_cell("%%chat -o r\nhello", store_history=False)
    assert result.error_in_exec is None
    r = shell.user_ns["r"]
    assert (r.text, r.finish_reason, r.partial, r.error) == ("Whole answer.", "stop", False, None)


def test_cr_lf_and_crlf_split_across_chunks_end_lines_and_one_event_is_capped_as_a_whole():
    """An event of many short data: lines is bounded as a whole, whatever its line ends."""
    data = event(chunk("a")).replace(b"\n", b"\r\n")
    pieces = [data[:-1], data[-1:]] + [event(chunk("b")).replace(b"\n", b"\r")]
    assert [p["choices"][0]["delta"]["content"] for p in payloads(*pieces)] == ["a", "b"]
    many = b"data: {\n" + b"data: \n" * 2000 + b"data: }\n\n"
    error = error_from(many, max_event_bytes=4000)
    assert "an event over 4,000 bytes" in str(error) and "max_event_bytes" in str(error)
    assert payloads(many, max_event_bytes=20_000) == [{}]
