"""The view a logged turn streams through: every event passes on, the answer's text is kept.

Kept apart from ``durable`` so that the event types load on a turn's first use, not at
``%load_ext``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .events import View

if TYPE_CHECKING:
    from .durable import LoggedTurn


class LoggingView(View):
    """A view that passes every event on and keeps the answer's text for the log.

    ``delta`` appends to a list and reads a clock; the text is joined and handed to the turn's
    row only when ``interval_s`` has passed since the last hand-over."""

    def __init__(self, inner: View, turn: LoggedTurn) -> None:
        self._inner = inner
        self._turn = turn
        self._pieces: List[str] = []
        self._last = time.monotonic()

    def delta(self, index: int, text: str) -> None:
        self._inner.delta(index, text)
        if index == 0:
            self._pieces.append(text)
            now = time.monotonic()
            if now - self._last >= self._turn.interval_s:
                self._last = now
                self._turn.handle.update_answer("".join(self._pieces))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    # View's own methods would shadow __getattr__: pass each one on explicitly.
    def begin(self, notices: List[str]) -> None:
        self._inner.begin(notices)

    def reasoning(self, index: int, text: str) -> None:
        self._inner.reasoning(index, text)

    def tool_calls(self, index: int, calls: List[Dict[str, Any]]) -> None:
        self._inner.tool_calls(index, calls)

    def notice(self, text: str) -> None:
        self._inner.notice(text)

    def usage(self, usage: Dict[str, Any], cost: Optional[float]) -> None:
        self._inner.usage(usage, cost)

    def end_round(self, result: Any) -> None:
        self._inner.end_round(result)

    def tool_outcome(self, index: int, outcome: Any) -> None:
        self._inner.tool_outcome(index, outcome)

    def end(self, result: Any) -> None:
        self._inner.end(result)
