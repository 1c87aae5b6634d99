"""Server-sent events: a byte iterator in, decoded JSON payloads out.

sseclient-py does the framing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
CRLF or LF line ends, ``:`` comment lines, events split across HTTP chunks, UTF-8 split
across chunks (it joins bytes before decoding). This module adds what the OpenAI stream means:
``data: [DONE]`` ends it, an ``error`` object inside an event is an API error.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, Iterator

from sseclient import SSEClient

from ..errors import APIError, server_message

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


class EventStream:
    """Iterates the JSON payloads of a stream; ``done`` tells whether ``[DONE]`` arrived.

    ``redact`` is applied to every decoded payload before anyone sees it (errors included),
    unless ``needs_redaction(raw text)`` says it would change nothing (redaction.json_needs_redaction).
    One SSE line may hold at most ``max_line_bytes``: sseclient buffers a whole line before we
    see any of it, so a server sending one endless line would otherwise fill the kernel's memory.
    """

    def __init__(
        self,
        byte_chunks: Iterable[bytes],
        *,
        redact: Callable[[Any], Any] = lambda data: data,
        needs_redaction: Callable[[str], bool] = lambda raw: True,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._byte_chunks = byte_chunks
        self._redact = redact
        self._needs_redaction = needs_redaction
        self.max_line_bytes = max_line_bytes
        self.done = False

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        events = SSEClient(_capped_lines(self._byte_chunks, self.max_line_bytes)).events()
        while True:
            try:
                event = next(events)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise APIError("the stream sent bytes that are not UTF-8 text") from None
            data = event.data
            if data == "[DONE]":
                self.done = True
                return
            payload = _decode(data, self._redact)
            if self._needs_redaction(data):
                payload = self._redact(payload)
            error = payload.get("error") if isinstance(payload, dict) else None
            if error or event.event == "error":
                raise _stream_error(error if error is not None else payload)
            if not isinstance(payload, dict):
                raise APIError(
                    f"the stream sent an event that is a JSON {type(payload).__name__}, "
                    "not an object"
                )
            yield payload


def _capped_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """Pass the bytes through, failing once a single line grows past ``max_line_bytes``."""
    line_length = 0  # bytes of the line still open at the end of the last chunk
    for chunk in chunks:
        pieces = chunk.split(b"\n")
        longest = line_length + len(pieces[0])
        if len(pieces) > 1:
            longest = max(longest, max(len(p) for p in pieces[1:]))
            line_length = len(pieces[-1])
        else:
            line_length = longest
        if longest > max_line_bytes:
            raise APIError(
                f"the stream sent a line over {max_line_bytes:,} bytes; the answer was cut "
                "there (OAIMagics.max_line_bytes sets the limit)"
            )
        yield chunk


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
