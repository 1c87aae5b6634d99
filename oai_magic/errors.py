"""What can go wrong talking to the API, with what a user needs to act on it.

Shaped after openai-python's ``_exceptions.py``: a base error, a status error that carries the
status code, the server's message/type/code and the ``x-request-id``, and one small subclass per
status chosen by :func:`status_error_class`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional


class OAIError(Exception):
    """Base of everything oai_magic raises on purpose; the magics show it as one line."""


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
