"""The framing of server-sent events (WHATWG HTML, "server-sent events"), byte by byte: line
ends, comments, fields, and events or characters split across HTTP chunks at any byte."""

from __future__ import annotations

import json

import pytest

from oai_magic.api.sse import sse_events
from oai_magic.errors import APIError

BODY = ('data: {"a": "héllo 你好 😀"}\r\n\r\n'
        ": a comment, ignored\n"
        "event: error\ndata: line one\ndata:line two\nid: 7\nretry: 10\n\n"
        "data: cr only\r\rdata: [DONE]\n\n").encode()
EXPECTED = [("message", '{"a": "héllo 你好 😀"}'), ("error", "line one\nline two"),
            ("message", "cr only"), ("message", "[DONE]")]


def test_events_fields_comments_and_every_line_end_decode_as_the_spec_says():
    assert list(sse_events([BODY])) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_the_same_body_split_at_any_byte_decodes_the_same(size):
    pieces = [BODY[i:i + size] for i in range(0, len(BODY), size)]
    assert list(sse_events(pieces)) == EXPECTED


def test_a_crlf_split_between_two_chunks_is_one_line_end():
    assert list(sse_events([b"data: x\r", b"\n\r", b"\ndata: y\n\n"])) == [("message", "x"), ("message", "y")]


def test_an_event_left_open_when_the_body_ends_is_still_delivered():
    assert list(sse_events([b"data: {}\n\ndata: last"])) == [("message", "{}"), ("message", "last")]


def test_an_event_with_no_data_is_not_dispatched_and_a_bare_data_field_is_empty_data():
    assert list(sse_events([b"event: ping\n\ndata\n\n"])) == [("message", "")]


def test_a_line_longer_than_the_limit_in_many_small_chunks_is_stopped_before_its_end():
    chunks = iter([b"data: "] + [b"x" * 10] * 10**6)  # 10 MB if it were all read
    with pytest.raises(APIError, match="a line over 100 bytes"):
        list(sse_events(chunks, max_line_bytes=100))
    assert len(list(chunks)) > 10**6 - 20  # it stopped reading at the limit


def test_a_key_in_an_event_is_masked_whether_written_plainly_or_in_unicode_escapes():
    from oai_magic.redaction import json_needs_redaction, redact_data

    key = "sk-test-" + "abcdefghijklmnopqrstuvwxyz0123456789"
    escaped = "".join(f"\\u{ord(c):04x}" for c in key[8:30])
    plain, hidden = f'{{"a": "x {key[5:30]} y"}}', f'{{"a": "x {escaped} y", "{key}": 1}}'
    for raw in (plain, hidden):
        assert json_needs_redaction(raw, key)
        masked = json.dumps(redact_data(json.loads(raw), key))
        assert key[8:20] not in masked and key[20:32] not in masked
    assert not json_needs_redaction('{"a": "ordinary text, \\n and \\"quotes\\""}', key)
    assert json_needs_redaction('{"a": "lone \\ud800"}', None)  # lone surrogates are replaced
