"""An OpenAI-compatible server that answers with what a hostile or broken server might send.

Each reply is a *mode*, chosen by the first path segment: the base URL
``http://127.0.0.1:PORT/<mode>/v1`` makes every request of that session get that reply. Replies
that echo the key echo the ``Authorization`` header the client sent, as a real server's
"Incorrect API key provided: ..." does. Every request is kept (test fixtures may keep all).
"""

from __future__ import annotations

import gzip
import json
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

PHISH = r"$\href{https://phish.example/login}{\Large\text{Session expired: click here}}$"


def sse(payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def chunk(content: Optional[str] = None, finish: Optional[str] = None, model: str = "gpt-4o-mini",
          **delta: Any) -> Dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-h", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Reply:
    """What one mode sends: a status, headers, and a body (bytes, or a list of SSE pieces)."""

    def __init__(self, status: int = 200, headers: Optional[Dict[str, str]] = None,
                 body: Any = b"", *, stream: bool = False, hang: bool = False,
                 length: Optional[int] = None, raw: bool = False) -> None:
        self.status, self.headers, self.body = status, headers or {}, body
        self.stream, self.hang = stream, hang
        self.length = length  # a body given as pieces, sent with this content-length
        self.raw = raw  # the pieces are written as they are: the test writes its own framing


def _key(auth: str) -> str:
    return auth[len("Bearer "):] if auth.startswith("Bearer ") else auth


def _error(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 "code": "invalid_api_key", "param": None}}).encode()
    return Reply(status, {"content-type": "application/json", **(headers or {})}, body)


def _stream(pieces: List[bytes], headers: Optional[Dict[str, str]] = None) -> Reply:
    return Reply(200, {"content-type": "text/event-stream", **(headers or {})}, pieces, stream=True)


def _json(data: Any, headers: Optional[Dict[str, str]] = None) -> Reply:
    return Reply(200, {"content-type": "application/json", **(headers or {})},
                 json.dumps(data).encode())


def _models(key: str) -> Reply:
    data = [{"id": f"gpt-4o-{i:05d}", "object": "model", "created": 1700000000, "owned_by": "x"}
            for i in range(3000)]
    data.insert(0, {"id": key, "object": "model", "created": 1e20, "owned_by": key})
    data.insert(1, {"id": f"gpt-{PHISH}", "object": "model", "created": 1700000000,
                    "owned_by": PHISH})
    return _json({"object": "list", "data": data})


TOOL_CALLS: Dict[str, List[Tuple[str, Dict[str, Any]]]] = {
    "tools_extra_arg": [("f", {"x": 1, "evil": 2})],
    "tools_bool_int": [("f", {"x": True})],
    "tools_int_float": [("g", {"y": 3})],
    "tools_many": [("f", {"x": i}) for i in range(10)],
    "tools_bidi": [("h", {"path": "/home/user/\u202etxt.exe"})],
}


def _tool_round(mode: str, body: bytes) -> Reply:
    """Tool calls first; once the request carries tool results, a text answer."""
    messages = json.loads(body or b"{}").get("messages") or []
    if any(m.get("role") == "tool" for m in messages):
        return _stream([sse(chunk("Done.", "stop")), sse("[DONE]")])
    calls = [{"index": i, "id": f"call_{i}", "type": "function",
              "function": {"name": name, "arguments": json.dumps(args)}}
             for i, (name, args) in enumerate(TOOL_CALLS[mode])]
    return _stream([sse(chunk(None, tool_calls=calls)), sse(chunk(None, "tool_calls")),
                    sse("[DONE]")])


# More modes, registered by other modules (tests/hostile_replies.py): name -> reply function of
# (endpoint, key, body), so each family of payloads lives in its own file. A name ending in "-"
# is a family ("enc-" serves "enc-3-5"): its function takes the mode and gives the reply function.
MORE_MODES: Dict[str, Any] = {}
# --- floods and numbers (issue 25) -----------------------------------------------------------

