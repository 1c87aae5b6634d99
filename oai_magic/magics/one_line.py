"""The edge where errors become one line: IPython prints a ``UsageError`` without a traceback."""

from __future__ import annotations

import functools
from typing import Any, Callable

from IPython.core.error import UsageError

from ..errors import CellStopped, OAIError
from ..plain_text import terminal_safe
from ..state import KernelState


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or its class name when even that fails (a message built from a user object)."""
    try:
        return str(exc)
    except Exception:
        return type(exc).__name__


def base_url_hint(exc: OAIError, state: KernelState) -> str:
    """A 404 for the endpoint itself (not for a model) usually means the base URL lacks /v1."""
    from ..errors import APIError

    url = state.settings.resolved_base_url().rstrip("/")
    if (isinstance(exc, APIError) and exc.status_code == 404 and exc.code != "model_not_found"
            and not url.endswith("/v1")):
        return f" — does the base URL need /v1? (it is {url})"
    return ""


def one_line_errors(method: Callable) -> Callable:
    """Our errors become a ``UsageError``: IPython prints its one line, no traceback."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        from ..core.results import StoppedAnswer  # on first use: %load_ext stays light

        try:
            return method(self, *args, **kwargs)
        except OAIError as exc:
            raise UsageError(terminal_safe(safe_str(exc)) + base_url_hint(exc, self.state)) from None
        except UsageError as exc:  # its text may quote a server or a user object: cleaned once here
            raise UsageError(terminal_safe(safe_str(exc))) from None
        except StoppedAnswer as stop:
            from ..render.chrome import stop_line

            raise CellStopped(terminal_safe(stop_line(stop.result))) from None
        except KeyboardInterrupt:
            raise UsageError("Interrupted.") from None

    return wrapper
