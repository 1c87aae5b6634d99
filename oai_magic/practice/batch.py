"""The practice server's ``/v1/files`` and ``/v1/batches``, and its scripted rate limits.

Files are kept in memory. A batch moves validating → in_progress → completed within
``batch_seconds`` of its creation, worked out when it is asked about, so there is no thread; each
line is answered as the chat endpoint would, and the output file lists them in reverse order (the
real API promises no order: clients must map by ``custom_id``). Cancelling keeps the lines done so
far. Standard library only.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from .answers import chat_reply
from .wire import Reply, RequestError, error_body

BATCH_MAX_REQUESTS = 50_000  # the Batch API's per-file limits
BATCH_MAX_BYTES = 200 * 1024 * 1024


def go_duration(seconds: float) -> str:
    """Seconds as OpenAI writes them in ``x-ratelimit-reset-*``: ``120ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, int(math.ceil(seconds * 1000)))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{int(rest)}s"


class RateLimit:
    """``requests`` per ``window`` seconds, either as fixed windows or refilling continuously
    (OpenAI's way); ``take`` says whether a request fits and the honest headers to send."""

    def __init__(self, requests: int, window: float, continuous: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.continuous, self._clock = requests, window, continuous, clock
        self._lock = threading.Lock()
        self._start = clock()
        self._used = 0
        self._level = float(requests)
        self._last = self._start
        self.refused = 0

    def take(self) -> Tuple[bool, Dict[str, str]]:
        with self._lock:
            now = self._clock()
            if self.continuous:
                rate = self.limit / self.window
                self._level = min(self.limit, self._level + rate * (now - self._last))
                self._last = now
                allowed = self._level >= 1
                if allowed:
                    self._level -= 1
                remaining = int(self._level)
                reset = (self.limit - self._level) / rate
                retry = 0.0 if allowed else (1 - self._level) / rate
            else:
                if now - self._start >= self.window:
                    self._start += self.window * int((now - self._start) // self.window)
                    self._used = 0
                allowed = self._used < self.limit
                if allowed:
                    self._used += 1
                remaining = self.limit - self._used
                reset = self._start + self.window - now
                retry = 0.0 if allowed else reset
            if not allowed:
                self.refused += 1
        headers = {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": go_duration(reset),
            "x-ratelimit-limit-tokens": "10000000",
            "x-ratelimit-remaining-tokens": "10000000",
            "x-ratelimit-reset-tokens": "0s",
        }
        if not allowed:
            headers["retry-after-ms"] = str(int(math.ceil(retry * 1000)))
        return allowed, headers

    def refusal(self, headers: Dict[str, str]) -> Reply:
        wait = int(headers.get("retry-after-ms", "0")) / 1000
        return Reply(429, headers=headers, body=error_body(
            f"Rate limit reached for requests on the practice server: Limit {self.limit}, "
            f"Used {self.limit}, Requested 1. Please try again in {go_duration(wait)}.",
            "requests", "rate_limit_exceeded"))


def _json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, body=json.dumps(obj).encode())


class BatchStore:
    """Uploaded files and batches of one practice server."""

    def __init__(self) -> None:
        self.files: Dict[str, Dict[str, Any]] = {}
        self.contents: Dict[str, bytes] = {}
        self.batches: Dict[str, Dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.batch_seconds = 1.0  # from creation to completed
        self.clock: Callable[[], float] = time.monotonic  # tests stop time to cancel half-way

    # --- files ------------------------------------------------------------------------

    def _add_file(self, name: str, purpose: str, data: bytes) -> Dict[str, Any]:
        file_id = f"file-{secrets.token_hex(12)}"
        info = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}
        self.files[file_id] = info
        self.contents[file_id] = data
        return info

    def upload(self, form: list) -> Reply:
        fields = {part.name: part for part in form}
        purpose = fields.get("purpose")
        upload = fields.get("file")
        if purpose is None or not purpose.value:
            raise RequestError(400, "Missing required parameter: 'purpose'.", param="purpose")
        if upload is None or upload.filename is None:
            raise RequestError(400, "Missing required parameter: 'file'.", param="file")
        if purpose.value == "batch":
            self._check_batch_file(upload.data)
        with self._lock:
            return _json_reply(self._add_file(upload.filename, purpose.value, upload.data))

    @staticmethod
    def _check_batch_file(data: bytes) -> None:
        if len(data) > BATCH_MAX_BYTES:
            raise RequestError(400, f"The batch input file is larger than {BATCH_MAX_BYTES} bytes.")
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) > BATCH_MAX_REQUESTS:
            raise RequestError(400, f"The batch input file has more than {BATCH_MAX_REQUESTS} "
                               "requests.")
        seen = set()
        for number, line in enumerate(lines, 1):
            try:
                request = json.loads(line)
                custom_id = request["custom_id"]
                body = request["body"]
            except (ValueError, KeyError, TypeError):
                raise RequestError(400, f"Line {number} of the batch file is not a request "
                                   "object with custom_id, method, url and body.") from None
            if custom_id in seen:
                raise RequestError(400, f"Line {number}: duplicate custom_id {custom_id!r}.")
            seen.add(custom_id)
            if request.get("method") != "POST" or request.get("url") != "/v1/chat/completions":
                raise RequestError(400, f"Line {number}: this practice server batches only "
                                   "POST /v1/chat/completions.")
            if isinstance(body, dict) and body.get("stream"):
                raise RequestError(400, f"Line {number}: stream is not allowed in a batch.")

    def file(self, file_id: str, content: bool) -> Reply:
        if file_id not in self.files:
            raise RequestError(404, f"No such File object: {file_id}", param="id")
        if content:
            return Reply(content_type="application/jsonl", body=self.contents[file_id])
        return _json_reply(self.files[file_id])

    # --- batches ----------------------------------------------------------------------

    def create(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            raise RequestError(400, "The request body must be a JSON object.")
        file_id = body.get("input_file_id")
        if file_id not in self.files:
            raise RequestError(400, f"No such File object: {file_id}", param="input_file_id")
        if body.get("endpoint") != "/v1/chat/completions":
            raise RequestError(400, "This practice server batches only /v1/chat/completions.",
                               param="endpoint")
        if body.get("completion_window") != "24h":
            raise RequestError(400, "Invalid 'completion_window': expected '24h'.",
                               param="completion_window")
        lines = [json.loads(line) for line in self.contents[file_id].splitlines() if line.strip()]
        now = time.time()
        batch = {
            "id": f"batch_{secrets.token_hex(12)}", "object": "batch",
            "endpoint": "/v1/chat/completions", "errors": None, "input_file_id": file_id,
            "completion_window": "24h", "status": "validating", "output_file_id": None,
            "error_file_id": None, "created_at": int(now), "in_progress_at": None,
            "expires_at": int(now) + 86400, "finalizing_at": None, "completed_at": None,
            "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        with self._lock:
            self.batches[batch["id"]] = {"batch": batch, "lines": lines, "started": self.clock()}
        return _json_reply(_present(batch))

    def _advance(self, entry: Dict[str, Any], cancel: bool = False) -> None:
        """Bring a batch up to date with the time since it was created."""
        batch = entry["batch"]
        if batch["status"] in ("completed", "cancelled", "failed", "expired"):
            return
        elapsed = self.clock() - entry["started"]
        share = min(1.0, elapsed / self.batch_seconds) if self.batch_seconds > 0 else 1.0
        total = len(entry["lines"])
        if cancel:
            self._finish(entry, int(total * share), "cancelled")
        elif share >= 1.0:
            self._finish(entry, total, "completed")
        elif elapsed > self.batch_seconds * 0.2:
            batch["status"] = "in_progress"
            batch["in_progress_at"] = batch["in_progress_at"] or int(time.time())
            batch["request_counts"]["completed"] = int(total * share)

    def _finish(self, entry: Dict[str, Any], done: int, status: str) -> None:
        batch = entry["batch"]
        outputs, errors = [], []
        for line in entry["lines"][:done]:
            try:
                reply = chat_reply(line["body"])
            except RequestError as exc:
                reply = exc.reply()
            record = {"id": f"batch_req_{secrets.token_hex(8)}", "custom_id": line["custom_id"],
                      "response": {"status_code": reply.status,
                                   "request_id": f"req_{secrets.token_hex(16)}",
                                   "body": json.loads(reply.body)}, "error": None}
            (outputs if reply.status == 200 else errors).append(json.dumps(record))
        outputs.reverse()  # no order is promised: clients map by custom_id
        if outputs:
            batch["output_file_id"] = self._add_file(f"{batch['id']}_output.jsonl", "batch_output",
                                                     ("\n".join(outputs) + "\n").encode())["id"]
        if errors:
            batch["error_file_id"] = self._add_file(f"{batch['id']}_error.jsonl", "batch_output",
                                                    ("\n".join(errors) + "\n").encode())["id"]
        batch["request_counts"] = {"total": len(entry["lines"]), "completed": len(outputs),
                                   "failed": len(errors)}
        batch["status"] = status
        batch[f"{status}_at"] = int(time.time())

    def retrieve(self, batch_id: str, cancel: bool = False) -> Reply:
        with self._lock:
            entry = self.batches.get(batch_id)
            if entry is None:
                raise RequestError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
            self._advance(entry, cancel)
            return _json_reply(_present(entry["batch"]))

    def route(self, method: str, path: str, body: bytes, form: list) -> Optional[Reply]:
        """The reply for a files/batches path, or None when the path is not one of them."""
        parts = path.strip("/").split("/")[1:]  # without "v1"
        if parts[:1] == ["files"]:
            if len(parts) == 1:
                _allow(method, "POST", path)
                return self.upload(form)
            _allow(method, "GET", path)
            return self.file(parts[1], content=parts[2:] == ["content"])
        if parts[:1] == ["batches"]:
            if len(parts) == 1:
                _allow(method, "POST", path)
                try:
                    request = json.loads(body)
                except ValueError:
                    raise RequestError(400, "We could not parse the JSON body of your request.") from None
                return self.create(request)
            if parts[2:] == ["cancel"]:
                _allow(method, "POST", path)
                return self.retrieve(parts[1], cancel=True)
            _allow(method, "GET", path)
            return self.retrieve(parts[1])
        return None


def _present(batch: Dict[str, Any]) -> Dict[str, Any]:
    """The batch object as the spec's ``Batch`` schema has it: fields not set yet are left out."""
    return {name: value for name, value in batch.items() if value is not None}


def _allow(method: str, wanted: str, path: str) -> None:
    if method != wanted:
        raise RequestError(405, f"Method {method} is not allowed for {path}; use {wanted}.")