MB = 1 << 20
_bombs: Dict[str, bytes] = {}


def gzip_bomb(prefix: bytes, block: bytes, count: int, suffix: bytes = b"") -> bytes:
    """gzip of ``prefix + block * count + suffix`` at about 1000:1, made in milliseconds.

    After a full flush the compressor starts afresh, so every further ``block`` compresses to the
    same bytes: one is compressed and repeated. The trailer's CRC is left at 0 (computing it
    would read gigabytes): a bomb does its harm long before a decoder reaches the trailer.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    one = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(suffix) + compressor.flush()
    size = (len(prefix) + len(block) * count + len(suffix)) & 0xFFFFFFFF
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + one * count + tail
            + struct.pack("<II", 0, size))


def _bomb(name: str) -> bytes:
    """The bombs, made once per test run."""
    if name not in _bombs:
        if name == "stream":  # 1 GB: a first event, then one endless line of text
            _bombs[name] = gzip_bomb(sse(chunk("Start. ")) + b'data: {"choices": [{"index": 0, '
                                     b'"delta": {"content": "', b"x" * MB, 1024)
        elif name == "json":  # 3 GB: one answer whose content never ends
            _bombs[name] = gzip_bomb(b'{"id": "chatcmpl-h", "object": "chat.completion", '
                                     b'"model": "gpt-4o-mini", "choices": [{"index": 0, '
                                     b'"message": {"role": "assistant", "content": "',
                                     b"x" * MB, 3072, b'"}, "finish_reason": "stop"}]}')
        else:  # 1 GB of good batch output lines, answering items 0, 1 and 2 over and over
            lines = b"".join(batch_line(i) for i in range(3))
            _bombs[name] = gzip_bomb(b"", lines * (MB // len(lines)), 1024)
    return _bombs[name]


def batch_line(index: int) -> bytes:
    body = {"id": "chatcmpl-b", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"answer {index}"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    return json.dumps({"id": f"batch_req_{index}", "custom_id": str(index),
                       "response": {"status_code": 200, "request_id": f"req_{index}",
                                    "body": body}, "error": None}).encode() + b"\n"


BATCH = {"id": "batch_h", "object": "batch", "endpoint": "/v1/chat/completions",
         "status": "completed", "output_file_id": "file_bomb", "error_file_id": None,
         "request_counts": {"total": 3, "completed": 3, "failed": 0}}


def _huge_body(size: int) -> Reply:
    """A whole (not streamed) JSON answer of ``size`` bytes, written piece by piece."""
    head = (b'{"id": "chatcmpl-h", "object": "chat.completion", "model": "gpt-4o-mini", '
            b'"choices": [{"index": 0, "message": {"role": "assistant", "content": "')
    tail = b'"}, "finish_reason": "stop"}]}'
    pieces = [head] + [b"y" * MB] * ((size - len(head) - len(tail)) // MB) + [tail]
    return Reply(200, {"content-type": "application/json"}, iter(pieces),
                 length=sum(len(p) for p in pieces))


def _event_flood(lines: int) -> Reply:
    """One event whose JSON is split over ``lines`` data: lines of 1 MB, never ended."""
    def pieces():
        yield sse(chunk("Start. "))
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "\n'
        for _ in range(lines):
            yield b"data: " + b"z" * MB + b"\n"
    return _stream(pieces())


def _answer(text: str, usage: Any = None, **message: Any) -> bytes:
    data = {"id": "chatcmpl-h", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text, **message}}]}
    if usage is not None:
        data["usage"] = usage
    return json.dumps(data).encode()


def _raw_chunked(size_line: bytes) -> Reply:
    """A chunked stream whose second chunk has the size line ``size_line``."""
    first = sse(chunk("Before the bad chunk. "))
    return Reply(200, {"content-type": "text/event-stream", "transfer-encoding": "chunked"},
                 [b"%x\r\n%s\r\n" % (len(first), first), size_line + b"\r\n",
                  b"data: more\n\n" * 10], raw=True)


def _usage_echo(body: bytes) -> Reply:
    """The last user message, taken as raw JSON text, is every token count of the usage."""
    messages = json.loads(body or b"{}").get("messages") or [{}]
    raw = str(messages[-1].get("content") or "0").strip()
    text = sse(chunk("Counted.", "stop"))
    usage = (b'data: {"id": "chatcmpl-h", "object": "chat.completion.chunk", "model": '
             b'"gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": %s, "completion_tokens": '
             b'%s, "total_tokens": 3, "prompt_tokens_details": {"cached_tokens": %s}}}\n\n'
             % ((raw.encode(),) * 3))
    return _stream([text, usage, sse("[DONE]")])


RATE_RESETS = {"reset_inf": "inf", "reset_1e308": "1e308", "reset_hours": "99999999h",
               "reset_nan": "nan", "reset_negative": "-5", "reset_none": None}


def _rate_limited(mode: str) -> Reply:
    headers = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "0"}
    if RATE_RESETS[mode] is not None:
        headers["x-ratelimit-reset-requests"] = RATE_RESETS[mode]
    return Reply(200, {"content-type": "application/json", **headers}, _answer("Paced."))


def _flood_or_number(mode: str, endpoint: str, body: bytes) -> Optional[Reply]:
    """The replies of issue 25: floods of bytes, and numbers no server should send."""
    if mode in ("gzip_stream", "gzip_json"):
        bomb = _bomb("stream" if mode == "gzip_stream" else "json")
        kind = "text/event-stream" if mode == "gzip_stream" else "application/json"
        # One HTTP chunk: a client that inflates whole chunks gets the gigabytes at once.
        return _stream([bomb], {"content-type": kind, "content-encoding": "gzip"})
    if mode == "gzip_batch":
        if endpoint.startswith("batches"):
            return _json(BATCH)
        return Reply(200, {"content-type": "application/octet-stream",
                           "content-encoding": "gzip"}, _bomb("batch"))
    if mode == "huge_body":
        return _huge_body(200 * MB)
    if mode == "event_flood":
        return _event_flood(1000)
    if mode == "chunk_huge":
        return _raw_chunked(b"7fffffffffffffff")
    if mode == "chunk_negative":
        return _raw_chunked(b"-10")
    if mode == "usage_echo":
        return _usage_echo(body)
    if mode in ("digits5000", "nested"):
        text = ('{"x": ' + "7" * 5000 + "}" if mode == "digits5000"
                else '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
        return Reply(200, {"content-type": "application/json"}, _answer(text))
    if mode == "extra_choices":
        return _stream([sse(chunk("First choice. ")),
                        sse({"choices": [{"index": 3, "delta": {"content": "uninvited"}}]}),
                        sse(chunk(None, "stop")), sse("[DONE]")])
    if mode in ("refusal_flood", "reasoning_flood", "arguments_flood"):
        field = {"refusal_flood": "refusal", "reasoning_flood": "reasoning_content"}.get(mode)
        def delta(i: int) -> Dict[str, Any]:
            if field:
                return {field: "no " * 1000}
            return {"tool_calls": [{"index": 0, "id": "call_a" if i == 0 else None,
                                    "function": {"name": "f" if i == 0 else None,
                                                 "arguments": '{"x": "' if i == 0 else "a" * 3000}}]}
        return _stream([sse(chunk("Kept. "))] + [sse(chunk(None, **delta(i))) for i in range(200)]
                       + [sse(chunk(None, "stop")), sse("[DONE]")])
    if mode in ("deflate_zlib", "deflate_raw", "gzip_members"):
        whole = sse(chunk("Compressed ")) + sse(chunk("answer.", "stop")) + sse("[DONE]")
        if mode == "gzip_members":  # two gzip members one after the other (RFC 1952 allows it)
            half = len(whole) // 2
            data, encoding = gzip.compress(whole[:half]) + gzip.compress(whole[half:]), "gzip"
        else:
            wbits = zlib.MAX_WBITS if mode == "deflate_zlib" else -zlib.MAX_WBITS
            packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
            data, encoding = packer.compress(whole) + packer.flush(), "deflate"
        return _stream([data[i:i + 7] for i in range(0, len(data), 7)],
                       {"content-encoding": encoding})
    if mode in RATE_RESETS:
        return _rate_limited(mode)
    if mode.startswith("retry_after_"):
        return _error(429, "Rate limit reached", {"retry-after": mode[len("retry_after_"):]})
    return None


def reply_for(mode: str, endpoint: str, auth: str, body: bytes = b"") -> Reply:
    """The reply of ``mode`` to a request for ``endpoint`` (``chat/completions``, ``models``...)."""
    key = _key(auth)
    if mode in MORE_MODES:
        return MORE_MODES[mode](endpoint, key, body)
    if mode.split("-")[0] + "-" in MORE_MODES:
        return MORE_MODES[mode.split("-")[0] + "-"](mode)(endpoint, key, body)
    flood = _flood_or_number(mode, endpoint, body)
    if flood is not None:
        return flood
    if mode in TOOL_CALLS:
        return _tool_round(mode, body)
    if mode == "tools_key_split":  # the key split across three argument fragments
        if b'"role": "tool"' in body or b'"role":"tool"' in body:
            return _stream([sse(chunk("Done.", "stop")), sse("[DONE]")])
        first = {"index": 0, "id": "call_k", "type": "function",
                 "function": {"name": "f", "arguments": '{"x": 1, "note": "' + key[:10]}}
        pieces = [{"index": 0, "function": {"arguments": part}}
                  for part in (key[10:20], key[20:] + '"}')]  # each under 12 characters
        return _stream([sse(chunk(None, tool_calls=[first]))]
                       + [sse(chunk(None, tool_calls=[p])) for p in pieces] + [
                        sse(chunk(None, "tool_calls")), sse("[DONE]")])
    if mode == "echo401":
        return _error(401, f"Incorrect API key provided: Bearer {key}. You can find your API key "
                           "at https://platform.openai.com/account/api-keys.",
                      {"x-request-id": "req_h401", "x-ratelimit-remaining-requests": "7"})
    if endpoint == "models" and mode == "key_everywhere":
        return _models(key)
    if mode == "key_everywhere":
        headers = {"x-request-id": key, "openai-organization": f"org-{key}",
                   "x-ratelimit-remaining-requests": key}
        if endpoint.startswith("audio/"):
            return _json({"text": f"heard {key[:16]}-{key[16:]} and {key}"}, headers)
        half = len(key) // 2
        pieces = [sse(chunk("Your key is ", model=key)), sse(chunk(key[:half])),
                  sse(chunk(key[half:])), sse(chunk(" and again " + key, "stop")), sse("[DONE]")]
        return _stream(pieces, headers)
    if mode == "stream_error_key":
        return _stream([sse(chunk("Partial answer ")),
                        sse({"error": {"message": f"server trouble with key {key}",
                                       "type": "server_error"}})],
                       {"x-request-id": "req_herr"})
    if mode == "tex_headers":
        return _stream([sse(chunk("Prices $5 and $10.", model=f"gpt-{PHISH}")),
                        sse(chunk(None, "stop")), sse("[DONE]")],
                       {"x-request-id": PHISH, "openai-organization": PHISH})
    if mode == "invalid_utf8":
        return _stream([sse(chunk("Kept part ")), b'data: {"choices": [{"index": 0, "delta": '
                        b'{"content": "\xff\xfe broken"}}]}\n\n', sse("[DONE]")])
    if mode == "surrogate":
        return _stream([sse(chunk("Lone ")), b'data: {"choices": [{"index": 0, "delta": '
                        b'{"content": "\\ud800 surrogate"}, "finish_reason": "stop"}]}\n\n',
                        sse("[DONE]")])
    if mode == "list_json":
        return _json([{"choices": []}])
    if mode == "int_content":
        return _stream([sse(chunk("Number next: ")),
                        sse({"choices": [{"index": 0, "delta": {"content": 5}}]}), sse("[DONE]")])
    if mode == "segments5":
        return _json({"text": "hello", "language": "en", "duration": 1.0, "segments": 5,
                      "words": "many"})
    if mode == "odd_ratelimit":
        return _stream([sse(chunk("Fine answer.", "stop")), sse("[DONE]")],
                       {"x-ratelimit-remaining-requests": "²", "x-request-id": "req_odd"})
    if mode == "html200":
        return Reply(200, {"content-type": "text/html"}, b"<html><body>Login page</body></html>")
    if mode.startswith("redirect"):
        status = int(mode[len("redirect"):] or 307)
        return Reply(status, {"location": f"https://elsewhere.example/v1?leak={key}"}, b"")
    if mode == "long_line":
        return _stream([sse(chunk("Start. ")), b'data: {"choices": [{"index": 0, "delta": '
                        b'{"content": "' + b"x" * 300_000 + b'"}}]}\n\n', sse("[DONE]")])
    if mode == "endless":
        return _stream([sse(chunk("word " * 2000)) for _ in range(200)] + [sse("[DONE]")])
    if mode == "unexpected_tools":
        call = {"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "delete_everything", "arguments": '{"path": "/"}'}}
        return _stream([sse(chunk("Let me call a tool. ", tool_calls=[call])),
                        sse(chunk(None, "tool_calls")), sse("[DONE]")])
    if mode == "control_sequences":
        return _stream([sse(chunk("\x1b]52;c;ZXZpbA==\x07clipboard \x1b[2J\x1b[31mred\x1b[0m",
                                  model="gpt-\x1b[5mx")), sse(chunk(None, "stop")), sse("[DONE]")],
                       {"x-request-id": "req_\x1b]0;title"})
    if mode == "unclosed_math":  # 200 KB of lines that open display math and never close it
        text = "\\[ x\n" * 41_000
        return _json({"id": "chatcmpl-h", "object": "chat.completion", "model": "gpt-4o-mini",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": text}}]})
    if mode == "retry_later":
        return _error(503, "overloaded", {"retry-after": "60"})
    if mode == "hang":
        return Reply(hang=True)
    if mode == "error429":
        return _error(429, "Rate limit reached", {"x-ratelimit-remaining-requests": "0",
                                                  "x-request-id": "req_h429"})
    return _stream([sse(chunk("All good.", "stop")), sse("[DONE]")], {"x-request-id": "req_ok"})


class HostileServer:
    """A threaded server on 127.0.0.1, port 0; ``base_url(mode)`` points a session at a mode."""

    def __init__(self) -> None:
        self.requests: List[Tuple[str, Dict[str, str], bytes]] = []
        self.release = threading.Event()  # lets "hang" replies end when the test is over
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.arrived:
                    outer.requests.append((self.path, dict(self.headers), body))
                    outer.arrived.notify_all()
                parts = self.path.split("?")[0].strip("/").split("/")
                mode, endpoint = parts[0], "/".join(parts[2:])
                reply = reply_for(mode, endpoint, self.headers.get("authorization", ""), body)
                if reply.hang:
                    outer.release.wait(30)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.raw:
                    self.end_headers()
                    for piece in reply.body:
                        self.wfile.write(piece)
                    self.close_connection = True
                    return
                if reply.length is not None:
                    self.send_header("content-length", str(reply.length))
                    self.end_headers()
                    for piece in reply.body:
                        self.wfile.write(piece)
                    return
                if reply.stream:
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for piece in reply.body:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            do_GET = do_POST = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that hang up early are part of the game

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests have arrived in total."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def base_url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


ALL_MODES: List[str] = [
    "echo401", "key_everywhere", "stream_error_key", "tex_headers", "invalid_utf8", "surrogate",
    "list_json", "int_content", "odd_ratelimit", "html200", "redirect307", "redirect302",
    "unexpected_tools", "error429",
]
