"""What one turn needs besides its prompt and its view: request options, where it is recorded,
how much history goes with it, the cell's ``-n``/``-s``, how it may be stopped, its tools.

Its own module so that the request (``exchange``) and the turn (``turn``) both read it and
neither imports the other back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from ..api.request import ChatOptions
from ..state import Conversation
from .results import Cancellation

if TYPE_CHECKING:
    from .tools import Tool

Confirm = Callable[[str, Dict[str, Any]], bool]


@dataclass
class HistoryBudget:
    """How much history goes with a prompt: messages, estimated tokens, the server's context.

    ``context_tokens`` (``%oai context N``) is the server's context window: the history is
    trimmed so that it, the prompt and room for the answer (``--max-tokens``, else a quarter of
    the window) fit inside it. Local servers often have 2,048 or 4,096 tokens.
    """

    max_messages: Optional[int] = None
    max_tokens: Optional[int] = None
    context_tokens: Optional[int] = None

    @classmethod
    def of(cls, settings: Any) -> HistoryBudget:
        """The budget the session's settings give (``history_max_*``, ``context_tokens``)."""
        return cls(settings.history_max_messages, settings.history_max_tokens,
                   settings.context_tokens)

    def tokens_for(self, answer_tokens: Optional[int]) -> Optional[int]:
        if self.context_tokens is None:
            return self.max_tokens
        room = max(1, self.context_tokens - (answer_tokens or self.context_tokens // 4))
        return room if self.max_tokens is None else min(self.max_tokens, room)


@dataclass
class TurnStart:
    """What the cell asked to change before its turn (``-n``, ``-s``), committed with the turn.

    A request that fails before any answer arrives leaves the conversation exactly as it was;
    until the commit, requests are built as if the change had been made.
    """

    new: bool = False
    system: Optional[str] = None
    replace_last: bool = False  # a re-run cell: its earlier turn, the last, goes (issue 24)

    def applied_to(self, thread: Conversation) -> Conversation:
        """The conversation as the request sees it (a copy when something changes)."""
        if not self.new and self.system is None and not self.replace_last:
            return thread
        seen = Conversation(
            thread.name,
            system=self.system if self.system is not None else thread.system,
            messages=[] if self.new else list(thread.messages),
        )
        if self.replace_last:
            seen.undo()
        return seen

    def commit(self, thread: Conversation) -> None:
        if self.replace_last:
            thread.undo()
        if self.new:
            thread.reset()
        if self.system is not None:
            thread.system = self.system


@dataclass
class TurnOptions:
    """Everything one exchange needs besides its prompt and its view.

    ``request`` is what goes into each request's body; the rest says where the exchange is
    recorded, how much history goes with it, and how it may be stopped. The tool fields are
    read by the tool loop only.
    """

    request: ChatOptions = field(default_factory=ChatOptions)
    conversation: str = "default"
    budget: HistoryBudget = field(default_factory=HistoryBudget)
    new: bool = False  # -n: start the conversation afresh, committed with the turn
    system: Optional[str] = None  # -s: the system prompt, committed with the turn
    cancellation: Optional[Cancellation] = None
    clock: Callable[[], float] = time.monotonic
    tools: List[Tool] = field(default_factory=list)
    confirm: Optional[Confirm] = None  # asked before each tool call; None runs them
    max_rounds: int = 5
    max_calls_per_round: int = 8
    tool_notes: List[str] = field(default_factory=list)  # MCP tools renamed or refused
    cell_id: Optional[str] = None  # the notebook cell that asked (issue 24: cell-owned turns)
    replace_last: bool = False  # that cell made the conversation's last turn: this one replaces it

    @property
    def start(self) -> TurnStart:
        return TurnStart(self.new, self.system, self.replace_last)
