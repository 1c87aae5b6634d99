"""HTTP/1.1 chunked transfer coding, decoded one network read at a time.

urllib3's ``read_chunked`` returns one HTTP chunk per call, with a ``readline`` and two reads
for each. A server that sends one SSE event per chunk (OpenAI, vLLM, the practice server) then
costs three calls and a generator step per token, and everything above (framing, decoding, the
accumulator, the view) sees one token at a time even when a read brought thirty. Here one
``read1`` of the socket's buffered file (whatever has arrived, up to ``PIECE`` bytes: it waits
only when nothing has) is split with bytes operations, and the data of all the chunks it holds
comes out as ONE piece. A slow stream (one chunk per read) gives the same pieces as before.

The same rules as urllib3's: a size line is hexadecimal with optional ``;extensions``, at most
``MAX_SIZE_LINE`` bytes; the two bytes after a chunk's data are dropped; trailers after the last
chunk are read and dropped. A size that cannot be read (negative, not hex, absurdly large) ends
the body with ``ValueError`` after the data before it; a body that ends early raises urllib3's
``ProtocolError`` (both become one "connection broke" line in ``body.body_pieces``).
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional

from urllib3.exceptions import ProtocolError

MAX_SIZE_LINE = 1024
#: No SSE or JSON chunk is this large; a size past it is a broken or hostile server's.
MAX_CHUNK_SIZE = 1 << 62


def buffered_file(raw: Any) -> Optional[Any]:
    """The socket's buffered reader under a urllib3 response, if it has one with ``read1``."""
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    return fp if fp is not None and hasattr(fp, "read1") else None


def _chunk_size(line: bytes) -> int:
    size = int(line.split(b";", 1)[0], 16)  # ValueError for what is not hex, like urllib3
    if not 0 <= size < MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {size}")
    return size


def dechunked(fp: Any, piece: int) -> Iterator[bytes]:
    """The body's data, one piece per read of ``fp`` (empty reads are not yielded)."""
    left = 0  # data bytes still to come in the current chunk
    skip = 0  # bytes to drop (the CRLF after a chunk's data)
    line = b""  # the start of a size line whose end has not arrived
    while True:
        data = fp.read1(piece)
        if not data:
            if left or skip:
                raise ProtocolError(f"Connection broken: IncompleteRead({left} bytes left)")
            raise ProtocolError("Response ended prematurely")
        if line:
            data, line = line + data, b""
        out: List[bytes] = []
        pos, end = 0, len(data)
        try:
            while pos < end:
                if left:
                    take = min(left, end - pos)
                    out.append(data[pos:pos + take] if take < end else data)
                    pos += take
                    left -= take
                    if not left:
                        skip = 2
                elif skip:
                    dropped = min(skip, end - pos)
                    pos += dropped
                    skip -= dropped
                else:
                    newline = data.find(b"\n", pos)
                    if newline < 0:
                        line = data[pos:]
                        if len(line) > MAX_SIZE_LINE:
                            raise ProtocolError("Response chunk size line exceeded maximum allowed length")
                        break
                    if newline - pos > MAX_SIZE_LINE:
                        raise ProtocolError("Response chunk size line exceeded maximum allowed length")
                    try:  # the usual size line, without extensions
                        size = int(data[pos:newline], 16)
                    except ValueError:
                        size = -1
                    if not 0 <= size < MAX_CHUNK_SIZE:
                        size = _chunk_size(data[pos:newline])  # extensions, or what is wrong
                    pos = newline + 1
                    if not size:
                        _skip_trailers(fp, data[pos:])
                        if out:
                            yield b"".join(out)
                        return
                    if pos + size + 2 <= end:  # the whole chunk and its CRLF are here
                        out.append(data[pos:pos + size])
                        pos += size + 2
                    else:
                        left = size
        except (ValueError, ProtocolError):
            if out:  # the data before the broken size line is the answer's
                yield b"".join(out)
            raise
        if out:
            yield out[0] if len(out) == 1 else b"".join(out)


def _skip_trailers(fp: Any, rest: bytes) -> None:
    """Read up to the blank line that ends the trailers (or the end of the body)."""
    while True:
        newline = rest.find(b"\n")
        if newline < 0:
            if len(rest) > MAX_SIZE_LINE:
                raise ProtocolError("Response chunk trailer line exceeded maximum allowed length")
            more = fp.readline(MAX_SIZE_LINE + 1)
            if not more:
                return  # some servers do not end with CRLF
            rest += more
            continue
        if not rest[:newline].strip():
            return
        rest = rest[newline + 1:]
