"""The tool loop: a turn of several requests.

The prompt goes with ``tools``; while the model answers with tool calls, each call runs in the
kernel (after ``confirm`` unless none is given) and its result goes back as a ``tool`` message,
for at most ``max_rounds`` rounds. Whatever goes wrong with a call (an exception, an unknown
name, arguments that are not JSON, the user saying no) becomes the text of its ``tool``
message, so the model is told and the loop goes on.

The whole exchange (the assistant's ``tool_calls``, every ``tool`` result, the final answer) is
recorded once, as one turn: follow-ups see it, ``%chat undo`` removes it. Every recorded
``tool_calls`` message is followed by one ``tool`` message per call, even after an interrupt,
so history stays valid; the calls of a round past ``max_rounds`` are shown but not recorded.
A follow-up request that fails before anything arrives is not recorded: the rounds before it
are (CONTRACTS 2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..api.request import validate_chat_options
from ..errors import InputError, OAIError
from ..state import Message
from .events import View
from .results import ChatResult, StoppedAnswer
from .tools import ToolOutcome, run_call
from .turn import ChatTurn


@dataclass(repr=False)
class ToolChatResult(ChatResult):
    """A ChatResult for the whole exchange: the final answer, plus every tool call's outcome."""

    rounds: int = 0
    tool_results: List[ToolOutcome] = field(default_factory=list)
    messages: List[Message] = field(default_factory=list)  # recorded after the user message
    requests: int = 0

    @property
    def unpriced(self) -> bool:
        """A request's price was unknown, so the exchange's total is unknown too."""
        return self.requests > 0 and self.cost is None


class CannotConfirm(InputError):
    """The frontend cannot ask a question (no stdin), so tool calls cannot be confirmed."""


def round_limit_note(rounds: int) -> str:
    return (f"⚠ stopped after {rounds} tool round{'s' if rounds != 1 else ''} "
            "(OAIMagics.max_tool_rounds): the model's last tool calls were not run.")


class ToolTurn(ChatTurn):
    """Ask with ``options.tools`` until the model answers in text (or ``max_rounds`` ran).

    The view (``events.View``) is told ``end_round(result)`` and ``tool_outcome(i, outcome)``
    besides the answer's events, and ``end(result)`` once for the whole exchange.
    ``--tool-choice`` applies to the first request; later ones use auto, so a forced call
    cannot repeat until the limit. ``run`` raises like ``ChatTurn.run``: again after recording
    on an interrupt, or when nothing usable came back.
    """

    def _run(self, prompt: Any, view: View) -> ToolChatResult:  # ChatTurn.run: in order
        turn = self.options
        options, clock = turn.request, turn.clock
        validate_chat_options(options)  # a bad option is one line, before anything is shown
        first_choice = options.tool_choice
        later_choice = first_choice if first_choice in (None, "auto", "none") else "auto"
        specs = [t.spec() for t in turn.tools]
        user = Message("user", prompt)
        replies: List[Message] = []
        final = self.result = ToolChatResult(conversation=turn.conversation, messages=replies)
        last: Optional[ChatResult] = None
        calls: List[Dict[str, Any]] = []  # this round's calls
        open_calls: List[Dict[str, Any]] = []  # calls still owed a tool message
        failure: Optional[BaseException] = None
        started = clock()
        waited = 0.0  # in the kernel's tools and at the [y/N] question: not the server's time

        def answer(index: int, outcome: ToolOutcome) -> None:
            _answer(final, replies, open_calls, view, index, outcome)

        try:
            while True:
                round_options = dataclasses.replace(
                    options, tools=specs, tool_choice=first_choice if last is None else later_choice
                )
                round_started = clock()
                last, failure = self.request([user, *replies], view, round_options)
                if not final.requests:
                    for note in turn.tool_notes:  # MCP tools renamed or refused
                        final.notices.append(note)
                        view.notice(note)
                _add_round(final, last, round_started - started - waited)
                choice = last.choices[0] if last.choices else None
                calls = _with_ids(choice.tool_calls, len(replies)) if choice else []
                if choice is not None and (choice.text or choice.refusal or calls):
                    replies.append(Message("assistant", choice.text or choice.refusal
                                           or ("" if calls else None),
                                           partial=last.partial, tool_calls=calls or None))
                open_calls = list(calls)
                if calls:
                    view.end_round(last)
                if failure is not None or last.partial or not calls:
                    break
                if final.rounds >= turn.max_rounds:
                    final.notices.append(round_limit_note(final.rounds))
                    _drop_unrun_round(final, replies, open_calls, view, choice.text, calls,
                                      turn.max_rounds)
                    break
                final.rounds += 1
                asking = clock()
                for index, call in enumerate(calls):
                    if index >= turn.max_calls_per_round:
                        outcome = _not_run(call, f"Not run: at most {turn.max_calls_per_round} tool "
                                                 "calls run in one round "
                                                 "(OAIMagics.max_tool_calls_per_round).")
                    else:
                        outcome = run_call(call, turn.tools, turn.confirm,
                                           output_limit=self.state.settings.max_tool_output_chars)
                    answer(index, outcome)
                waited += clock() - asking
        except BaseException as exc:  # interrupt or no way to confirm, between requests
            failure = exc
            final.interrupted = isinstance(exc, KeyboardInterrupt)
            if not final.interrupted:
                final.error = str(exc)
        finally:
            _fold_last(final, last, clock() - started)
            reason = "interrupted by the user" if final.interrupted else "the exchange stopped first"
            for call in list(open_calls):
                index = calls.index(call) if call in calls else len(calls)
                answer(index, _not_run(call, f"Not run: {reason}."))
            if replies and final.interrupted:
                replies[-1].partial = True
            # A follow-up request that failed before anything arrived added nothing to
            # ``replies``: the rounds before it are recorded, each tool_calls with its results.
            self.record(user, list(replies))
            # CONTRACTS 1: when the first request brought nothing, the view shows nothing (it
            # decides, from final.nothing_arrived) and the cell's one line is all.
            if last is not None:
                view.end(final)
        if isinstance(failure, KeyboardInterrupt):
            raise StoppedAnswer(final) from None
        if failure is not None and (not replies or not isinstance(failure, OAIError)):
            raise failure
        if isinstance(failure, CannotConfirm):
            raise failure
        return final


