"""A run of text deltas read as one template (issue 26 point 3, api/coalesce.py ``template_run``).

A fast server's events of one read differ only in their text, so their texts are decoded with one
``json.loads`` and the rest of each event is the first one's. That must be exactly what decoding
each event alone and joining the run gives: the same payloads, the same error after the same
events, the key masked as before. The property test compares the two over events a hostile
server could write: quotes and backslashes in the text, "content" inside other fields, repeated
keys, escapes, broken strings, other fields, errors, ``[DONE]``, and the key itself.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from oai_magic.api.coalesce import _text_only, apart, coalesced
from oai_magic.api.sse import EventStream
from oai_magic.redaction import json_needs_redaction
from oai_magic.state import redact_data

KEY = "sk-template-0123456789abcdefXYZ"

TEXTS = st.one_of(
    st.text(alphabet=st.sampled_from(list('ab \n"\\/{}[]:,é中😀\t') + ["\x00", "\x1f"]), max_size=8),
    st.sampled_from(['"content":"x"', '\\"content\\":', '","role":"x', KEY, KEY[:14], KEY[10:],
                     "\\u0041", "&amp;", "%41", "", " "]),
)


def event(text, *, role=None, extra=None, finish=None, index=0, id_="chatcmpl-1"):
    delta = {"content": text}
    if role is not None:
        delta["role"] = role
    payload = {"id": id_, "object": "chat.completion.chunk",
               "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    payload.update(extra or {})
    return payload


@st.composite
def datas(draw):
    """One event's data as a server may write it."""
    text = draw(TEXTS)
    kind = draw(st.sampled_from(["usual"] * 6 + ["ascii", "spaced", "role", "obfuscation", "content in id",
                                                  "repeated key", "finish", "usage", "other index",
                                                  "error", "raw", "broken", "done", "tool",
                                                  "not text", "content above", "fingerprint"]))
    if kind == "done":
        return "[DONE]"
    if kind == "raw":  # the text's JSON written by hand: control characters, bad escapes
        return '{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":' \
               '{"content":"' + draw(st.sampled_from(["a\x01b", "a\\qb", "\\ud83d", "x\\\"y", "a\\\\"])) + \
               '"},"finish_reason":null}]}'
    if kind == "broken":
        return draw(st.sampled_from(['{"choices":[{"delta":{"content":"a}', '{"id":"x"}}', "{not json}",
                                     '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}x']))
    if kind == "not text":  # the same bytes around a number, null, list or object
        return ('{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
                '{"content":' + draw(st.sampled_from(["5", "null", "[]", '{"a":"b"}', '"a" ', "true",
                                                       # two strings, a closed list, a huge number:
                                                       '"a","b"', '"a"],"x":["y"', "1e999999"])) +
                '},"finish_reason":null}]}')
    if kind == "repeated key":
        return ('{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":' + json.dumps(text) +
                ',"content":"fixed"},"finish_reason":null}]}')
    payload = {
        "usual": lambda: event(text, id_=draw(st.sampled_from(["chatcmpl-1", "chatcmpl-2"]))),
        "fingerprint": lambda: event(text, extra={"system_fingerprint": draw(st.sampled_from(["fp_1", "fp_2"]))}),
        "ascii": lambda: event(text),
        "spaced": lambda: event(text),
        "role": lambda: event(text, role="assistant"),
        "obfuscation": lambda: event(text, extra={"obfuscation": draw(st.sampled_from(["ab", "abcd"]))}),
        "content in id": lambda: event(text, id_='x","content":"y'),
        "content above": lambda: {"content": draw(st.sampled_from(["a", "b"])),
                                  **event(draw(st.sampled_from(["a", "b"])))},
        "finish": lambda: event(text, finish="stop"),
        "usage": lambda: event(text, extra={"usage": {"total_tokens": 3}}),
        "other index": lambda: event(text, index=1),
        "error": lambda: {"error": {"message": "overloaded " + text, "type": "server_error"}},
        "tool": lambda: {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": text}}]}, "finish_reason": None}]},
    }[kind]()
    if kind == "ascii":
        return json.dumps(payload)
    if kind == "spaced":
        return json.dumps(payload, ensure_ascii=False, indent=None, separators=(" , ", " : "))
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# How an event is written: most as "data: …", some with a comment before, without the space,
# or with the data on two lines (split after its first comma: JSON whitespace).
STYLES = ["plain"] * 8 + ["comment", "no space", "two lines"]
EVENTS = st.lists(st.tuples(st.sampled_from(["message"] * 8 + ["error", "other"]), datas(),
                            st.sampled_from(STYLES)),
                  min_size=1, max_size=12).map(lambda events: [_styled(*e) for e in events])


def _styled(name, data, style):
    if style == "two lines" and "," in data:
        data = data.replace(",", ",\n", 1)
    return name, data, style


def body_of(events):
    out = []
    for name, data, *style in events:
        style = style[0] if style else "plain"
        if style == "comment":
            out.append(": keep-alive\n")
        if name != "message":
            out.append(f"event: {name}\n")
        if style == "no space":
            out.append(f"data:{data}\n\n")
        else:
            out.append("".join(f"data: {line}\n" for line in data.split("\n")) + "\n")
    return "".join(out).encode("utf-8")


def stream(key):
    return {"redact": lambda data: redact_data(data, key),
            "needs_redaction": lambda raw: json_needs_redaction(raw, key)}


def one_by_one(events, key):
    """What decoding each event alone and joining the read's text runs gives."""
    decoder, payloads = EventStream(iter([]), **stream(key)), []
    for name, data, *_ in events:
        if data == "[DONE]":
            break
        try:
            payloads.append(decoder._payload(name, data))
        except Exception as exc:  # noqa: BLE001 - compared below
            return list(coalesced(payloads)), f"{type(exc).__name__}: {exc}"
    return list(coalesced(payloads)), None


def in_one_read(events, key):
    payloads = []
    try:
        for payload in EventStream(iter([body_of(events)]), **stream(key)):
            payloads.append(payload)
    except Exception as exc:  # noqa: BLE001 - compared below
        return payloads, f"{type(exc).__name__}: {exc}"
    return payloads, None


@settings(max_examples=400, deadline=None)
@given(EVENTS, st.booleans())
def test_a_read_decoded_as_templates_is_the_same_as_each_event_decoded_alone(events, with_key):
    key = KEY if with_key else None
    assert in_one_read(events, key) == one_by_one(events, key)


def test_a_run_of_one_template_is_joined_into_one_event():
    events = [("message", json.dumps(event(t, role="assistant" if i == 0 else None)
                                      if i == 0 else event(t)))
              for i, t in enumerate(["Hel", "lo", ' "th\\ere"', " 中"])]
    # the first has a role, the others not: not one template, joined by coalesce as before
    assert in_one_read(events, None)[0][0]["choices"][0]["delta"]["content"] == 'Hello "th\\ere" 中'
    same = [("message", json.dumps(event(t), ensure_ascii=False)) for t in ["a", 'b"', "\\c", "😀"]]
    payloads, error = in_one_read(same, None)
    assert error is None and len(payloads) == 1
    assert payloads[0] == event('ab"\\c😀')


def test_a_key_in_the_texts_of_a_template_run_is_masked():
    pieces = ["Your key is ", KEY, " and again ", KEY[:6], KEY[6:], "."]
    same = [("message", json.dumps(event(t), ensure_ascii=False)) for t in pieces]
    payloads, error = in_one_read(same, KEY)
    assert error is None
    text = "".join(p["choices"][0]["delta"]["content"] for p in payloads)
    assert KEY not in text and KEY[6:] not in text
    assert (payloads, error) == one_by_one(same, KEY)


def test_a_content_field_elsewhere_in_the_event_is_never_taken_for_the_text():
    # The first "content" of each event is a top-level field; the text is the delta's. The head
    # has the same string in both, the follower only its top-level field changed.
    events = [("message", json.dumps({"content": top, **event(text)}, ensure_ascii=False))
              for top, text in [("a", "a"), ("b", "a"), ("c", "a")]]
    payloads, error = in_one_read(events, None)
    assert error is None and [p["content"] for p in payloads] == ["a", "b", "c"]
    assert (payloads, error) == one_by_one(events, None)
    repeated = [("message", '{"choices":[{"index":0,"delta":{"content":' + json.dumps(t) +
                 ',"content":"x"},"finish_reason":null}]}') for t in ["x", "y", "z"]]
    assert in_one_read(repeated, None) == one_by_one(repeated, None)
    assert in_one_read(repeated, None)[0][0]["choices"][0]["delta"]["content"] == "xxx"


# --- any cut into reads ----------------------------------------------------------------------


def reads_of(body: bytes, cuts):
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0] + points, points + [len(body)]) if b > a]


