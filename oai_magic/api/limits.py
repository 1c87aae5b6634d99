"""Every bound on what is read from outside, in one place (CONTRACTS 10).

Sizes come from ``Settings`` (``OAIMagics.max_*``) through :class:`Limits`; a limit ends the
answer, item or file with one line (:class:`LimitReached`) and what arrived before it is kept.
Numbers from outside (token counts, prices, budgets, waits, JSON answers) are checked here,
where they enter: finite, non-negative, in range, or refused (user input) / treated as
unreported (server output) with a notice.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ..errors import APIError

#: Largest token count taken from a server: more than any context window or bill will ever hold.
MAX_TOKEN_COUNT = 10**15
#: Largest price or budget (USD) accepted: a bigger one is a typo, and it would overflow sums.
MAX_AMOUNT = 10**12
#: Usage fields that hold seconds (transcription) rather than tokens.
_SECONDS_FIELDS = ("seconds", "duration")


@dataclass(frozen=True)
class Limits:
    """The size limits of one session's settings (CONTRACTS 10); defaults live in ``Settings``."""

    body_bytes: int = 32 * 1024 * 1024
    stream_bytes: int = 512 * 1024 * 1024
    line_bytes: int = 8 * 1024 * 1024
    event_bytes: int = 8 * 1024 * 1024
    answer_chars: int = 4_000_000
    reasoning_chars: int = 4_000_000
    tool_argument_chars: int = 1_000_000
    batch_file_bytes: int = 64 * 1024 * 1024
    batch_file_lines: int = 100_000
    wait_s: float = 60.0

    @classmethod
    def of(cls, settings: Any) -> Limits:
        """The limits ``settings`` ask for (a test's settings object may lack the newer ones)."""
        default = cls()
        names = {
            "body_bytes": "max_body_bytes", "stream_bytes": "max_stream_bytes",
            "line_bytes": "max_line_bytes", "event_bytes": "max_event_bytes",
            "answer_chars": "max_answer_chars", "reasoning_chars": "max_reasoning_chars",
            "tool_argument_chars": "max_tool_argument_chars",
            "batch_file_bytes": "max_batch_file_bytes", "batch_file_lines": "max_batch_file_lines",
            "wait_s": "max_wait_s",
        }
        return cls(**{mine: getattr(settings, setting, getattr(default, mine))
                      for mine, setting in names.items()})


class LimitReached(APIError):
    """A limit ended the answer, item or file; the part that arrived before it is kept."""


def limit_reached(what: str, limit: float, unit: str, setting: str, ended: str = "answer"
                  ) -> LimitReached:
    """``the answer passed 50,000 characters and was cut there (OAIMagics.max_answer_chars ...)``"""
    cut = "and was cut there" if what == f"the {ended}" else f"; the {ended} was cut there"
    return LimitReached(f"{what} passed {limit:,} {unit} {cut} "
                        f"(OAIMagics.{setting} sets the limit)".replace(" ;", ";"))


class WaitTooLong(APIError):
    """A server asked to wait longer than ``OAIMagics.max_wait_s``: the request fails instead."""


def checked_wait(seconds: Optional[float], max_wait_s: float, what: str) -> Optional[float]:
    """A wait a server asked for, bounded: None when it is not a usable number of seconds
    (NaN, negative: treated as not said), :class:`WaitTooLong` past ``max_wait_s``."""
    if seconds is None or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return None
    if seconds < 0:
        return None
    if seconds > max_wait_s:
        asked = "forever" if math.isinf(seconds) else f"{_duration(seconds)}"
        raise WaitTooLong(f"the server asked to wait {asked} ({what}), more than "
                          f"OAIMagics.max_wait_s = {max_wait_s:g} s; not waited for")
    return float(seconds)


def _duration(seconds: float) -> str:
    if seconds >= 3600 * 24 * 365 * 100:
        return "over a century"
    if seconds >= 3600:
        return f"{seconds / 3600:,.0f} h"
    return f"{seconds:,.0f} s"


# --- numbers from servers -------------------------------------------------------------------


def token_count(value: Any) -> Optional[int]:
    """``value`` when it is a token count (an int from 0 to ``MAX_TOKEN_COUNT``), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


def _shown(value: Any) -> str:
    """A bad number as a notice names it: short, whatever its size."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TOKEN_COUNT:
        return "a number out of range"
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None \
        else f"a JSON {type(value).__name__}"
    return text if len(text) <= 24 else text[:21] + "..."


def _usage_value(name: str, value: Any) -> Tuple[bool, Any]:
    """(keep?, value) for one usage field: counts for ``*tokens``, seconds for durations;
    ``None`` is a field the server did not report, kept as it is."""
    if value is None:
        return True, None
    if name.endswith("tokens"):
        count = token_count(value)
        return count is not None, count
    if name in _SECONDS_FIELDS:
        return finite_amount(value), value
    if isinstance(value, bool):
        return True, value
    if isinstance(value, str):
        return len(value) <= 200, value
    if isinstance(value, (int, float)):
        return finite_amount(abs(value)), value
    return False, value


def checked_usage(usage: Any) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """A server's ``usage`` block with every number checked, and a notice naming what was not
    a count (then treated as unreported): negative, huge, text, fractional, NaN."""
    if usage is None:
        return None, None
    if not isinstance(usage, dict):
        return None, f"The server's usage is a JSON {type(usage).__name__}, not an object: " \
                     "token counts are treated as unreported."
    clean: Dict[str, Any] = {}
    bad: List[str] = []
    for name, value in usage.items():
        name = str(name)[:60]
        if name.endswith("_details") and isinstance(value, dict):
            inner, inner_bad = {}, []
            for sub, sub_value in value.items():
                keep, sub_value = _usage_value(str(sub)[:60], sub_value)
                if keep:
                    inner[str(sub)[:60]] = sub_value
                else:
                    inner_bad.append(f"{name}.{str(sub)[:60]} = {_shown(sub_value)}")
            clean[name] = inner
            bad += inner_bad
            continue
        keep, value = _usage_value(name, value)
        if keep:
            clean[name] = value
        else:
            bad.append(f"{name} = {_shown(value)}")
    if not bad:
        return clean, None
    listed = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    return clean, (f"The server reported usage numbers that are not counts ({listed}): "
                   "they are treated as unreported.")


# --- numbers from users ---------------------------------------------------------------------


def finite_amount(value: Any) -> bool:
    """A price, budget or duration: an int or float, finite, from 0 to ``MAX_AMOUNT``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return 0 <= value <= MAX_AMOUNT
    return math.isfinite(value) and 0 <= value <= MAX_AMOUNT


# --- JSON from servers ----------------------------------------------------------------------


def loads_untrusted(text: str) -> Any:
    """``json.loads`` for server text, whose failures are one short ``ValueError`` line:
    numbers past Python's 4,300 digits and nesting past the recursion limit included."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise ValueError("a number too long to read" if "digits" in str(exc)
                         else " ".join(str(exc).split())[:120]) from None
