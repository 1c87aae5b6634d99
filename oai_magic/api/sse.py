"""Server-sent events: a byte iterator in, decoded JSON payloads out.

The framing follows the spec (https://html.spec.whatwg.org/multipage/server-sent-events.html):
CR, LF or CRLF line ends (a CRLF may be split between chunks), ``:`` comment lines, events
split across HTTP chunks, ``data:`` lines joined with ``\n``, UTF-8 decoded once the event is
whole (so a character split across chunks survives). It is done here rather than by sseclient-py,
whose buffers grow by concatenation: one event of many small lines took time with the square of
its size, and neither a line nor an event was bounded. This module also adds what the OpenAI
stream means: ``data: [DONE]`` ends it, an ``error`` object inside an event is an API error.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

from ..errors import APIError, server_message
from .limits import LimitReached

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


class EventStream:
    """Iterates the JSON payloads of a stream; ``done`` tells whether ``[DONE]`` arrived.

    ``redact`` is applied to every decoded payload before anyone sees it (errors included).
    One line may hold at most ``max_line_bytes`` and one event (all its lines together) at
    most ``max_event_bytes``; past either the answer ends with one line (the part kept).
    """

    def __init__(
        self,
        byte_chunks: Iterable[bytes],
        *,
        redact: Callable[[Any], Any] = lambda data: data,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._byte_chunks = byte_chunks
        self._redact = redact
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self.done = False

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        lines = split_lines(self._byte_chunks, self.max_line_bytes)
        for kind, raw in sse_events(lines, self.max_event_bytes):
            try:
                data = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise APIError("the stream sent bytes that are not UTF-8 text") from None
            del raw
            if data == "[DONE]":
                self.done = True
                return
            payload = self._redact(_decode(data, self._redact))
            del data  # one event at a time: its text is not kept past its payload
            error = payload.get("error") if isinstance(payload, dict) else None
            if error or kind == "error":
                raise _stream_error(error if error is not None else payload)
            if not isinstance(payload, dict):
                raise APIError(
                    f"the stream sent an event that is a JSON {type(payload).__name__}, "
                    "not an object"
                )
            yield payload


def split_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """The lines of a byte stream without their ends; a line that grows past
    ``max_line_bytes`` ends the stream (checked before it is joined, so never held whole)."""
    pending: List[bytes] = []  # the pieces of a line not yet ended
    pending_bytes = 0
    after_cr = False  # the last chunk ended with CR: an LF first in this one belongs to it
    for chunk in chunks:
        if after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        after_cr = chunk[-1:] == b"\r"
        for piece in chunk.splitlines(keepends=True):
            ended = piece[-1:] in (b"\n", b"\r")
            body = piece.rstrip(b"\r\n") if ended else piece
            pending_bytes += len(body)
            if pending_bytes > max_line_bytes:
                raise LimitReached(
                    f"the stream sent a line over {max_line_bytes:,} bytes; the answer was cut "
                    "there (OAIMagics.max_line_bytes sets the limit)"
                )
            if not ended:
                pending.append(body)
                continue
            line = b"".join(pending) + body if pending else body
            pending, pending_bytes = [], 0
            yield line
    if pending:
        yield b"".join(pending)


def sse_events(lines: Iterable[bytes], max_event_bytes: int) -> Iterator[Tuple[str, bytes]]:
    """(event type, data) for each event: its ``data:`` lines joined with LF. The bytes of an
    event's lines (comments and other fields too) may not pass ``max_event_bytes``."""
    data: List[bytes] = []
    kind = ""
    size = 0
    for line in lines:
        if not line:
            joined = b"\n".join(data)
            if joined:
                yield kind, joined
            data, kind, size = [], "", 0
            continue
        size += len(line)
        if size > max_event_bytes:
            raise LimitReached(
                f"the stream sent an event over {max_event_bytes:,} bytes; the answer was cut "
                "there (OAIMagics.max_event_bytes sets the limit)"
            )
        if line[:1] == b":":
            continue  # a comment (keep-alive)
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            kind = value.decode("utf-8", errors="replace")
    joined = b"\n".join(data)
    if joined:
        yield kind, joined


def _decode(data: str, redact: Callable[[Any], Any]) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        short = redact(data if len(data) <= 80 else data[:77] + "...")
        raise APIError(f"the stream sent an event that is not JSON: {short!r}") from None


def _stream_error(error: Any) -> APIError:
    found = server_message(error) if isinstance(error, dict) else None
    if found is None:
        found = server_message({"error": error})
    if found is not None:
        return APIError(
            found["message"],
            type=found["type"],
            code=found["code"],
            param=found["param"],
            body=error,
        )
    return APIError(f"the server reported an error in the stream: {error}")