def _with_ids(calls: List[Dict[str, Any]], seen: int) -> List[Dict[str, Any]]:
    """Copies of the assembled calls, each with an id (some servers send none) and a type."""
    fixed = []
    for index, call in enumerate(calls):
        function = call.get("function") or {}
        fixed.append({
            "id": call.get("id") or f"call_{seen}_{index}",
            "type": call.get("type") or "function",
            "function": {"name": function.get("name") or "", "arguments": function.get("arguments") or ""},
        })
    return fixed


def _not_run(call: Dict[str, Any], reason: str) -> ToolOutcome:
    return ToolOutcome(call["id"], call["function"]["name"], None, "skipped", reason)


def _drop_unrun_round(final: ToolChatResult, replies: List[Message], open_calls: List[Dict[str, Any]],
                      view: Any, text: str, calls: List[Dict[str, Any]], limit: int) -> None:
    """The round past the limit is shown, not recorded: a stand-in "Not run" tool result in
    history would be read by the model, which then tells the user about it. Without its calls
    the history stays valid for the API; any text the model wrote beside them is kept."""
    if text:
        replies[-1] = Message("assistant", text, partial=replies[-1].partial)
    else:
        replies.pop()
    open_calls.clear()
    for index, call in enumerate(calls):
        outcome = _not_run(call, f"Not run: the limit of {limit} tool rounds for one prompt "
                                 "was reached (not recorded in the conversation).")
        final.tool_results.append(outcome)
        if view is not None:
            view.tool_outcome(index, outcome)


def _answer(
    final: ToolChatResult,
    replies: List[Message],
    open_calls: List[Dict[str, Any]],
    view: View,
    index: int,
    outcome: ToolOutcome,
) -> None:
    """Record one call's tool message and show what happened."""
    final.tool_results.append(outcome)
    replies.append(Message("tool", outcome.content, tool_call_id=outcome.call_id))
    open_calls[:] = [c for c in open_calls if c["id"] != outcome.call_id]
    view.tool_outcome(index, outcome)


def _add_round(final: ToolChatResult, last: ChatResult, offset: float) -> None:
    """Usage adds up over the requests; the first token is timed from the first request, without
    the time spent running tools and waiting at the [y/N] question (``offset`` excludes it)."""
    if last.usage:
        total = dict(final.usage or {})
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if isinstance(last.usage.get(key), int):
                total[key] = total.get(key, 0) + last.usage[key]
        for group, key in (("prompt_tokens_details", "cached_tokens"),
                           ("completion_tokens_details", "reasoning_tokens")):
            value = (last.usage.get(group) or {}).get(key)
            if isinstance(value, int):
                details = dict(total.get(group) or {})
                details[key] = details.get(key, 0) + value
                total[group] = details
        final.usage = total
    priced_so_far = not final.unpriced
    final.requests += 1
    final.cost = (final.cost or 0.0) + last.cost if priced_so_far and last.cost is not None else None
    if final.first_token_seconds is None and last.first_token_seconds is not None:
        final.first_token_seconds = offset + last.first_token_seconds
    final.notices.extend(n for n in last.notices if n not in final.notices)


def _fold_last(final: ToolChatResult, last: Optional[ChatResult], total: float) -> None:
    """The exchange's answer is the last response's; its state says how the exchange ended."""
    final.total_seconds = total
    if last is not None:
        final.text, final.choices = last.text, last.choices
        final.reasoning = last.reasoning
        final.model, final.finish_reason, final.headers = last.model, last.finish_reason, last.headers
        final.service_tier = last.service_tier
        final.organization, final.project = last.organization, last.project
        final.interrupted = final.interrupted or last.interrupted
        final.streamed, final.ignored_limit = last.streamed, last.ignored_limit
        final.error = final.error or last.error
