"""What comes back over HTTP: whole responses, open streams, and errors as our exceptions.

Every header, body and message is redacted of the key before anyone sees it; a stream closes
itself however its reader stops. ``client.py`` sends the requests and decides on retries.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from typing import Any, Dict, Iterator, Optional

import requests

from ..errors import APIError, server_message, status_error_class
from ..plain_text import shortened
from ..redaction import json_needs_redaction
from ..state import PRACTICE_HEADER, redact, redact_data
from .body import body_pieces, read_body
from .limits import Limits
from .sse import EventStream

MAX_HEADER_CHARS = 300
DEBUG_HEADERS = (
    "x-request-id",
    "openai-processing-ms",
    "openai-organization",
    "openai-project",
    "openai-version",
    PRACTICE_HEADER,  # drives the "practice" badge in footers and %oai
    "retry-after",  # on errors: how long a 429 asks to wait (--map paces by it)
    "retry-after-ms",
)


def debug_headers(headers: Any, key: Optional[str] = None) -> Dict[str, str]:
    """The response headers worth keeping on every result (request id, rate limits...), redacted."""
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in DEBUG_HEADERS or lower.startswith("x-ratelimit-"):
            # the name too: a header called x-ratelimit-<key> must not carry it into results
            kept[redact(name[:MAX_HEADER_CHARS], key).lower()] = redact(str(value)[:MAX_HEADER_CHARS], key)
    return kept


class APIResponse:
    """A finished response: its body (JSON or text) and its debug headers."""

    def __init__(self, response: requests.Response, key: Optional[str] = None,
                 max_bytes: int = Limits.body_bytes) -> None:
        self.status_code = response.status_code
        self.headers = debug_headers(response.headers, key)
        self.content_type = response.headers.get("content-type", "")
        self.data: Any = None
        body = read_body(response, max_bytes, "max_body_bytes")
        try:
            self.text = redact(body.decode("utf-8"), key)
        except UnicodeDecodeError:
            raise APIError(
                "the server sent a body that is not UTF-8 text",
                status_code=response.status_code,
                request_id=self.request_id,
            ) from None
        del body
        if "json" in self.content_type:
            try:
                self.data = redact_data(json.loads(self.text), key)
            except (ValueError, RecursionError):
                raise APIError(
                    "the server sent a body that is not valid JSON",
                    status_code=response.status_code,
                    request_id=self.request_id,
                ) from None

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get("x-request-id")


class StreamResponse:
    """An open streamed response: iterate it for JSON events; it closes itself however you stop."""

    def __init__(
        self,
        response: requests.Response,
        key: Optional[str] = None,
        limits: Optional[Limits] = None,
    ) -> None:
        limits = limits or Limits()
        self._response = response
        self.headers = debug_headers(response.headers, key)
        self._events = EventStream(
            body_pieces(response, limits.stream_bytes, "max_stream_bytes", "the stream", "answer"),
            redact=lambda data: redact_data(data, key),
            needs_redaction=lambda raw: json_needs_redaction(raw, key),
            max_line_bytes=limits.line_bytes,
            max_event_bytes=limits.event_bytes,
        )
        self.json_body: Any = None
        if "json" in response.headers.get("content-type", ""):
            # The server ignored ``stream: true`` and answered in one piece.
            self.json_body = APIResponse(response, key, limits.body_bytes).data

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get("x-request-id")

    @property
    def done(self) -> bool:
        """True once ``data: [DONE]`` arrived (or the answer came whole)."""
        return self._events.done or self.json_body is not None

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        try:
            if self.json_body is not None:
                yield self.json_body
                return
            yield from self._events
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()

    def abort(self) -> None:
        """Stop the stream from another thread (the panel's Stop button)."""
        abort_response(self._response)

    def __enter__(self) -> StreamResponse:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def redirect_error(response: requests.Response, key: Optional[str]) -> APIError:
    """A 3xx is not followed: the conversation and headers must not go to another origin."""
    location = redact(str(response.headers.get("location") or "(no Location)"), key)
    location = shortened(location, 200, "…")
    response.close()
    return APIError(
        f"the server redirects to {location!r}, which is not "
        "followed; set the base URL to the right server (%oai base-url)",
        status_code=response.status_code,
        request_id=debug_headers(response.headers, key).get("x-request-id"),
    )


def error_body(response: requests.Response, max_bytes: int = Limits.body_bytes) -> bytes:
    """An error response's body, read whole up to ``max_bytes``, and the response closed; a
    body too long or broken off is no body (b"")."""
    try:
        return read_body(response, max_bytes, "max_body_bytes", "the error body")
    except APIError:
        return b""


def error_from_response(response: requests.Response, key: Optional[str] = None,
                        raw_body: Optional[bytes] = None) -> APIError:
    """Turn an error response into our exception; an HTML page becomes a short readable line.

    Every string in it is redacted: servers echo the key in "Incorrect API key" messages.
    ``raw_body`` is the body when the caller has read it already (``error_body``).
    """
    status = response.status_code
    request_id = debug_headers(response.headers, key).get("x-request-id")
    if raw_body is None:
        raw_body = error_body(response)
    try:
        body: Any = redact_data(json.loads(raw_body.decode("utf-8")), key)
    except (ValueError, RecursionError):
        body = None
    finally:
        response.close()
    found = server_message(body)
    if found is not None:
        message, kind, code, param = found["message"], found["type"], found["code"], found["param"]
        if isinstance(code, int) or str(code) == str(status):
            code = None  # vLLM puts the status itself in ``code``
    else:
        reason = response.reason or http.client.responses.get(status, "error")
        content_type = response.headers.get("content-type", "").split(";")[0] or "no content type"
        message = f"{reason} (the server sent {content_type}, not an API error body)"
        kind = code = param = None
    cls = status_error_class(status)
    error = cls(
        redact(message, key),
        status_code=status,
        type=kind,
        code=str(code) if code is not None else None,
        param=param,
        request_id=request_id,
        body=body,
    )
    error.headers = debug_headers(response.headers, key)
    return error


def abort_response(response: requests.Response) -> None:
    """Shut the socket under a streaming response so a read blocked in another thread returns.

    ``close()`` alone does not wake a thread blocked in ``recv``; ``shutdown`` does.
    """
    fp = getattr(response.raw, "_fp", None)
    buffered = getattr(fp, "fp", None)
    sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(2)  # socket.SHUT_RDWR
        # The reading thread now gets EOF and closes the response itself (``with stream``);
        # closing it from here races that read (http.client's fp becomes None mid-read).
        return
    response.close()
