"""Work per network read, not per token (issue 26 point 3): what arrives together is handled
together, and the answer, history and log are the same as one event per read.

* api/chunked.py: the HTTP chunks of one read come out as one piece;
* api/sse.py: the events of one piece are one batch;
* api/coalesce.py: consecutive text deltas of one choice in a batch are joined into one event;
  everything else keeps its place, and a slow stream (one event per read) is unchanged.
"""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from urllib3.exceptions import ProtocolError

from oai_magic.api.accumulator import ChatAccumulator
from oai_magic.api.chunked import dechunked
from oai_magic.api.coalesce import coalesced
from oai_magic.api.sse import EventStream
from oai_magic.core.session import session_of
from oai_magic.practice import Scripted, sse_event
from oai_magic.store import default_log_path

from .conftest import TEST_KEY, run

CHAT = "/chat/completions"


def chunk(content=None, finish=None, index=0, **delta):
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def tool_call(arguments, first=False):
    call = {"index": 0, "function": {"arguments": arguments}}
    if first:
        call.update(id="call_1", type="function", function={"name": "lookup", "arguments": arguments})
    return chunk(None, tool_calls=[call])


def texts(payloads):
    return [p["choices"][0]["delta"].get("content") if p.get("choices") else None for p in payloads]


# --- joining -------------------------------------------------------------------------------


def test_text_deltas_of_one_read_become_one_event_and_tool_calls_keep_their_place():
    events = [chunk("Let ", role="assistant"), chunk("me "), chunk("look."), tool_call("{\"ci", True),
              tool_call("ty\": 1}"), chunk("Then "), chunk("more."), chunk(None, "tool_calls")]
    joined = list(coalesced(events))
    assert texts(joined) == ["Let me look.", None, None, "Then more.", None]
    assert joined[0]["choices"][0]["delta"]["role"] == "assistant"
    assert joined[1] is events[3] and joined[2] is events[4] and joined[4] is events[7]


@pytest.mark.parametrize("breaker", [
    chunk("x", index=1),  # another choice
    chunk("x", "stop"),  # a finish
    chunk(None, reasoning_content="hmm"),  # reasoning
    chunk("x", reasoning_content="hmm"),  # text with reasoning in the same delta
    chunk(None, refusal="no"),
    {**chunk("x"), "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
    {**chunk("x"), "model": "another-model"},
    {**chunk("x"), "choices": [{**chunk("x")["choices"][0], "logprobs": {"content": []}}]},
    {**chunk("x"), "choices": [{**chunk("x")["choices"][0], "index": True}]},  # not an int
    {**chunk("x"), "choices": chunk("x")["choices"] * 2},  # two choices in one event
])
def test_anything_but_plain_text_of_the_same_choice_ends_the_run_and_passes_as_it_came(breaker):
    joined = list(coalesced([chunk("a"), chunk("b"), breaker, chunk("c"), chunk("d")]))
    assert texts(joined)[0] == "ab" and texts(joined)[-1] == "cd"
    assert len(joined) == 3 and joined[1] is breaker


def test_logprobs_stay_per_token():
    with_logprobs = [{**chunk(t), "choices": [{**chunk(t)["choices"][0],
                                                "logprobs": {"content": [{"token": t, "logprob": -0.1}]}}]}
                     for t in ("a", "b", "c")]
    assert list(coalesced(with_logprobs)) == with_logprobs


def test_openai_obfuscation_padding_does_not_end_a_run():
    events = [{**chunk(t), "obfuscation": pad} for t, pad in (("a", "xy"), ("b", "zzz"), ("c", "q"))]
    assert texts(list(coalesced(events))) == ["abc"]


def test_a_slow_stream_one_event_per_read_passes_unchanged():
    events = [chunk("a"), chunk("b"), chunk(None, "stop")]
    pieces = [sse_event(e) for e in events] + [sse_event("[DONE]")]
    assert list(EventStream(iter(pieces))) == events


def test_a_fast_stream_all_in_one_read_folds_to_the_same_answer():
    events = [chunk("Hel", role="assistant"), chunk("lo "), chunk("there"), tool_call("{}", True),
              chunk("!"), chunk(None, "stop")]
    body = b"".join(sse_event(e) for e in events) + sse_event("[DONE]")
    one_read, one_each = ChatAccumulator(), ChatAccumulator()
    joined = list(EventStream(iter([body])))
    assert texts(joined) == ["Hello there", None, "!", None]
    for payload in joined:
        one_read.add(payload)
    for payload in EventStream(iter([sse_event(e) for e in events])):
        one_each.add(payload)
    assert one_read.ordered()[0].content == one_each.ordered()[0].content == "Hello there!"
    assert one_read.ordered()[0].tool_call_list() == one_each.ordered()[0].tool_call_list()


def test_events_before_a_broken_one_in_the_same_read_arrive_first():
    body = sse_event(chunk("kept ")) + sse_event(chunk("too")) + b"data: {not json\n\n"
    stream, got = EventStream(iter([body])), []
    with pytest.raises(Exception, match="not JSON"):
        for payload in stream:
            got.append(payload)
    assert texts(got) == ["kept too"]


# --- chunked transfer coding, one piece per read ---------------------------------------------


class Reads(io.RawIOBase):
    """A socket that delivers the given reads, one per ``readinto``."""

    def __init__(self, reads):
        self.reads = list(reads)

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.reads:
            return 0
        data = self.reads.pop(0)
        buffer[:len(data)] = data
        return len(data)


def http_chunks(*datas: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(d), d) for d in datas)


