"""Reading a response body in bounded pieces: every byte from a server passes here.

urllib3 is asked for raw bytes only (``decode_content=False``), in pieces of at most
``PIECE`` bytes, so neither it nor requests ever decodes or holds a whole body. gzip and deflate
are inflated here piece by piece with ``zlib``'s ``max_length``: a 1 MB bomb that inflates to
gigabytes costs one piece of memory at a time, and stops at the limit. Chunk sizes the HTTP
layer cannot take (negative, or ``7fffffffffffffff``) end the body with one line.
"""

from __future__ import annotations

import codecs
import http.client
import re
import zlib
from typing import Any, Iterator, List, Optional

import requests

from ..errors import APIConnectionError, APIError
from .chunked import buffered_file, dechunked
from .limits import limit_reached

PIECE = 64 * 1024
#: What the client accepts: only what is decoded here (requests would add br and zstd).
ACCEPT_ENCODING = "gzip, deflate"

_BROKEN = (requests.RequestException, http.client.HTTPException, OSError)


class _Inflater:
    """gzip or deflate, decoded incrementally; ``feed`` yields pieces of at most ``PIECE``."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_deflate = False
        self._started = False
        self._new()

    def _new(self) -> None:
        if self.encoding == "gzip":
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:  # "deflate" is zlib-wrapped by the RFC; some servers send it raw
            self._d = zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._d.decompress(data, PIECE)
            except zlib.error:
                if self.encoding == "deflate" and not self._started and not self._raw_deflate:
                    self._raw_deflate = True
                    self._new()
                    continue
                raise APIError(f"the server sent a body that is not valid {self.encoding}") from None
            self._started = True
            if out:
                yield out
            data = self._d.unconsumed_tail
            if self._d.eof and self._d.unused_data:  # gzip members one after another
                data = self._d.unused_data
                self._new()

    def flush(self) -> bytes:
        return self._d.flush(PIECE) if not self._d.eof else b""


def _inflater(response: requests.Response) -> Optional[_Inflater]:
    encoding = (response.headers.get("content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Inflater("gzip")
    if encoding == "deflate":
        return _Inflater("deflate")
    raise APIError(f"the server sent a body encoded as {encoding[:40]!r}, which oai_magic does "
                   "not decode (it asks for gzip or deflate)", status_code=response.status_code)


def _raw_pieces(response: requests.Response) -> Iterator[bytes]:
    """The body's bytes as they arrive, still compressed, at most ``PIECE`` at a time."""
    raw = response.raw
    chunked = "chunked" in (response.headers.get("transfer-encoding") or "").lower()
    if chunked and getattr(raw, "chunked", False) and raw.supports_chunked_reads():
        fp = buffered_file(raw)
        head = getattr(getattr(raw, "_original_response", None), "_method", None) == "HEAD"
        if fp is not None and not head:  # one piece per network read, however many chunks it holds
            yield from dechunked(fp, PIECE)
            original = getattr(raw, "_original_response", None)
            if original is not None:
                original.close()  # all read: as urllib3 does, the connection goes back to the pool
            raw.release_conn()
            return
        for piece in raw.read_chunked(PIECE, decode_content=False):
            if piece:
                yield piece
        return
    read1 = getattr(raw, "read1", None)
    while True:
        # urllib3 2 has read1 (what is there, without waiting for more); under 1.x read the
        # socket file directly, which never decodes either.
        piece = read1(PIECE, decode_content=False) if read1 is not None else raw._fp.read1(PIECE)
        if not piece:
            return
        yield piece


def body_pieces(response: requests.Response, limit: int, setting: str,
                what: str = "the response", ended: str = "body") -> Iterator[bytes]:
    """The decoded body, piece by piece; past ``limit`` decoded bytes, :class:`LimitReached`.

    Network trouble is one ``APIConnectionError`` line, and so is a chunk size that the HTTP
    layer cannot take (``ValueError``/``OverflowError`` from it).
    """
    inflater = _inflater(response)
    total = 0
    request_id = response.headers.get("x-request-id")
    try:
        for raw in _raw_pieces(response):
            for piece in (inflater.feed(raw) if inflater is not None else (raw,)):
                total += len(piece)
                if total > limit:
                    raise limit_reached(what, limit, "bytes", setting, ended=ended)
                yield piece
        rest = inflater.flush() if inflater is not None else b""
        if rest:
            total += len(rest)
            if total > limit:
                raise limit_reached(what, limit, "bytes", setting, ended=ended)
            yield rest
    except APIError:
        raise
    except (ValueError, OverflowError) as exc:
        if "chunked" not in (response.headers.get("transfer-encoding") or "").lower():
            raise APIConnectionError(f"the connection broke while reading {what} "
                                     f"({type(exc).__name__})", request_id=request_id) from None
        raise APIConnectionError(
            f"the connection broke while reading {what}: the server sent a chunk size that "
            "cannot be read (malformed chunked encoding)", request_id=request_id) from None
    except _BROKEN as exc:
        raise APIConnectionError(f"the connection broke while reading {what} ({short_reason(exc)})",
                                 request_id=request_id) from None
    except Exception as exc:  # urllib3 errors that requests does not wrap on raw reads
        if type(exc).__module__.startswith("urllib3"):
            raise APIConnectionError(f"the connection broke while reading {what} ({short_reason(exc)})",
                                     request_id=request_id) from None
        raise


def read_body(response: requests.Response, limit: int, setting: str,
              what: str = "the response body") -> bytes:
    """The whole decoded body (at most ``limit`` bytes), and the response closed."""
    try:
        return b"".join(body_pieces(response, limit, setting, what))
    finally:
        response.close()


def body_lines(response: requests.Response, max_bytes: int, max_lines: int, setting_bytes: str,
               setting_lines: str, what: str = "the file") -> Iterator[str]:
    """The body as text lines (UTF-8, bad bytes replaced), never holding more than one line
    and one piece; past either limit :class:`LimitReached` after the lines that fit."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    open_line: List[str] = []  # the pieces of the line not yet ended
    count = 0

    def counted(line: str) -> str:
        nonlocal count
        count += 1
        if count > max_lines:
            raise limit_reached(what, max_lines, "lines", setting_lines, ended="file")
        return line

    try:
        for piece in body_pieces(response, max_bytes, setting_bytes, what):
            *ended, rest = decoder.decode(piece).split("\n")
            for line in ended:
                open_line.append(line)
                yield counted("".join(open_line))
                open_line = []
            open_line.append(rest)
        last = "".join(open_line) + decoder.decode(b"", final=True)
        if last:
            yield counted(last)
    finally:
        response.close()


def short_reason(exc: BaseException) -> str:
    """The cause of a network error in a few words (an errno line, "timed out"...), not its repr."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if match:
        return match.group(0).strip()
    for phrase in ("Connection broken", "Connection reset", "Read timed out", "timed out"):
        if phrase.lower() in text.lower():
            return phrase.lower()
    return type(exc).__name__


def accept_encoding(headers: Any) -> None:
    """Ask only for what ``body_pieces`` decodes."""
    headers["Accept-Encoding"] = ACCEPT_ENCODING
