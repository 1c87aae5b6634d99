"""The live byte budget of a region that is not an answer: reasoning and tool cards.

A live view that redraws more than it adds sends bytes that grow with the square of its text
(2 MB of reasoning once sent 485 MB). The answer (``live.py``) pays every live byte from a
budget proportional to what it received; reasoning and tool cards use the same rule, kept here:
live bytes ≤ ``ratio`` × bytes received + ``burst``, a draw spending at most 1/``pacing`` of the
credit per frame waited. The final block is at least the text itself, so what reaches the page
stays within (1 + ``ratio``) × the text plus a constant.
"""

from __future__ import annotations

from typing import Callable, Optional


class ByteBudget:
    """Live bytes paid from the bytes received (see the module docstring)."""

    def __init__(self, clock: Callable[[], float], frame_s: float, *, ratio: float = 2.0,
                 burst: int = 2000, pacing: int = 6) -> None:
        self.clock, self.frame_s = clock, frame_s
        self.ratio, self.burst, self.pacing = ratio, burst, pacing
        self.received = 0  # bytes of text received
        self.spent = 0  # live bytes sent
        self._last_spend: Optional[float] = None

    def receive(self, size: int) -> None:
        self.received += size

    def affordable(self, cost: int) -> bool:
        credit = self.ratio * self.received + self.burst - self.spent
        if self._last_spend is not None and self.pacing:
            waited = (self.clock() - self._last_spend) / max(self.frame_s, 1e-9)
            credit *= min(1.0, waited / self.pacing)
        return cost <= credit

    def pay(self, cost: int) -> None:
        self.spent += cost
        self._last_spend = self.clock()
