"""Drawing within a frame: when a live view draws, and the one thread that wakes it.

A screen shows a new frame about every 16 ms. A live view that waits longer than that between
a change and its draw makes the reader wait for nothing; one that draws more often than that
spends messages and CPU on frames nobody sees. So every live view (an answer, a reasoning
region, a tool card) follows one rule, kept here: a change draws at once when the view's last
draw is at least one frame old, otherwise at the next frame boundary (last draw + one frame).
Changes within a frame coalesce into that one draw, whatever their number.

The draw at the boundary is run by :class:`FrameTimers`, one daemon thread for the whole
process (not a thread per timer), under the view's own lock. A clock that can schedule (the
tests' ``FakeClock`` has ``call_at``) runs those draws instead, when the test moves time.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

FRAME_S = 0.016  # one frame of a 60 Hz screen, a little under (16.7 ms)
MAX_RETRY_S = 1.0  # a draw held back (byte budget) is retried at most this far apart

# What a draw reports to its pacer:
SHOWN = "shown"  # everything is on screen
MORE = "more"  # part of a backlog is on screen (a draw's work is bounded): the rest next frame
HELD = "held"  # something is held back (the byte budget): try again after a growing wait


class FrameTimers:
    """Callbacks at given times of ``time.monotonic``, run in order by one daemon thread."""

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._heap, (when, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="oai-magic-frames", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, callback = heapq.heappop(self._heap)
            with contextlib.suppress(Exception):  # a view that broke must not stop the others
                callback()


_PROCESS_TIMERS = FrameTimers()


def timers_for(clock: Callable[[], float]) -> Any:
    """Who runs the draws at frame boundaries: the process's thread for the real clock, the clock
    itself if it can schedule (a test clock), else nobody (the next change or the end draws)."""
    if clock is time.monotonic:
        return _PROCESS_TIMERS
    return clock if callable(getattr(clock, "call_at", None)) else None


class FramePacer:
    """When one live view draws (see the module docstring).

    ``draw`` draws what changed and reports SHOWN, MORE (drawn again a frame later) or HELD
    (retried after a growing wait, one frame first). ``min_gap`` lets a view ask for a longer
    gap between draws than a frame (its CPU guard).
    """

    def __init__(self, draw: Callable[[], str], *, frame_s: float = FRAME_S,
                 clock: Callable[[], float] = time.monotonic, timers: Any = None,
                 lock: Any = None, min_gap: Callable[[], float] = lambda: 0.0) -> None:
        self.draw, self.frame_s, self.clock, self.min_gap = draw, frame_s, clock, min_gap
        self.timers = timers_for(clock) if timers is None else timers
        self.lock = lock if lock is not None else threading.RLock()
        self.last: Optional[float] = None  # when the last draw happened
        self._armed_for: Optional[float] = None  # the boundary a timer will draw at
        # A draw at the next frame boundary is coming (not a retry): a change can rely on it.
        self.boundary_armed = False
        self._retry = frame_s
        self.stopped = False

    def changed(self) -> None:
        """Something changed: draw now if the last draw is a frame old, else at the boundary."""
        with self.lock:
            if self.stopped:
                return
            gap = max(self.frame_s, self.min_gap())
            now = self.clock()
            if self.last is None or now - self.last >= gap:
                self._draw_now(now)
            else:
                self._arm(self.last + gap, boundary=True)

    def force(self) -> None:
        """Draw now, whatever the time (a tool card's last state, reasoning when the answer starts)."""
        with self.lock:
            if not self.stopped:
                self._draw_now(self.clock())

    def stop(self) -> None:
        """No more draws: a timer that fires later does nothing."""
        with self.lock:
            self.stopped = True
            self._armed_for = None
            self.boundary_armed = False

    def _draw_now(self, now: float) -> None:
        self.last = now
        self._armed_for = None  # this draw is the one a pending timer was for
        self.boundary_armed = False
        outcome = self.draw()
        if outcome == HELD:
            self._arm(now + self._retry)
            self._retry = min(2 * self._retry, MAX_RETRY_S)
            return
        self._retry = self.frame_s
        if outcome == MORE:
            self._arm(now + max(self.frame_s, self.min_gap()), boundary=True)

    def _arm(self, when: float, boundary: bool = False) -> None:
        if self.timers is None or (self._armed_for is not None and self._armed_for <= when):
            return
        self._armed_for = when
        self.boundary_armed = boundary
        self.timers.call_at(when, lambda: self._fire(when))

    def _fire(self, when: float) -> None:
        with self.lock:
            if self.stopped or self._armed_for != when:
                return  # stopped, or superseded by an earlier boundary that already drew
            self._draw_now(self.clock())
