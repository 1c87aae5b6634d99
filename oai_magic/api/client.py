"""The HTTP client: sends requests, retries them, and hands back responses (``responses.py``).

It speaks the OpenAI API the way the official SDK does: bearer auth, optional organization and
project headers, a 5 s connect timeout, retries for 408/409/429/5xx and connection errors with
``retry-after-ms`` / ``retry-after`` / ``x-should-retry`` honoured, and errors that carry the
status, the server's message and the ``x-request-id``. Streams are never retried once they have
started delivering.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterator, Optional

import requests

from .. import __version__
from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    InputError,
    MissingKeyError,
    is_validation_failure,
)
from ..state import Secret, Settings, redact, redact_data
from .body import accept_encoding, body_lines, short_reason
from .limits import Limits, WaitTooLong, checked_wait
from .responses import (
    APIResponse,
    StreamResponse,
    error_body,
    error_from_response,
    redirect_error,
)

CONNECT_TIMEOUT = 5.0


def should_retry(status_code: int, headers: Any) -> bool:
    flag = (headers.get("x-should-retry") or "").lower()
    if flag == "true":
        return True
    if flag == "false":
        return False
    return status_code in (408, 409, 429) or status_code >= 500


def retry_delay(headers: Any, attempt: int, rand: Callable[[], float] = random.random,
                max_wait_s: float = Limits.wait_s) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based), as the official SDK computes
    it; a server that asks for more than ``max_wait_s`` gets :class:`limits.WaitTooLong`
    (NaN or negative values are not waits: the usual back-off applies)."""
    delay: Optional[float] = None
    if headers is not None:
        delay = checked_wait(_seconds(headers.get("retry-after-ms"), scale=0.001), max_wait_s,
                             "retry-after-ms")
        if delay is None:
            delay = checked_wait(_retry_after_seconds(headers.get("retry-after")), max_wait_s,
                                 "retry-after")
    if delay is not None:
        return delay
    backoff = min(0.5 * (2**attempt), 8.0)
    return min(backoff * (1 - 0.25 * rand()), max_wait_s)


def _seconds(value: Optional[str], scale: float = 1.0) -> Optional[float]:
    try:
        return float(value) * scale if value is not None else None
    except (ValueError, OverflowError):
        return None


