"""What can go wrong talking to the API, with what a user needs to act on it.

Shaped after openai-python's ``_exceptions.py``: a base error, a status error that carries the
status code, the server's message/type/code and the ``x-request-id``, and one small subclass per
status chosen by :func:`status_error_class`.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

from .plain_text import shortened, terminal_safe

SERVER_MESSAGE_LIMIT = 300
EMPTY_MESSAGE = "(the server's error message is empty)"


def one_line(text: Any, limit: int = SERVER_MESSAGE_LIMIT) -> str:
    """A server's message as one line of at most ``limit`` characters.

    Servers send pydantic dumps and traceback lines; shown verbatim they bury the cause under
    screens of text. Whitespace runs (newlines included) become one space, control and bidi
    characters are shown as escapes (``terminal_safe``), and the rest is cut with an ellipsis.
    """
    flat = terminal_safe(re.sub(r"\s+", " ", str(text)).strip())
    if len(flat) <= limit:
        return flat
    return shortened(flat, limit - 1, "").rstrip() + "…"  # never inside an encoded key


def _validation_errors(items: list) -> str:
    """FastAPI's ``detail`` list (``[{loc, msg, type}]``) as ``body.temperature: msg; ...``."""
    parts = []
    for item in items:
        if isinstance(item, dict):
            where = ".".join(str(p) for p in item.get("loc") or ())
            what = str(item.get("msg") or item.get("message") or item)
            parts.append(f"{where}: {what}" if where else what)
        else:
            parts.append(str(item))
    return "; ".join(parts)


def server_message(body: Any) -> Optional[Dict[str, Any]]:
    """The server's message (with type, code, param when given) from any usual error body.

    Read, in order: OpenAI's ``error`` (an object or a string); FastAPI's ``detail`` (a string,
    an object wrapping ``error``, or a list of validation errors); vLLM's top-level ``message``.
    None when the body holds none of them.
    """
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        return {"message": str(error.get("message") or error.get("code")),
                "type": error.get("type"), "code": error.get("code"), "param": error.get("param")}
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        # An API error body whose message is empty ({"error": {"message": ""}}): still the
        # server's own answer, shown as such.
        return {"message": EMPTY_MESSAGE, "type": error.get("type"), "code": None,
                "param": error.get("param")}
    if isinstance(error, str) and error:
        return {"message": error, "type": body.get("type"), "code": body.get("code"),
                "param": body.get("param")}
    detail = body.get("detail")
    if isinstance(detail, str) and detail:
        return {"message": detail, "type": None, "code": None, "param": None}
    if isinstance(detail, dict):
        found = server_message(detail)
        if found is not None:
            return found
        if detail:
            return {"message": str(detail), "type": None, "code": None, "param": None}
    if isinstance(detail, list) and detail:
        return {"message": _validation_errors(detail), "type": "validation_error", "code": None,
                "param": None}
    message = body.get("message")
    if isinstance(message, str) and message:
        return {"message": message, "type": body.get("type"), "code": body.get("code"),
                "param": body.get("param")}
    return None


_PYDANTIC_DUMP = re.compile(r"\b\d+ validation errors? for \w+")


def is_validation_failure(body: Any) -> bool:
    """Does this error body say the request failed validation (a pydantic dump, or FastAPI's
    list of errors)? Some servers send those with a 500; asking again cannot help."""
    found = server_message(body)
    if found is None:
        return False
    return found["type"] == "validation_error" or bool(_PYDANTIC_DUMP.search(found["message"]))


class OAIError(Exception):
    """Base of everything oai_magic raises on purpose; the magics show it as one line."""


class CellStopped(Exception):
    """The user stopped an answer: the cell fails (so "Run All" stops) and shows one plain line.

    IPython renders ``_render_traceback_`` instead of a traceback, in the terminal and in
    Jupyter alike, so the line is printed once and not prefixed with an exception name.
    """

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line

    def _render_traceback_(self) -> list:
        return [self.line]


class InputError(OAIError):
    """The user's input is wrong (bad option, missing file...): nothing was sent."""


class MissingKeyError(InputError):
    def __init__(self) -> None:
        super().__init__(
            "No API key: run %oai key (hidden prompt) or set OPENAI_API_KEY, "
            "or start the offline practice server with %oai practice."
        )


class APIError(OAIError):
    """The API answered with an error, or the stream carried one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        type: Optional[str] = None,
        code: Optional[str] = None,
        param: Optional[str] = None,
        request_id: Optional[str] = None,
        body: Any = None,
    ) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.body = body
        #: The response's debug headers (rate limits...), so an error still updates ``%oai``.
        self.headers: Dict[str, str] = {}

    def __str__(self) -> str:
        parts = []
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.code:
            parts.append(str(self.code))
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class APIStatusError(APIError):
    """A non-2xx HTTP status."""


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    pass


class StreamIncompleteError(APIError):
    """The stream stopped before the answer was finished; the partial text is kept on ``partial``."""

    def __init__(self, message: str, *, partial: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial = partial


_STATUS_CLASSES = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type:
    """One flat mapping from status to exception class."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)
