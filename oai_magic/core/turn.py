"""The chat turn: one exchange that streams into a view, records itself once, and returns.

``%%chat``, ``%%chat -N`` and the chat panel run the same ``ChatTurn``; the tool loop
(``core/tool_loop.py``) is a turn of several requests. History is written once the exchange is
over (as simonw/llm does), following CONTRACTS section 2:

- nothing arrived: nothing is committed, ``-n``/``-s`` included;
- part of an answer arrived (an error, an interrupt, Stop): it is committed as partial, with
  ``-n``/``-s``, so the model later sees what it said and ``%chat undo`` can remove it;
- a tool round: the assistant's ``tool_calls`` and their results are committed as a pair.

``record_exchange`` is the one place where anything is written into a conversation;
``ChatTurn.recorded`` says what it wrote, so a view (the panel) need not compare histories.
"""

from __future__ import annotations

import dataclasses
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

from ..api.request import ChatOptions
from ..state import KernelState, Message
from .events import View
from .exchange import send_request
from .results import ChatResult, StoppedAnswer
from .turn_options import TurnOptions, TurnStart


def record_exchange(
    state: KernelState, name: str, user: Message, replies: List[Message],
    start: Optional[TurnStart] = None,
) -> List[Message]:
    """Commit one exchange with the cell's ``-n``/``-s`` under the state lock, then tell the
    listeners what was recorded (``info["recorded"]``; ``info["new"]`` when ``-n`` emptied the
    conversation first). Returns the messages recorded."""
    with state.lock:
        thread = state.conversation(name)
        if start is not None:
            start.commit(thread)
        thread.record_turn(user, replies)
    recorded = [user, *replies]
    state.notify("conversation", {"name": name, "recorded": recorded,
                                  "new": bool(start is not None and start.new)})
    return recorded


class ChatTurn:
    """One prompt and its answer: ``ChatTurn(state, client, options).run(prompt, view)``.

    ``run`` raises ``StoppedAnswer`` (a KeyboardInterrupt) after recording a partial answer, and
    OAIError when nothing usable came back; a partial answer with an error is returned with
    ``error`` set. Afterwards ``result`` is the ChatResult and ``recorded`` the messages written
    into the conversation (empty when nothing was).
    """

    def __init__(self, state: KernelState, client: Any, options: Optional[TurnOptions] = None):
        self.state = state
        self.client = client
        self.options = options or TurnOptions()
        self.result: Optional[ChatResult] = None
        self.recorded: List[Message] = []
        self.replaced_notice: Optional[str] = None  # a re-run cell's turn replaced its earlier one

    def run(self, prompt: Any, view: View) -> ChatResult:
        """The turn, once no other turn on its conversation is under way (see ``in_order``)."""
        from .durable import LoggedTurn

        with in_order(self.state, self.options.conversation):
            logged = LoggedTurn(self.state, self.options, prompt)
            if logged.replacing:
                self.options = dataclasses.replace(self.options, replace_last=True)
            try:
                result = self._run(prompt, logged.watch(view))
            except BaseException as exc:
                logged.end(self.recorded, self.result, exc)
                raise
            logged.end(self.recorded, result, None)
            return result

    def _run(self, prompt: Any, view: View) -> ChatResult:
        user = Message("user", prompt)
        result, failure = self.request([user], view)
        _tool_calls_as_text(result, view)
        self.result = result
        try:
            self.record(user, _replies(result))
            if self.replaced_notice:
                result.notices.append(self.replaced_notice)
                view.notice(self.replaced_notice)
        finally:
            view.end(result)
        if isinstance(failure, KeyboardInterrupt):
            raise StoppedAnswer(result) from None
        if failure is not None and not result.text:
            raise failure
        return result

    def request(self, new_messages: List[Message], view: View,
                options: Optional[ChatOptions] = None) -> Any:
        """One request of this turn: (result, failure); records nothing."""
        return send_request(self.state, self.client, new_messages, view, self.options,
                            options or self.options.request)

    def record(self, user: Message, replies: List[Message]) -> None:
        """The turn's one commit; nothing when no reply arrived (CONTRACTS 2)."""
        if replies and not self.recorded:
            self.recorded = record_exchange(self.state, self.options.conversation, user, replies,
                                            self.options.start)
            if self.options.replace_last:
                self.replaced_notice = (f"replaced this cell's earlier answer in "
                                        f"'{self.options.conversation}'")


@contextmanager
def in_order(state: KernelState, conversation: str) -> Iterator[None]:
    """One turn at a time on a conversation: a second one (a cell while the panel answers, two
    threads, a cell run again at once) waits for the first to end.

    It waits rather than being refused: both prompts were meant, in that order, and the second
    is sent with the first's answer in its history, so the answers never interleave on screen
    or in the history. Listeners hear "turn waiting" when a turn has to wait. The lock is
    re-entrant (a tool that chats on its own conversation does not deadlock) and the wait is
    interruptible (Ctrl-C in the kernel's main thread).
    """
    with state.lock:
        lock = state.turn_locks.setdefault(conversation, threading.RLock())
    if not lock.acquire(blocking=False):
        state.notify("turn waiting", {"name": conversation})
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _replies(result: ChatResult) -> List[Message]:
    """The assistant's message for this result; none when nothing of the answer arrived."""
    if not result.choices:
        return []
    first = result.choices[0]
    if result.partial and not (first.text or first.tool_calls):
        return []
    return [Message(
        "assistant",
        # "" rather than null, beside tool_calls and for an answer that was all reasoning: the
        # API refuses an assistant message with neither content nor tool_calls (CONTRACTS 2).
        first.text or first.refusal or "",
        partial=result.partial,
        tool_calls=first.tool_calls or None,
        alternatives=[c.text for c in result.choices] if len(result.choices) > 1 else None,
    )]


def _tool_calls_as_text(result: ChatResult, view: View) -> None:
    """Tool calls nobody offered tools for are shown and kept as text, never as ``tool_calls``.

    Recorded as calls they would need tool replies, and the next request would be one the API
    rejects; run, they would run something the user never listed.
    """
    for choice in result.choices:
        if not choice.tool_calls:
            continue
        calls = ", ".join(
            f"{call['function']['name']}({call['function']['arguments']})"
            for call in choice.tool_calls
        )
        note = f"[the model asked for tools, but none were offered; not run: {calls}]"
        note = ("\n\n" if choice.text else "") + note
        choice.text += note
        choice.tool_calls = []
        view.delta(choice.index, note)
        if choice.index == 0:
            result.text = choice.text
