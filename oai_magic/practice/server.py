"""An offline OpenAI-compatible server: classroom demos without a key, and the test suite's backend.

Run ``python -m oai_magic.practice --port 8765`` and point ``base_url`` at the printed address.
Tests start a ``PracticeServer`` and queue ``Scripted`` responses to play faults over a real socket.
Standard library only. This module holds the server's state and life cycle; ``handler`` speaks
HTTP, and the answers live in ``answers`` (chat), ``audio`` and ``batch``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hmac
import socket
import sys
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

from .batch import BatchStore, RateLimit
from .handler import (
    BOUNDED_LOG_REQUESTS,
    LOGGED_BODY_BYTES,
    RATE_LIMIT_REQUESTS,
    PracticeHandler,
    PracticeHTTPServer,
    RecordedRequest,
    Scripted,
)
from .quirks import QUIRKS, check_quirks
from .wire import RequestError

__all__ = ["PracticeServer", "main"]


class PracticeServer:
    """Serves the practice API on a background daemon thread; ``with PracticeServer() as s:``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: Optional[str] = None,
                 token_delay: float = 0.0, quirks: Optional[str] = None,
                 log_limit: Optional[int] = None) -> None:
        """``log_limit``: keep only the last N requests, bodies cut to 4 KB (``%oai practice``
        and the command line); None keeps everything, byte-exact (test fixtures)."""
        self.host, self.port, self.token_delay = host, port, token_delay
        # A compatibility mode (see quirks.py); the header x-practice-quirks overrides it
        # for one request.
        self.quirks = check_quirks(quirks)
        self._api_key = api_key
        self.base_url = ""
        self.log_limit = log_limit
        self.requests: Any = [] if log_limit is None else collections.deque(maxlen=log_limit)
        self._cond = threading.Condition()
        self._scripts: List[Tuple[str, Deque[Scripted]]] = []
        self._connections: Dict[socket.socket, threading.Thread] = {}
        self._remaining = RATE_LIMIT_REQUESTS
        # Hashes of the prompts answered so far: a repeat reports cached tokens (bounded).
        self.seen_prompts: set = set()
        # Scripted rate limits (``RateLimit(60, 2.0)``): honest x-ratelimit-* headers on chat
        # requests and a 429 past the limit. None: the generous fixed headers.
        self.rate_limit: Optional[RateLimit] = None
        self.batches = BatchStore()  # /v1/files and /v1/batches
        self.stopping = threading.Event()
        self._httpd: Optional[PracticeHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return f"PracticeServer(base_url={self.base_url!r}, key_required={self._api_key is not None})"

    def start(self) -> PracticeServer:
        if self._httpd is not None:
            return self
        self.stopping.clear()
        httpd = PracticeHTTPServer((self.host, self.port), PracticeHandler)
        httpd.practice = self
        self._httpd, self.port = httpd, httpd.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}/v1"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"practice-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake paused streams, close open connections, join the threads."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._cond:
            connections = dict(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in [self._thread, *connections.values()]:
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> PracticeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def script(self, path_suffix: str, *responses: Scripted) -> None:
        """Queue responses for the next requests whose path ends with ``path_suffix`` (FIFO)."""
        with self._cond:
            for suffix, queue in self._scripts:
                if suffix == path_suffix:
                    queue.extend(responses)
                    return
            self._scripts.append((path_suffix, deque(responses)))

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> List[RecordedRequest]:
        """Block until ``n`` requests have arrived (TimeoutError otherwise); return them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"the practice server got {len(self.requests)} requests, "
                                   f"expected {n} within {timeout} s")
            return list(self.requests)

    # -- used by the handler threads

    def record(self, request: RecordedRequest) -> int:
        if self.log_limit is not None and len(request.body) > LOGGED_BODY_BYTES:
            request = RecordedRequest(request.method, request.path, request.headers,
                                      request.body[:LOGGED_BODY_BYTES])
        with self._cond:
            self.requests.append(request)
            self._remaining = self._remaining - 1 if self._remaining > 1 else RATE_LIMIT_REQUESTS
            self._cond.notify_all()
            return self._remaining

    def next_scripted(self, path: str) -> Optional[Scripted]:
        with self._cond:
            for suffix, queue in self._scripts:
                if queue and path.endswith(suffix):
                    return queue.popleft()
        return None

    def track_connection(self, conn: socket.socket, thread: Optional[threading.Thread]) -> None:
        with self._cond:
            if thread is None:
                self._connections.pop(conn, None)
            else:
                self._connections[conn] = thread

    def check_key(self, authorization: str) -> None:
        """Any request is answered, with or without a key (the README promises "no key
        needed"), unless the server was started with ``--key``: then exactly that key."""
        if self._api_key is None:
            return
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise RequestError(401, "You didn't provide an API key. You need to provide your API "
                               "key in an Authorization header using Bearer auth (i.e. "
                               "Authorization: Bearer YOUR_KEY).", code="invalid_api_key")
        if not hmac.compare_digest(token.encode(), self._api_key.encode()):
            raise RequestError(401, "Incorrect API key provided. This practice server was started "
                               "with --key; use that key.", code="invalid_api_key")


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m oai_magic.practice``: print the base URL, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m oai_magic.practice",
        description="Offline OpenAI-compatible practice server (no key, no network, no model).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.02,
                        help="seconds between streamed tokens (default 0.02)")
    parser.add_argument("--key", default=None,
                        help="require exactly this API key (default: no key needed, any key accepted)")
    parser.add_argument("--quirks", choices=QUIRKS, default=None,
                        help="behave like another server: llamacpp (llama-cpp-python's server), "
                             "faster-whisper (faster-whisper-server) or speech-only (a speech "
                             "server with one model and no other endpoint)")
    parser.add_argument("--rate-limit", metavar="N/SECONDS", default=None,
                        help="allow N chat requests per window of SECONDS (e.g. 60/2), with honest "
                             "x-ratelimit-* headers and a 429 past the limit")
    parser.add_argument("--refill", action="store_true",
                        help="with --rate-limit: refill continuously, as OpenAI does, instead of "
                             "fixed windows")
    args = parser.parse_args(argv)
    server = PracticeServer(args.host, args.port, api_key=args.key, token_delay=args.delay,
                            quirks=args.quirks, log_limit=BOUNDED_LOG_REQUESTS)
    if args.rate_limit:
        try:
            count, window = args.rate_limit.split("/")
            server.rate_limit = RateLimit(int(count), float(window), continuous=args.refill)
        except ValueError:
            parser.error("--rate-limit takes N/SECONDS, e.g. 60/2")
    try:
        server.start()
    except OSError as exc:
        print(f"practice server: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    try:  # from here on a Ctrl-C stops the server quietly, however early it comes
        print(server.base_url, flush=True)
        print("Practice server running: use the base URL above with "
              f"{'the key given by --key' if args.key else 'no API key needed (any key is accepted)'}. "
              "Ctrl-C stops it.",
              file=sys.stderr, flush=True)
        while server._thread is not None and server._thread.is_alive():
            server._thread.join(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