def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    seconds = _seconds(value)
    if seconds is not None or not value:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIClient:
    """One ``requests.Session`` per kernel state; headers are rebuilt from settings per request."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._sleep = sleep
        self._session: Optional[requests.Session] = None

    def __repr__(self) -> str:
        return f"<OpenAIClient {self.settings.resolved_base_url()}>"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def headers(
        self, organization: Optional[str] = None, project: Optional[str] = None
    ) -> Dict[str, str]:
        key = self.settings.resolved_key()
        if not key and self.settings.key_required():
            raise MissingKeyError()
        headers = {
            "User-Agent": f"oai-magic/{__version__}",
            "Accept": "application/json",
        }
        if key:  # local servers (llama.cpp, Ollama, LM Studio) take requests with no key
            headers["Authorization"] = f"Bearer {key}"
        organization = organization or self.settings.resolved_organization()
        project = project or self.settings.resolved_project()
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        for name, value in (self.settings.extra_headers or {}).items():  # OAIMagics.extra_headers
            headers[name] = value.reveal() if isinstance(value, Secret) else str(value)
        return headers

    # --- public calls -------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return Limits.of(self.settings)

    def get(self, path: str, **options: Any) -> APIResponse:
        return APIResponse(self._send("GET", path, **options), self.settings.resolved_key(),
                           self.limits.body_bytes)

    def post(self, path: str, **options: Any) -> APIResponse:
        return APIResponse(self._send("POST", path, **options), self.settings.resolved_key(),
                           self.limits.body_bytes)

    def download_lines(self, path: str, **options: Any) -> Iterator[str]:
        """GET a file's content (a batch's JSON lines) line by line, whatever its content type,
        each redacted of the key; past ``max_batch_file_bytes`` or ``_lines``,
        :class:`limits.LimitReached` after the lines that fit."""
        response = self._send("GET", path, **options)
        limits, key = self.limits, self.settings.resolved_key()
        for line in body_lines(response, limits.batch_file_bytes, limits.batch_file_lines,
                               "max_batch_file_bytes", "max_batch_file_lines", "the batch file"):
            yield redact(line, key)

    def stream(self, path: str, **options: Any) -> StreamResponse:
        """POST and return the open stream; retries happen only before it starts."""
        response = self._send("POST", path, stream=True, **options)
        return StreamResponse(response, self.settings.resolved_key(), self.limits)

    def list_models(self) -> APIResponse:
        return self.get("/models")

    # --- internals ----------------------------------------------------------------------

    def _back_off(self, delay: float, cancel: Optional[threading.Event]) -> None:
        """Wait before a retry; Stop ends the wait at once."""
        if cancel is None:
            self._sleep(delay)
        elif cancel.wait(delay):
            raise RequestStopped("stopped while waiting to retry")

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
        stream: bool = False,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        cancel: Optional[threading.Event] = None,
    ) -> requests.Response:
        """Send with retries. With ``cancel`` (the panel's Stop), every phase can be stopped:
        connecting and waiting for headers (the request runs in a helper thread whose late
        result is discarded), and the back-off between retries."""
        headers = self.headers(organization, project)
        accept_encoding(headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        body = None
        key = self.settings.resolved_key()
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            text = json.dumps(json_body)
            if key and redact(text, key) != text:  # the last guard: no body carries the key
                text = json.dumps(redact_data(json_body, key))
            body = text.encode("utf-8")
        url = checked_base_url(self.settings.resolved_base_url()) + path
        timeout = (CONNECT_TIMEOUT, self.settings.timeout)
        attempt = 0
        while True:
            try:
                response = _cancellable(
                    cancel,
                    lambda: self.session.request(
                        method,
                        url,
                        headers=headers,
                        data=body if body is not None else data,
                        files=files,
                        stream=True,  # every body is read by body.py, in bounded pieces
                        timeout=timeout,
                        allow_redirects=False,
                    ),
                )
            except requests.Timeout as exc:
                error: APIError = APITimeoutError(
                    f"the request to {_origin(url)} timed out ({short_reason(exc)})"
                )
                if attempt < self.settings.max_retries:
                    self._back_off(retry_delay(None, attempt), cancel)
                    attempt += 1
                    continue
                raise error from None
            except requests.RequestException as exc:
                if attempt < self.settings.max_retries:
                    self._back_off(retry_delay(None, attempt), cancel)
                    attempt += 1
                    continue
                raise APIConnectionError(
                    f"could not reach {_origin(url)} ({short_reason(exc)}); "
                    "check the base URL (%oai base-url) and your network"
                ) from None
            if 300 <= response.status_code < 400:
                raise redirect_error(response, key)
            if response.status_code < 400:
                return response
            limits = self.limits
            error_data: Optional[bytes] = None  # an error body is read once, bounded
            if attempt < self.settings.max_retries and should_retry(
                response.status_code, response.headers
            ):
                error_data = error_body(response, limits.body_bytes)
                if not refused_as_invalid(response, error_data):
                    try:
                        delay = retry_delay(response.headers, attempt, max_wait_s=limits.wait_s)
                    except WaitTooLong as too_long:
                        error = error_from_response(response, key, error_data)
                        error.message += f" — {too_long.message}"
                        raise error from None
                    response.close()
                    self._back_off(delay, cancel)
                    attempt += 1
                    continue
            raise error_from_response(
                response, key,
                error_data if error_data is not None else error_body(response, limits.body_bytes))


def refused_as_invalid(response: requests.Response, body: bytes) -> bool:
    """A 5xx whose body is a validation error (llama-cpp-python sends pydantic's with a 500):
    the same request would fail the same way, so it is not retried."""
    if response.status_code < 500 or "json" not in response.headers.get("content-type", ""):
        return False
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return is_validation_failure(data)


class RequestStopped(APIConnectionError):
    """Stop was pressed before the response arrived; the caller reports it as an interrupt."""


def _cancellable(cancel: Optional[threading.Event], send: Callable[[], Any]) -> Any:
    """Run ``send`` so that ``cancel`` can end the wait for it.

    A thread blocked in ``connect`` or waiting for response headers cannot be woken, so with
    ``cancel`` the request runs in a helper thread; on Stop the caller returns at once and the
    helper's late response (or error) is closed and dropped.
    """
    if cancel is None:
        return send()
    outcome: Dict[str, Any] = {}
    finished = threading.Event()
    lock = threading.Lock()

    def work() -> None:
        try:
            outcome["response"] = send()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        with lock:
            finished.set()
            if outcome.get("abandoned") and "response" in outcome:
                outcome["response"].close()

    threading.Thread(target=work, name="oai-request", daemon=True).start()
    while not finished.wait(0.02):
        if cancel.is_set():
            with lock:
                if not finished.is_set():
                    outcome["abandoned"] = True
                    raise RequestStopped("stopped before the server answered")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]


def _origin(url: str) -> str:
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+", url)
    return match.group(0) if match else url


def checked_base_url(url: str) -> str:
    """Refuse a base URL with credentials: requests would send them as Basic auth instead of
    the Bearer key (and they would show wherever the URL is shown)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise InputError(
            "the base URL contains a user name or password (user:pw@host): remove them; "
            "the API key is sent as a Bearer header (%oai key)"
        )
    return url


