"""Compatibility: the names the wiring used before ``ChatTurn`` (``core/turn.py``).

The result types live in ``core/results.py``, one request in ``core/exchange.py``, the turn in
``core/turn.py``. ``ask`` and ``send`` are thin wrappers over them, kept while the magics are
being split; they go once the ``%%chat`` wiring runs ``ChatTurn`` itself.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Tuple

from ..api.request import ChatOptions
from ..state import KernelState, Message
from .exchange import HistoryBudget, TurnStart, check_budget, send_request
from .results import Cancellation, ChatResult, ChatView, Choice, StoppedAnswer
from .turn import ChatTurn, TurnOptions

__all__ = ["Cancellation", "ChatResult", "ChatView", "Choice", "HistoryBudget", "StoppedAnswer",
           "TurnStart", "ask", "check_budget", "send", "turn_options"]


def turn_options(
    *, options: Optional[ChatOptions] = None, conversation: str = "default",
    budget: Optional[HistoryBudget] = None, cancellation: Optional[Cancellation] = None,
    clock: Callable[[], float] = time.monotonic, start: Optional[TurnStart] = None,
    **tool_fields: Any,
) -> TurnOptions:
    """The old keyword arguments as one ``TurnOptions``."""
    start = start or TurnStart()
    return TurnOptions(
        request=options or ChatOptions(), conversation=conversation,
        budget=budget or HistoryBudget(), new=start.new, system=start.system,
        cancellation=cancellation, clock=clock, **tool_fields,
    )


def ask(state: KernelState, client: Any, prompt: Any, view: ChatView, **kwargs: Any) -> ChatResult:
    """``ChatTurn(state, client, turn_options(**kwargs)).run(prompt, view)``."""
    return ChatTurn(state, client, turn_options(**kwargs)).run(prompt, view)


def send(
    state: KernelState, client: Any, new_messages: List[Message], view: ChatView, **kwargs: Any
) -> Tuple[ChatResult, Optional[BaseException]]:
    """One request, recording nothing: ``ChatTurn.request``."""
    turn = turn_options(**kwargs)
    return send_request(state, client, new_messages, view, turn, turn.request)