def pieces_of(*reads: bytes):
    return list(dechunked(io.BufferedReader(Reads(reads)), 65536))


def test_the_chunks_of_one_read_come_out_as_one_piece():
    assert pieces_of(http_chunks(b"a", b"bc", b"def") + b"0\r\n\r\n") == [b"abcdef"]


def test_chunks_split_anywhere_across_reads_give_the_same_data():
    body = http_chunks(b"hello ", b"chunked ", b"world" * 30) + b"0\r\nX-Trailer: 1\r\n\r\n"
    for size in (1, 2, 3, 7, 50):
        reads = [body[i:i + size] for i in range(0, len(body), size)]
        assert b"".join(pieces_of(*reads)) == b"hello chunked " + b"world" * 30


def test_one_chunk_per_read_gives_one_piece_per_chunk():
    assert pieces_of(http_chunks(b"a"), http_chunks(b"b"), b"0\r\n\r\n") == [b"a", b"b"]


@pytest.mark.parametrize("size_line", [b"-10", b"zz", b"7fffffffffffffff"])
def test_a_size_that_cannot_be_read_ends_the_body_after_the_data_before_it(size_line):
    stream = dechunked(io.BufferedReader(Reads([http_chunks(b"before") + size_line + b"\r\nmore"])), 65536)
    assert next(stream) == b"before"
    with pytest.raises(ValueError):
        next(stream)


def test_a_body_cut_inside_a_chunk_is_a_broken_connection():
    with pytest.raises(ProtocolError, match="Connection broken"):
        pieces_of(b"10\r\nonly part")


# --- the whole magic over a socket --------------------------------------------------------------


def answer_events(words):
    first, *rest = words
    return [chunk(first, role="assistant")] + [chunk(w) for w in rest] + [chunk(None, "stop")]


def chat_over(shell, server, chunks, name):
    server.script(CHAT, Scripted(chunks=chunks))
    run(shell, f"%%chat -c {name} -o r\nTell me.")
    r = shell.user_ns["r"]
    history = [(m.role, m.content) for m in session_of(shell).conversations[name].messages]
    with sqlite3.connect(default_log_path()) as db:
        (answer, status), = db.execute("SELECT answer, status FROM turns WHERE conversation = ?",
                                       (name,)).fetchall()
    return r.text, r.finish_reason, history, answer, status


def test_an_answer_sent_in_one_write_is_the_same_as_one_event_per_write(shell, server, private_log):
    words = [f"word{i} " for i in range(300)]
    events = [sse_event(e) for e in answer_events(words)] + [sse_event("[DONE]")]
    together = chat_over(shell, server, [b"".join(events)], "together")
    apart = chat_over(shell, server, events, "apart")
    assert together == apart
    assert together[0].split() == [w.strip() for w in words]
    assert together[1] == "stop" and together[4] == "committed"


def test_a_key_split_across_joined_deltas_is_still_masked(shell, server, private_log, capsys):
    pieces = ["The key is ", TEST_KEY[:5], TEST_KEY[5:11], TEST_KEY[11:20], TEST_KEY[20:], " ok."]
    events = [sse_event(e) for e in answer_events(pieces)] + [sse_event("[DONE]")]
    text, _, history, answer, _ = chat_over(shell, server, [b"".join(events)], "secret")
    shown = capsys.readouterr().out
    for seen in (text, json.dumps(history), answer, shown):
        assert TEST_KEY not in seen and TEST_KEY[8:20] not in seen
    assert text.startswith("The key is ") and text.endswith(" ok.")
