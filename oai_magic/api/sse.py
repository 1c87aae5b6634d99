"""Server-sent events: a byte iterator in, decoded JSON payloads out.

``sse_events`` does the framing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
CRLF, LF or CR line ends, ``:`` comment lines, ``data`` lines joined, events split across HTTP
chunks, UTF-8 split across chunks (lines are decoded whole). It works on whole chunks with
``bytes.split``, so a long answer's 20,000 events cost little more than reading them. It
replaced sseclient-py, whose per-line work cost more than the rest of the client and whose
buffers grew by concatenation (one event of many small lines took time with the square of its
size), with neither a line nor an event bounded: here both are (CONTRACTS 10). This module
adds what the OpenAI stream means: ``data: [DONE]`` ends it, an ``error`` object inside an
event is an API error.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from ..errors import APIError, server_message
from .coalesce import coalesced, usual_events
from .coalesce import scan_json as _scan_json
from .limits import LimitReached

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


class EventStream:
    """Iterates the JSON payloads of a stream; ``done`` tells whether ``[DONE]`` arrived.

    ``redact`` is applied to every decoded payload before anyone sees it (errors included),
    unless ``needs_redaction(raw text)`` says it would change nothing (redaction.json_needs_redaction).
    One SSE line may hold at most ``max_line_bytes`` and one event (all its lines together) at
    most ``max_event_bytes``: both are buffered whole before they are decoded, so a server could
    otherwise fill the kernel's memory. Past either the answer ends with one line (the part kept).
    """

    def __init__(
        self,
        byte_chunks: Iterable[bytes],
        *,
        redact: Callable[[Any], Any] = lambda data: data,
        needs_redaction: Callable[[str], bool] = lambda raw: True,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._byte_chunks = byte_chunks
        self._redact = redact
        self._needs_redaction = needs_redaction
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self.done = False

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """The payloads in order; the text deltas of one read joined (api.coalesce)."""
        for batch in sse_batches(self._byte_chunks, self.max_line_bytes, self.max_event_bytes):
            payloads, error = self._read(batch)
            yield from coalesced(payloads)  # what came before an error or [DONE], in its order
            if error is not None:
                raise error
            if self.done:
                return

    def _read(self, batch: List[Tuple[str, str]]) -> Tuple[List[Dict[str, Any]], Optional[Exception]]:
        """The payloads of one read, and the error that ended them (raised after them)."""
        payloads: List[Dict[str, Any]] = []
        pieces: List[str] = []
        start = 0
        if len(batch) > 1:  # the usual events first, a run of texts decoded at once (coalesce)
            payloads, pieces, start = usual_events(batch)
        rest = batch[start:]
        # One look at the whole read: a key in any event is in the events joined (the check
        # only searches for runs of the key, and "\n" starts no escape). Of a run read as one
        # template, the first event and the others' texts: nothing else of them differs.
        check = len(batch) == 1 or self._needs_redaction("\n".join(pieces + [data for _, data in rest]))
        if check:
            payloads, rest = [], batch
        for name, data in rest:
            if data == "[DONE]":
                self.done = True
                break
            try:
                payloads.append(self._payload(name, data, check))
            except Exception as exc:  # noqa: BLE001 - raised after what came before it
                return payloads, exc
        return payloads, None

    def _payload(self, name: str, data: str, check: bool = True) -> Dict[str, Any]:
        payload = _decode(data, self._redact)
        if check and self._needs_redaction(data):
            payload = self._redact(payload)
        error = payload.get("error") if isinstance(payload, dict) else None
        if error or name == "error":
            raise _stream_error(error if error is not None else payload)
        if not isinstance(payload, dict):
            raise APIError(
                f"the stream sent an event that is a JSON {type(payload).__name__}, "
                "not an object"
            )
        return payload


def sse_events(chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
               max_event_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Tuple[str, str]]:
    """(event name, data) of each event in a body of server-sent events (``sse_batches``)."""
    for batch in sse_batches(chunks, max_line_bytes, max_event_bytes):
        yield from batch


def sse_batches(chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                max_event_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[List[Tuple[str, str]]]:
    """The (event name, data) of the events each chunk completes, one list per chunk.

    A chunk is one network read (api.chunked), so a list is what arrived together. When a
    limit is passed, the events completed before it in that chunk come first, then the error.

    A line is buffered until its end arrives, and may hold at most ``max_line_bytes``; the lines
    of one event (comments and other fields too) at most ``max_event_bytes``. An event
    still open when the body ends is dispatched, as servers that drop the last blank line mean.
    ``id`` and ``retry`` fields are ignored: a chat stream is not resumed.
    """
    open_line: List[bytes] = []  # the pieces of the line whose end has not arrived
    open_length = 0
    after_cr = False  # the last chunk ended in CR: a LF opening the next one ends the same line
    data: List[bytes] = []
    name = b""
    event_bytes = 0
    for chunk in chunks:
        if after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        after_cr = False
        if b"\r" in chunk:
            after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        if len(lines) == 1:  # no line end in this chunk: the open line grows
            open_line.append(chunk)
            open_length += len(chunk)
            if open_length > max_line_bytes:
                raise _line_too_long(max_line_bytes)
            continue
        if open_line:
            open_line.append(lines[0])
            lines[0] = b"".join(open_line)
        last = lines.pop()
        open_line, open_length = ([last] if last else []), len(last)
        if open_length > max_line_bytes:
            raise _line_too_long(max_line_bytes)
        batch: List[Tuple[str, str]] = []
        try:
            for line in lines:
                if len(line) > max_line_bytes:
                    raise _line_too_long(max_line_bytes)
                if not line:  # the end of an event
                    if data:
                        batch.append((_text(name) if name else "message", _text(b"\n".join(data))))
                    data, name, event_bytes = [], b"", 0
                    continue
                event_bytes += len(line)
                if event_bytes > max_event_bytes:
                    raise LimitReached(
                        f"the stream sent an event over {max_event_bytes:,} bytes; the answer was "
                        "cut there (OAIMagics.max_event_bytes sets the limit)")
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
                elif line == b"data":
                    data.append(b"")
                elif line.startswith(b"event:"):
                    name = line[7:] if line[6:7] == b" " else line[6:]
        except APIError:
            if batch:
                yield batch
            raise
        if batch:
            yield batch
    if open_line and b"".join(open_line).startswith(b"data:"):
        line = b"".join(open_line)
        data.append(line[6:] if line[5:6] == b" " else line[5:])
    if data:
        yield [(_text(name) if name else "message", _text(b"\n".join(data)))]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise APIError("the stream sent bytes that are not UTF-8 text") from None


def _line_too_long(max_line_bytes: int) -> APIError:
    return LimitReached(
        f"the stream sent a line over {max_line_bytes:,} bytes; the answer was cut there "
        "(OAIMagics.max_line_bytes sets the limit)"
    )


def _decode(data: str, redact: Callable[[Any], Any]) -> Any:
    if data[:1] == "{" and data[-1:] == "}":  # the usual event: json.loads without its wrappers
        try:
            payload, end = _scan_json(data, 0)
        except (StopIteration, ValueError, RecursionError):
            pass  # json.loads below says what is wrong
        else:
            if end == len(data):  # exactly one JSON value: what json.loads returns
                return payload
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