def expected_events(events):
    return [(name, data) for name, data, *_ in events]


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.lists(st.integers(min_value=0, max_value=10**6), max_size=8))
def test_framing_is_the_same_for_any_cut_into_reads(events, cuts):
    from oai_magic.api.sse import sse_batches, sse_events

    body = body_of(events)
    assert list(sse_events(reads_of(body, cuts))) == expected_events(events)
    assert [e for batch in sse_batches(reads_of(body, cuts)) for e in batch] == expected_events(events)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.lists(st.integers(min_value=0, max_value=10**6), max_size=8), st.booleans())
def test_each_read_decodes_as_its_events_decoded_alone(events, cuts, with_key):
    from oai_magic.api.sse import sse_batches

    key = KEY if with_key else None
    expected, error = [], None
    for batch in sse_batches(reads_of(body_of(events), cuts)):
        payloads, error = one_by_one(batch, key)
        expected.extend(payloads)
        if error is not None or any(data == "[DONE]" for _, data in batch):
            break
    got, got_error = [], None
    try:
        for payload in EventStream(iter(reads_of(body_of(events), cuts)), **stream(key)):
            got.append(payload)
    except Exception as exc:  # noqa: BLE001 - compared below
        got_error = f"{type(exc).__name__}: {exc}"
    assert (got, got_error) == (expected, error)


