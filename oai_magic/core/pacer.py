"""Pacing many requests by the ``x-ratelimit-*`` headers every OpenAI response carries.

OpenAI's limits refill continuously: ``x-ratelimit-reset-requests: 6m0s`` is the time until the
limit is full again, so the refill rate is (limit - remaining) / reset. The pacer keeps one bucket
for requests and one for tokens, refilled at that rate, set back to what the server reports after
every response (less the requests still in flight, which the report may not count), and holds a
new request while its bucket is short. At the reported reset time a bucket is full again, which
also covers servers with fixed windows. Standard library only; the clock and sleep are injectable.
"""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Callable, Mapping, Optional

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
DEFAULT_ANSWER_TOKENS = 1000  # the token need of an answer when --max-tokens is not given
RESET_MARGIN = 0.05  # seconds added after a reported reset: our clock and the server's differ


def parse_duration(text: Optional[str]) -> Optional[float]:
    """``1s``, ``6m0s``, ``120ms``, ``1h2m3.5s`` (Go's duration format) → seconds; a plain number
    is seconds; anything else is None (an unknown header value never stops a job)."""
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except (ValueError, OverflowError):
        pass
    else:  # NaN is no duration; infinity stays, for the wait bound to refuse (limits.checked_wait)
        return None if math.isnan(seconds) else max(0.0, seconds)
    total, position = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) and position else None


def estimate_need(prompt_chars: int, max_tokens: Optional[int]) -> int:
    """Tokens one request may use: the prompt (about 4 characters a token) plus the answer."""
    return prompt_chars // 4 + 1 + (max_tokens if max_tokens else DEFAULT_ANSWER_TOKENS)


class _Bucket:
    """One limit (requests or tokens) as the server last described it, refilled in between."""

    def __init__(self) -> None:
        self.limit: Optional[float] = None
        self.available: Optional[float] = None  # None: no header seen, nothing to pace
        self.rate = 0.0  # units per second
        self.full_at = 0.0  # clock time when the server said the bucket is full again

    def observe(self, limit: Optional[float], remaining: Optional[float],
                reset: Optional[float], in_flight: float, now: float) -> None:
        if remaining is None:
            return
        if limit is not None and limit > 0:
            self.limit = limit
        top = self.limit if self.limit is not None else remaining
        if reset is not None and reset > 0 and top > remaining:
            # The slowest refill seen: with continuous refill every report gives the same rate;
            # with fixed windows the estimate soars near a window's end, where it would be false.
            estimate = (top - remaining) / reset
            self.rate = estimate if self.rate <= 0 else min(self.rate, estimate)
            self.full_at = now + reset
        elif reset is not None:
            self.full_at = now + reset
        reported = max(0.0, remaining - in_flight)
        # Answers arrive out of order: an older report (more remaining) must not undo a newer
        # one. Our own estimate already refills at the rate and tops up at the reset.
        self.available = reported if self.available is None else min(self.available, reported)

    def refill(self, elapsed: float, now: float) -> None:
        if self.available is None:
            return
        top = self.limit if self.limit is not None else float("inf")
        if self.full_at and now >= self.full_at + RESET_MARGIN and self.limit is not None:
            self.available = max(self.available, top)  # the server said it would be full by now
            self.full_at = 0.0  # once: what is taken after this comes off the full bucket
        self.available = min(top, self.available + self.rate * elapsed)

    def wait_for(self, need: float, now: float) -> float:
        """Seconds until ``need`` is available (0 when it is)."""
        if self.available is None or self.available >= need - 1e-9:  # float refill sums
            return 0.0
        if self.limit is not None and need > self.limit:
            need = self.limit  # a request bigger than the whole limit waits for a full bucket
            if self.available >= need - 1e-9:
                return 0.0
        waits = []
        if self.rate > 0:
            waits.append((need - self.available) / self.rate)
        if self.full_at and self.full_at + RESET_MARGIN > now:
            waits.append(self.full_at + RESET_MARGIN - now)
        # Nothing says when it refills (``remaining: 0`` and no reset): no wait is known, so the
        # request goes, and the server's answer (a 429 with retry-after, or a new report) decides.
        return max(0.001, min(waits)) if waits else 0.0

    def take(self, amount: float) -> None:
        if self.available is not None:
            self.available -= amount


class Pacer:
    """Shared by the worker threads of one job: ``acquire`` before each request, ``observe``
    after each response, ``hold`` after a 429. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_wait_s: float = 60.0
                 ) -> None:
        self._clock = clock
        self.max_wait_s = max_wait_s  # OAIMagics.max_wait_s: the longest one request waits
        self._lock = threading.Condition()
        self._requests = _Bucket()
        self._tokens = _Bucket()
        self._last = clock()
        self._held_until = 0.0
        self.in_flight = 0
        self.waited = 0.0  # seconds spent holding, summed over requests (shown in the summary)

    def _refill(self, now: float) -> None:
        elapsed, self._last = max(0.0, now - self._last), now
        self._requests.refill(elapsed, now)
        self._tokens.refill(elapsed, now)

    def delay(self, tokens: int) -> float:
        """Seconds a request needing ``tokens`` must wait now; 0 means it may go."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            return self._delay(tokens, now)

    def _delay(self, tokens: int, now: float) -> float:
        return max(self._held_until - now, self._requests.wait_for(1, now),
                   self._tokens.wait_for(tokens, now), 0.0)

    def acquire(self, tokens: int, stop: Optional[threading.Event] = None) -> bool:
        """Wait until one request of ``tokens`` fits, then reserve it. False when ``stop`` is set;
        ``limits.WaitTooLong`` when that would take more than ``max_wait_s`` in all."""
        from ..api.limits import checked_wait

        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                wait = self._delay(tokens, now)
                if wait <= 0:
                    self._requests.take(1)
                    self._tokens.take(tokens)
                    self.in_flight += 1
                    return True
                if stop is not None and stop.is_set():
                    return False
                checked_wait(waited + wait, self.max_wait_s, "x-ratelimit-reset headers")
                waited += wait
                self.waited += wait
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Set the buckets to what the server reports; call once per response (errors included),
        before ``release``."""
        def number(name: str) -> Optional[float]:
            try:
                return float(headers[name])
            except (KeyError, TypeError, ValueError):
                return None

        with self._lock:
            now = self._clock()
            self._refill(now)
            others = max(0, self.in_flight - 1)
            self._requests.observe(
                number("x-ratelimit-limit-requests"), number("x-ratelimit-remaining-requests"),
                parse_duration(headers.get("x-ratelimit-reset-requests")), others, now)
            self._tokens.observe(
                number("x-ratelimit-limit-tokens"), number("x-ratelimit-remaining-tokens"),
                parse_duration(headers.get("x-ratelimit-reset-tokens")), 0, now)

    def release(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            self._lock.notify_all()

    def hold(self, seconds: float) -> None:
        """A 429 said to wait: no new request starts before then, for any worker."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + max(0.0, seconds))
            if self._requests.available is not None:
                self._requests.available = 0.0
