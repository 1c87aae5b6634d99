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
from .coalesce import coalesced, read_run, usual_events
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
        for read in sse_reads(self._byte_chunks, self.max_line_bytes, self.max_event_bytes):
            payloads, error = self._read(read)
            yield from coalesced(payloads)  # what came before an error or [DONE], in its order
            if error is not None:
                raise error
            if self.done:
                return

    def _read(self, read: Read) -> Tuple[List[Dict[str, Any]], Optional[Exception]]:
        """The payloads of one read, and the error that ended them (raised after them)."""
        if read.count > 1:  # a run of one template over the whole read: its texts at once
            run = read_run(read.text, read.count)
            if run is not None:
                payloads, pieces, start = usual_events(read.first)
                if start == len(read.first):
                    pieces.extend(run[1])
                    if not self._needs_redaction("\n".join(pieces)):
                        payloads.append(run[0])
                        return payloads, None
        return self._events(read.events())

    def _events(self, batch: List[Tuple[str, str]]) -> Tuple[List[Dict[str, Any]], Optional[Exception]]:
        """The payloads of these events (one read), and the error that ended them (raised after them)."""
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
    for read in sse_reads(chunks, max_line_bytes, max_event_bytes):
        yield read.events()


class Read:
    """The events one chunk completes: ``first`` read line by line, then ``count`` events that
    are all ``data: …`` lines, kept as their ``text`` (``data: A\n\ndata: B\n\n``) so a reader
    can take them at once (api.coalesce.read_run) instead of one by one."""

    __slots__ = ("first", "text", "count")

    def __init__(self, first: List[Tuple[str, str]], text: str = "", count: int = 0) -> None:
        self.first, self.text, self.count = first, text, count

    def events(self) -> List[Tuple[str, str]]:
        if not self.count:
            return self.first
        return self.first + [("message", event[6:]) for event in self.text[:-2].split("\n\n")]


def sse_reads(chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
              max_event_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Read]:
    """``sse_batches``, each batch as a :class:`Read` (empty ones left out)."""
    lines = _Lines(max_line_bytes, max_event_bytes)
    fast_limit = min(max_line_bytes, max_event_bytes)  # no line or event of a chunk this long passes them
    after_cr = False  # the last chunk ended in CR: a LF opening the next one ends the same line
    for chunk in chunks:
        if after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        after_cr = False
        if b"\r" in chunk:
            after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        batch: List[Tuple[str, str]] = []
        text, count = "", 0
        try:
            if len(chunk) <= fast_limit:
                if not lines.clean:  # the event the last chunk left open, line by line
                    cut = chunk.find(b"\n\n") + 2
                    if cut >= 2:
                        lines.feed(chunk[:cut], batch)
                        chunk = chunk[cut:]
                if lines.clean and chunk:
                    text, count, used = _data_events(chunk)  # the usual events, all at once
                    chunk = chunk[used:]
            if chunk:
                lines.feed(chunk, batch)
        except APIError:
            if batch or count:  # (what follows the data-only events completes none)
                yield Read(batch, text, count)
            raise
        if batch or count:
            yield Read(batch, text, count)
    last = lines.close()
    if last is not None:
        yield Read([last])


class _Lines:
    """The line by line reading of ``sse_reads``: any field, comment or line end (CR already LF)."""

    def __init__(self, max_line_bytes: int, max_event_bytes: int) -> None:
        self.max_line_bytes, self.max_event_bytes = max_line_bytes, max_event_bytes
        self.open_line: List[bytes] = []  # the pieces of the line whose end has not arrived
        self.open_length = 0
        self.data: List[bytes] = []
        self.name = b""
        self.event_bytes = 0

    @property
    def clean(self) -> bool:
        """Between two events: nothing of one is buffered."""
        return not (self.open_line or self.data or self.name or self.event_bytes)

    def feed(self, chunk: bytes, batch: List[Tuple[str, str]]) -> None:
        """Read ``chunk``; the events it completes go to ``batch`` (before a limit's error)."""
        max_line_bytes, max_event_bytes = self.max_line_bytes, self.max_event_bytes
        lines = chunk.split(b"\n")
        if len(lines) == 1:  # no line end in this chunk: the open line grows
            self.open_line.append(chunk)
            self.open_length += len(chunk)
            if self.open_length > max_line_bytes:
                raise _line_too_long(max_line_bytes)
            return
        if self.open_line:
            self.open_line.append(lines[0])
            lines[0] = b"".join(self.open_line)
        last = lines.pop()
        self.open_line, self.open_length = ([last] if last else []), len(last)
        if self.open_length > max_line_bytes:
            raise _line_too_long(max_line_bytes)
        data, name, event_bytes = self.data, self.name, self.event_bytes
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
        finally:
            self.data, self.name, self.event_bytes = data, name, event_bytes

    def close(self) -> Optional[Tuple[str, str]]:
        """The event still open when the body ends (servers that drop the last blank line)."""
        data = self.data
        if self.open_line and b"".join(self.open_line).startswith(b"data:"):
            line = b"".join(self.open_line)
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        return (_text(self.name) if self.name else "message", _text(b"\n".join(data))) if data else None


def _data_events(chunk: bytes) -> Tuple[str, int, int]:
    """The events at the start of ``chunk`` while all are ``data: …`` lines each followed by a
    blank line (what chat servers send): (their text, their number, bytes), else ("", 0, 0).

    The caller passes a chunk that starts an event and is within the line and event limits, so
    none of these lines or events can pass them; anything else (another field, a comment, a data
    line without its space, bytes that are not UTF-8) is left to the line by line reading.
    """
    end = chunk.rfind(b"\n\n") + 2
    if end < 2:
        return "", 0, 0
    try:
        text = chunk[:end].decode("utf-8")
    except UnicodeDecodeError:
        return "", 0, 0
    count = text.count("\n\n")
    # No event holds a line end of its own, and each starts with "data: ".
    if (text.count("\n") != 2 * count or not text.startswith("data: ")
            or text.count("\n\ndata: ") != count - 1):
        return "", 0, 0
    return text, count, end


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