def test_a_read_of_many_events_of_one_template_becomes_one_event():
    texts = ["a", 'b"', "\\c", "😀", "中", " "] * 20
    body = body_of([("message", json.dumps(event(t), ensure_ascii=False)) for t in texts])
    for cut in (0, 7, len(body) // 2):  # the read may start inside an event
        payloads = list(EventStream(iter(reads_of(body, [cut]) if cut else [body])))
        assert "".join(p["choices"][0]["delta"]["content"] for p in payloads) == "".join(texts)
        assert len(payloads) <= 3


def test_an_event_that_differs_only_in_a_field_of_the_same_length_is_not_joined():
    def fp(text, mark):
        return json.dumps(event(text, extra={"system_fingerprint": mark}))

    def with_id(text, id_):
        return json.dumps(event(text, id_=id_))

    for events in ([("message", fp("a", "fp_1")), ("message", fp("b", "fp_1")), ("message", fp("c", "fp_2"))],
                   [("message", fp("a", "fp_1")), ("message", fp("b", "fp_2")), ("message", fp("c", "fp_1"))],
                   [("message", with_id("a", "chatcmpl-1")), ("message", with_id("b", "chatcmpl-2")),
                    ("message", with_id("c", "chatcmpl-1"))]):
        payloads, error = in_one_read(events, None)
        assert (payloads, error) == one_by_one(events, None)
        assert len(payloads) >= 2


# --- taken apart again: a limit cuts after the same event (issue 26h) --------------------------


def _shape(payload):
    """A text event as what a reader takes from it; any other event whole."""
    found = _text_only(payload)
    return ("text", found[1].get("index", 0), found[0]) if found else payload


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.lists(st.integers(min_value=0, max_value=10**6), max_size=8), st.booleans())
def test_a_joined_read_taken_apart_is_its_events_one_by_one_for_any_cut_into_reads(events, cuts, with_key):
    # core.exchange takes a joined payload apart near an ignored --max-tokens, so the cut lands
    # after the same event whatever the reads were: each event, in order, as decoded alone.
    key = KEY if with_key else None
    expected, error = [], None
    decoder = EventStream(iter([]), **stream(key))
    for name, data, *_ in events:
        if data == "[DONE]":
            break
        try:
            expected.append(_shape(decoder._payload(name, data)))
        except Exception as exc:  # noqa: BLE001 - compared below
            error = f"{type(exc).__name__}: {exc}"
            break
    got, got_error = [], None
    try:
        for payload in EventStream(iter(reads_of(body_of(events), cuts)), **stream(key)):
            got.extend(_shape(event) for event in apart(payload))
    except Exception as exc:  # noqa: BLE001 - compared below
        got_error = f"{type(exc).__name__}: {exc}"
    assert (got, got_error) == (expected, error)


def test_a_joined_text_that_fits_in_the_room_left_is_taken_whole():
    texts = ["ab", "cd", "ef"]
    body = body_of([("message", json.dumps(event(t))) for t in texts])
    [joined] = list(EventStream(iter([body])))
    assert apart(joined, room=6) == [joined]
    assert [p["choices"][0]["delta"]["content"] for p in apart(joined, room=5)] == texts
