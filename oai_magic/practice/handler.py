"""The practice server's HTTP side: read a request, record it, answer it (scripted or from
the practice API), and write the bytes: whole, chunked SSE, or close-delimited.

``PracticeServer`` (``server.py``) owns the state these handlers read: recorded requests,
scripts, quirks, rate limits, batches.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import socketserver
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Dict, Optional
from urllib.parse import urlsplit

from .answers import chat_reply
from .audio import audio_reply, parse_multipart
from .quirks import (
    check_quirks,
    detail_reply,
    faster_whisper_audio,
    llamacpp_chat,
    speech_only_audio,
)
from .wire import Reply, RequestError, error_body, models_reply

if TYPE_CHECKING:
    from .server import PracticeServer

# Sent with every response (CONTRACTS 4); clients show a "practice" badge when they see it.
PRACTICE_HEADER = "x-oai-practice"
RATE_LIMIT_REQUESTS = 10_000
RATE_LIMIT_TOKENS = 200_000
MAX_BODY_BYTES = 64 * 1024 * 1024
LOGGED_BODY_BYTES = 4096  # per request in a bounded log
BOUNDED_LOG_REQUESTS = 100
_ROUTES = {"/v1/models": "GET", "/v1/chat/completions": "POST",
           "/v1/audio/transcriptions": "POST", "/v1/audio/translations": "POST"}


@dataclass(repr=False)
class RecordedRequest:
    """One request as the server received it (header names lowercased, body byte-exact)."""

    method: str
    path: str
    headers: dict
    body: bytes
    json: object = None
    form: list = field(default_factory=list)

    def __repr__(self) -> str:
        # Reprs end up in test failure output: never show the key.
        shown = {k: ("Bearer ***" if k == "authorization" else v) for k, v in self.headers.items()}
        return (f"RecordedRequest(method={self.method!r}, path={self.path!r}, headers={shown!r}, "
                f"body=<{len(self.body)} bytes>, json={self.json!r}, form={len(self.form)} parts)")


@dataclass
class Scripted:
    """A canned response for fault tests: status, headers, body or chunks, and how to send them."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    chunks: Optional[list] = None
    chunk_delay: float = 0.0
    close_delimited: bool = False
    abort_after: Optional[int] = None
    gate: Optional[threading.Event] = None
    gate_before: int = 0


class PracticeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    practice: PracticeServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn): slow, not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client going away is not news
            super().handle_error(request, client_address)


class _Stop(Exception):
    """The server is stopping: abandon the response."""


class PracticeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oai-magic-practice/1"
    sys_version = ""
    server: PracticeHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.practice.track_connection(self.connection, threading.current_thread())

    def finish(self) -> None:
        self.server.practice.track_connection(self.connection, None)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, _Stop):  # client disconnected or server stopping: stop quietly
            self.close_connection = True

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args) -> None:
        """Silent: request lines and errors could carry prompts or keys."""

    def _serve(self) -> None:
        """Read and record the request, then answer it: scripted first, else the practice API."""
        practice = self.server.practice
        self._started = time.monotonic()
        headers: Dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self._request_headers = headers
        self._rate_headers: Dict[str, str] = {}
        body = self._read_body()
        if body is None:
            return
        ctype = headers.get("content-type", "")
        parsed, form = None, []
        if "json" in ctype.lower():
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):
                parsed = None
        if ctype.lower().startswith("multipart/form-data"):
            try:
                form = parse_multipart(body, ctype)
            except RequestError:
                form = []
        self._remaining = practice.record(
            RecordedRequest(self.command, self.path, headers, body, parsed, form))
        path = urlsplit(self.path).path
        try:
            self._quirks = check_quirks(headers.get("x-practice-quirks", practice.quirks))
        except ValueError as exc:
            self._quirks = None
            self._send_reply(RequestError(400, str(exc)).reply())
            return
        scripted = practice.next_scripted(path)
        if scripted is not None:
            self._send_scripted(scripted)
            return
        limit = practice.rate_limit
        if limit is not None and path == "/v1/chat/completions":
            allowed, self._rate_headers = limit.take()
            if not allowed:
                self._send_reply(limit.refusal(self._rate_headers))
                return
        try:
            reply = self._route(path, body, ctype, form)
        except RequestError as exc:
            reply = exc.reply()
        except Exception:
            traceback.print_exc()
            reply = Reply(500, body=error_body("The practice server failed; see its console.",
                                               "server_error"))
        self._send_reply(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _route(self, path: str, body: bytes, ctype: str, form: list) -> Reply:
        if self._quirks == "speech-only":
            if path != "/v1/audio/transcriptions" or self.command != "POST":
                return detail_reply(404, "Not Found")
            return speech_only_audio(form or parse_multipart(body, ctype), audio_reply)
        if path.startswith(("/v1/files", "/v1/batches")) and self._quirks is None:
            self.server.practice.check_key(self._request_headers.get("authorization", ""))
            reply = self.server.practice.batches.route(self.command, path, body, form)
            if reply is not None:
                return reply
        method = _ROUTES.get(path, "GET" if path.startswith("/v1/models/") else None)
        if method is None:
            raise RequestError(404, f"Invalid URL ({self.command} {path})")
        if self.command != method:
            raise RequestError(405, f"Method {self.command} is not allowed for {path}; "
                               f"use {method}.")
        quirks = self._quirks
        if quirks is None:
            self.server.practice.check_key(self._request_headers.get("authorization", ""))
        if quirks == "faster-whisper" and path.startswith("/v1/models"):
            return detail_reply(404, "Not Found")
        if quirks == "llamacpp" and path == "/v1/chat/completions":
            try:
                return llamacpp_chat(json.loads(body))
            except ValueError:
                return detail_reply(422, [{"type": "json_invalid", "loc": ["body", 0],
                                           "msg": "JSON decode error"}])
        if path == "/v1/models":
            return models_reply()
        if path.startswith("/v1/models/"):
            return models_reply(path[len("/v1/models/"):])
        if path == "/v1/chat/completions":
            try:
                request = json.loads(body)
            except (ValueError, RecursionError):
                raise RequestError(400, "We could not parse the JSON body of your request. The "
                                   "OpenAI API expects a JSON payload.") from None
            seen = self.server.practice.seen_prompts
            if len(seen) > 1000:
                seen.clear()
            return chat_reply(request, seen_prompts=seen)
        if not form:
            form = parse_multipart(body, ctype)  # raises the reason it is unusable
        if quirks == "faster-whisper":
            task = "transcribe" if path.endswith("transcriptions") else "translate"
            return faster_whisper_audio(form, task, audio_reply)
        return audio_reply(form, "transcribe" if path.endswith("transcriptions") else "translate")

    def _read_body(self) -> Optional[bytes]:
        """The whole request body (Content-Length or chunked); None after refusing it."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                parts, total = [], 0
                while True:
                    size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
                    if size < 0:
                        raise ValueError(size)  # read(-1) would read until the peer closes
                    if size == 0:
                        while self.rfile.readline(8192).strip():
                            pass  # trailers
                        return b"".join(parts)
                    total += size
                    if total > MAX_BODY_BYTES:
                        break
                    parts.append(self.rfile.read(size))
                    self.rfile.readline(8)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                if length < 0:
                    raise ValueError(length)
                if length <= MAX_BODY_BYTES:
                    return self.rfile.read(length) if length else b""
        except ValueError:
            self.close_connection = True
            self._send_reply(RequestError(400, "Malformed request body framing.").reply())
            return None
        self.close_connection = True
        self._send_reply(RequestError(413, f"Request body larger than {MAX_BODY_BYTES} bytes.",
                                      code="request_too_large").reply())
        return None

    def _send_head(self, status: int, content_type: Optional[str], extra: dict,
                   length: Optional[int] = None, chunked: bool = False, close: bool = False) -> None:
        req = self._request_headers
        headers = {
            "x-request-id": f"req_{secrets.token_hex(16)}",
            "openai-processing-ms": str(int((time.monotonic() - self._started) * 1000)),
            "openai-version": "2020-10-01",
            "openai-organization": req.get("openai-organization") or "user-practice",
            "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
            "x-ratelimit-remaining-requests": str(getattr(self, "_remaining", RATE_LIMIT_REQUESTS)),
            "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
            "x-ratelimit-remaining-tokens": str(
                RATE_LIMIT_TOKENS - min(RATE_LIMIT_TOKENS, int(req.get("content-length") or 0) // 4)),
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "1ms",
            # CONTRACTS 4: the practice server says what it is out of band, never in the content.
            PRACTICE_HEADER: "1",
        }
        headers.update(getattr(self, "_rate_headers", None) or {})
        if req.get("openai-project"):
            headers["openai-project"] = req["openai-project"]
        if getattr(self, "_quirks", None) is not None:
            # Servers that are not OpenAI send none of its headers: no request id, no billing.
            headers = {name: value for name, value in headers.items()
                       if not name.startswith(("openai-", "x-ratelimit-", "x-request-id"))}
        if content_type:
            headers["content-type"] = content_type
        if length is not None:
            headers["content-length"] = str(length)
        if chunked:
            headers["transfer-encoding"] = "chunked"
        if close:
            headers["connection"] = "close"
        names = {k.lower(): k for k in headers}
        for name, value in extra.items():
            headers.pop(names.get(name.lower(), name), None)
            headers[name] = str(value)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self.server.practice.stopping.wait(seconds):
            raise _Stop

    def _write_chunk(self, data: bytes) -> None:
        if data:  # an empty HTTP chunk would end the body
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_reply(self, reply: Reply) -> None:
        self._pause(reply.delay)
        if reply.events is None:
            self._send_head(reply.status, reply.content_type, reply.headers, length=len(reply.body))
            self.wfile.write(reply.body)
            return
        self._send_head(reply.status, reply.content_type,
                        {"Cache-Control": "no-cache", **reply.headers}, chunked=True)
        practice = self.server.practice
        for event, paced in reply.events:
            if paced:
                self._pause(practice.token_delay if reply.pace is None else reply.pace)
            self._write_chunk(event)
        self.wfile.write(b"0\r\n\r\n")

    def _send_scripted(self, s: Scripted) -> None:
        pieces = list(s.chunks) if s.chunks is not None else [s.body]
        chunked = s.chunks is not None and not s.close_delimited
        length = None if chunked or s.close_delimited else sum(len(p) for p in pieces)
        default_type = "text/event-stream; charset=utf-8" if s.chunks is not None else (
            "application/json")
        self._send_head(s.status, default_type, s.headers, length=length, chunked=chunked,
                        close=s.close_delimited)
        for i in range(len(pieces) + 1):
            if s.gate is not None and i == s.gate_before:
                while not s.gate.wait(0.05):
                    if self.server.practice.stopping.is_set():
                        raise _Stop
            if s.abort_after is not None and i >= s.abort_after:
                self.close_connection = True  # FIN with no terminating chunk: body cut short
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if i == len(pieces):
                break
            if i > 0:
                self._pause(s.chunk_delay)
            if chunked:
                self._write_chunk(pieces[i])
            else:
                self.wfile.write(pieces[i])
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
