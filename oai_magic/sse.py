"""Server-sent events: a byte iterator in, decoded JSON payloads out.

sseclient-py does the framing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
CRLF or LF line ends, ``:`` comment lines, events split across HTTP chunks, UTF-8 split
across chunks (it joins bytes before decoding). This module adds what the OpenAI stream means:
``data: [DONE]`` ends it, an ``error`` object inside an event is an API error.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator

from sseclient import SSEClient

from .errors import APIError, server_message


class EventStream:
    """Iterates the JSON payloads of a stream; ``done`` tells whether ``[DONE]`` arrived."""

    def __init__(self, byte_chunks: Iterable[bytes]) -> None:
        self._byte_chunks = byte_chunks
        self.done = False

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        for event in SSEClient(self._byte_chunks).events():
            data = event.data
            if data == "[DONE]":
                self.done = True
                return
            payload = _decode(data)
            error = payload.get("error") if isinstance(payload, dict) else None
            if error or event.event == "error":
                raise _stream_error(error if error is not None else payload)
            yield payload


def _decode(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        short = data if len(data) <= 80 else data[:77] + "..."
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
