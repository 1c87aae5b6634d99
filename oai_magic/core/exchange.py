"""One request of a turn: history + new messages → request → stream into a view → result.

Records nothing and does not end the view: the turn (``core/turn.py``) decides what a request
means for the conversation. Two server differences are absorbed here, each with a notice and at
most once: a 400 naming the ``--max-tokens`` field, a refused ``json_schema`` response format,
and a stream with no event at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..api.accumulator import ChatAccumulator, MalformedChunk
from ..api.coalesce import apart
from ..api.limits import Limits
from ..api.request import ChatOptions, apply_extra_fields, build_chat_payload
from ..errors import APIError, BadRequestError, InputError, OAIError, StreamIncompleteError
from ..redaction import ENCODED_WINDOW
from ..state import KernelState, Message, StreamRedactor, content_images, redact
from .cache_keys import drop_cache_key, prompt_cache_key
from .costs import account_answer, warm_prices
from .events import View
from .other_servers import (
    FILES_HINT,
    OTHER_MAX_TOKENS_FIELD,
    after_answer_notices,
    context_hint,
    names_field,
    refuses_cache_key,
    refuses_files,
    refuses_images,
    refuses_json_schema,
    send_schema_as_json_object,
)
from .results import Cancellation, ChatResult, Choice
from .turn_options import TurnOptions

RUNAWAY_FACTOR = 2  # an answer this many times past --max-tokens means the limit was ignored
CHARS_PER_TOKEN = 4


def send_request(
    state: KernelState, client: Any, new_messages: List[Message], view: View,
    turn: TurnOptions, options: ChatOptions,
) -> Tuple[ChatResult, Optional[BaseException]]:
    """One request: history + ``new_messages`` → stream into ``view`` → (result, failure).

    ``options`` is this request's (the tool loop changes ``tool_choice`` between rounds).
    """
    budget = turn.budget
    conversation = turn.conversation
    clock = turn.clock
    base_url = state.settings.resolved_base_url()
    learned = state.max_tokens_fields.get(base_url)
    if learned and learned != options.max_tokens_field:
        options = dataclasses.replace(options, max_tokens_field=learned)
    if options.json_schema is not None and base_url in state.json_schema_refused:
        options = dataclasses.replace(options, schema_as_json_object=True)
    if options.prompt_cache_key is None:
        options = dataclasses.replace(options, prompt_cache_key=prompt_cache_key(state, conversation))
    with state.lock:
        thread = turn.start.applied_to(state.conversation(conversation))
        messages, dropped = thread.api_messages(
            new_messages, max_messages=budget.max_messages,
            max_tokens=budget.tokens_for(options.max_tokens),
        )
    model = options.model or state.settings.model
    warm_prices()  # the price data loads while the request is under way
    payload = build_chat_payload(model, messages, options)
    overrides = apply_extra_fields(payload, options)
    check_budget(state, payload.get("model"))
    result = ChatResult(
        model=model,
        conversation=conversation,
        organization=options.organization or state.settings.resolved_organization(),
        project=options.project or state.settings.resolved_project(),
    )
    _gather_notices(state, result, messages, len(new_messages), overrides, dropped)
    view.begin(result.notices)
    exchange = _Exchange(state, client, view, result, turn.cancellation, clock,
                         max_choices=max(1, options.n or 1))
    failure: Optional[BaseException] = None
    try:
        try:
            exchange.run(payload, options)
        except MalformedChunk as exc:
            raise APIError(f"the server sent a malformed answer: {exc}") from None
        asked, returned = options.n or 1, len(exchange.accumulator.choices)
        if 0 < returned < asked:
            _late_notice(view, result,
                         f"The server returned {returned} of {asked} choices; it may not support n.")
    except KeyboardInterrupt as exc:
        result.interrupted = True
        failure = exc
    except OAIError as exc:
        if isinstance(exc, APIError) and exc.code == "context_length_exceeded":
            history_sent = len(messages) - len(new_messages) - (1 if thread.system else 0)
            exc.message += context_hint(history_sent, budget.context_tokens)
        if isinstance(exc, BadRequestError) and refuses_images(exc, messages):
            exc.message += " — this model may not accept images (try a vision model with -m)"
        elif isinstance(exc, BadRequestError) and refuses_files(exc, messages):
            exc.message += FILES_HINT
        result.error = str(exc)
        if not result.headers and getattr(exc, "headers", None):
            result.headers = exc.headers
        failure = exc
    finally:
        result.total_seconds = clock() - exchange.started
        accumulator = exchange.accumulator
        for index, text in accumulator.flush():
            view.delta(index, text)
        _show_reasoning(view, accumulator, exchange.key)  # the reasoning the redactor held back
        _fold(accumulator, result, exchange.key)
        if failure is None and not result.interrupted:
            for notice in after_answer_notices(result, exchange.options or options):
                _late_notice(view, result, notice)
        if turn.cancellation is not None and turn.cancellation.requested.is_set():
            result.interrupted = True
            result.error = None
            failure = None
        state.remember_headers(result.headers)
        # A stop after the server took the request is billed too, with no usage reported.
        if accumulator.usage or accumulator.choices or (result.interrupted and result.headers):
            _account(state, result, messages)
            if result.usage:
                view.usage(result.usage, result.cost)
    return result, failure


def _gather_notices(
    state: KernelState, result: ChatResult, messages: List[Dict[str, Any]], new: int,
    overrides: List[str], dropped: int,
) -> None:
    """What the user should know before the answer: no key, plain HTTP, context, trimming."""
    if not state.settings.resolved_key() and not state.settings.key_required():
        base_url = state.settings.resolved_base_url()
        if state.first_time("no key", base_url):
            result.notices.append(f"No API key is set: requests to {base_url} are sent without one.")
    warning = state.insecure_http_warning()
    if warning:
        result.notices.append(warning)
    with state.lock:
        result.notices.extend(state.context_notices)
        state.context_notices = []
    resent = sum(len(content_images(m.get("content"))) for m in messages[: len(messages) - new])
    if resent:
        result.notices.append(
            f"{resent} image{'s' if resent != 1 else ''} from earlier turns sent again "
            "(the API needs the whole conversation each time)."
        )
    result.notices.extend(overrides)
    if dropped:
        result.notices.append(
            f"History trimmed: the {dropped} oldest exchange{'s' if dropped != 1 else ''} "
            f"of '{result.conversation}' were not sent (over the history budget)."
        )


def check_budget(state: KernelState, model: Optional[str]) -> None:
    """Refuse a request once the session's budget is spent (``OAIMagics.session_budget_*``),
    or today's (``daily_budget_usd``, counted in the log across kernels)."""
    if state.settings.daily_budget_usd is not None:
        from .durable import daily_refusal

        refusal = daily_refusal(state)
        if refusal:
            raise InputError(refusal)
    if state.budget_usd is None and state.budget_tokens is None:
        return
    from .costs import budget_of, budget_refusal, ledger_of

    refusal = budget_refusal(ledger_of(state), budget_of(state), model, state.prices)
    if refusal:
        raise InputError(refusal)


def _account(state: KernelState, result: ChatResult, messages: List[Dict[str, Any]]) -> None:
    """The response's estimated cost, added to the session's totals (a partial answer the
    server reported no usage for is estimated from its characters)."""
    from .costs import estimated_usage

    if result.partial and not result.usage:
        result.usage = estimated_usage(messages, [
            c.text + (c.refusal or "") + (c.reasoning or "") + str(c.tool_calls or "")
            for c in result.choices], CHARS_PER_TOKEN)
    account_answer(state, result)
    from .durable import log_usage

    log_usage(state, result)


def _late_notice(view: View, result: ChatResult, text: str) -> None:
    """A notice that arrives after the request began: kept with the result (the footer's views
    show ``result.notices`` at the end) and told to the view as a ``Notice`` event."""
    result.notices.append(text)
    view.notice(text)


class _EmptyStream(Exception):
    """The stream ended without a single event (llama.cpp past its context): ask again whole."""


class _Exchange:
    """The stream of one request, fed into the accumulator and shown in the view as it comes."""

    def __init__(self, state: KernelState, client: Any, view: View, result: ChatResult,
                 cancellation: Optional[Cancellation], clock: Callable[[], float],
                 max_choices: int = 1) -> None:
        self.state, self.client, self.view, self.result = state, client, view, result
        self.cancellation, self.clock = cancellation, clock
        self.key = state.settings.resolved_key()
        self.accumulator = ChatAccumulator(new_redactor=lambda: StreamRedactor(self.key),
                                           limits=Limits.of(state.settings), max_choices=max_choices)
        self.started = clock()
        self._calls_shown: Dict[int, Tuple[Tuple[int, int, int], ...]] = {}
        self.options: Optional[ChatOptions] = None  # the last request's (after any fallback)

    def run(self, payload: Dict[str, Any], options: ChatOptions) -> None:
        """``receive`` with the fallbacks below; a server that refuses ``json_schema`` with a
        validation error is asked again, once, with ``json_object`` and the schema, and one
        that refuses ``prompt_cache_key`` with a 400 without it (each remembered for this base
        URL)."""
        try:
            self._run(payload, options)
        except APIError as exc:
            if self.accumulator.choices:
                raise
            if refuses_cache_key(exc, payload):
                _late_notice(self.view, self.result, drop_cache_key(self.state, payload))
                self.run(payload, dataclasses.replace(options, prompt_cache_key=None))
                return
            if not refuses_json_schema(exc, payload):
                raise
            _late_notice(self.view, self.result, send_schema_as_json_object(self.state, payload))
            self._run(payload, dataclasses.replace(options, schema_as_json_object=True))

    def _run(self, payload: Dict[str, Any], options: ChatOptions) -> None:
        """``receive``, repeated once with the other ``--max-tokens`` field name or without
        streaming when the server needs it (remembered for this base URL)."""
        result = self.result
        try:
            try:
                self.receive(payload, options)
            except BadRequestError as exc:
                field_name = options.max_tokens_field
                if (options.max_tokens is None or self.accumulator.choices
                        or not names_field(exc, field_name)):
                    raise
                other = OTHER_MAX_TOKENS_FIELD[field_name]
                base_url = self.state.settings.resolved_base_url()
                payload[other] = payload.pop(field_name)
                self.state.max_tokens_fields[base_url] = other
                _late_notice(self.view, result,
                             f"The server refused {field_name}: --max-tokens was sent again as "
                             f"{other}, which this session now uses for {base_url}.")
                options = dataclasses.replace(options, max_tokens_field=other)
                self.receive(payload, options)
        except _EmptyStream:
            _late_notice(self.view, result,
                         "The streamed answer arrived empty (no events at all): the request was "
                         "repeated without streaming.")
            whole = {k: v for k, v in payload.items() if k not in ("stream", "stream_options")}
            try:
                self.receive(whole, dataclasses.replace(options, stream=False))
            except APIError as exc:
                exc.message += (" (the streamed request returned nothing, so it was repeated "
                                "without streaming)")
                raise

    def _take(self, chunk: Any) -> List[Tuple[int, str]]:
        """Add one chunk; show its reasoning and tool calls; return its content deltas."""
        deltas = self.accumulator.add(chunk)
        _show_reasoning(self.view, self.accumulator, self.key)
        return deltas

    def _after(self) -> None:
        self.accumulator.check_limits()
        self._show_tool_calls()

    def _show_tool_calls(self) -> None:
        """Tell the view (``view.tool_calls``) about tool calls as they form.

        What changed is read from the accumulator's state (one rule for what a tool call is).
        The calls are redacted whole each time, so a key split across fragments is masked too.
        """
        for index, choice in self.accumulator.choices.items():
            shape = tuple((len(c), len(c["function"]["name"]), len(c["function"]["arguments"]))
                          for c in choice.tool_call_list())
            if shape and shape != self._calls_shown.get(index):
                self._calls_shown[index] = shape
                self.view.tool_calls(index, Choice.from_state(choice, self.key).tool_calls)

    def receive(self, payload: Dict[str, Any], options: ChatOptions) -> None:
        self.options = options
        result, view, clock, cancellation = self.result, self.view, self.clock, self.cancellation
        target: Dict[str, Any] = {"organization": options.organization, "project": options.project}
        if cancellation is not None:
            target["cancel"] = cancellation.requested  # Stop works before headers and in back-off
        if not options.stream:
            result.streamed = False
            response = self.client.post("/chat/completions", json_body=payload, **target)
            result.headers = response.headers
            result.first_token_seconds = clock() - self.started
            if not isinstance(response.data, dict):
                kind = (response.content_type or "no content type").split(";")[0]
                raise APIError(
                    f"the server sent {kind}, not a chat completion",
                    status_code=response.status_code,
                    request_id=response.request_id,
                )
            for index, text in self._take(response.data):
                view.delta(index, text)
            self._after()
            return
        stream = self.client.stream("/chat/completions", json_body=payload, **target)
        result.headers = stream.headers
        if cancellation is not None:
            cancellation.attach(stream)
        events = 0
        # llama.cpp ignores max_completion_tokens: an answer far past the limit is cut here.
        limit = options.max_tokens * CHARS_PER_TOKEN * RUNAWAY_FACTOR if options.max_tokens else None
        held = ENCODED_WINDOW * len(self.key or "")  # most text a redactor holds, shown later
        sizes: Dict[int, int] = {}
        with stream:
            try:
                for joined in stream:
                    events += 1
                    # The events of one read come joined (api.coalesce); near the limit they
                    # are taken one by one, so the cut lands after the same event however
                    # the answer was split into reads (what a redactor held comes out too).
                    for chunk in ((joined,) if limit is None else
                                  apart(joined, limit - max(sizes.values(), default=0) - held)):
                        for index, text in self._take(chunk):
                            if result.first_token_seconds is None:
                                result.first_token_seconds = clock() - self.started
                            view.delta(index, text)
                            sizes[index] = sizes.get(index, 0) + len(text)
                        self._after()
                        if limit is not None and sizes and max(sizes.values()) > limit:
                            result.ignored_limit = options.max_tokens
                            for choice in self.accumulator.choices.values():
                                choice.finish_reason = choice.finish_reason or "length"
                            return  # leaving the ``with`` closes the stream
            except APIError as exc:
                if exc.request_id is None:
                    exc.request_id = stream.request_id
                raise
        if events == 0 and not stream.done:
            raise _EmptyStream()
        if not stream.done and not self.accumulator.complete():
            raise StreamIncompleteError(
                "the stream ended before the answer was finished (no [DONE] and no finish_reason)",
                request_id=stream.request_id,
            )


def _show_reasoning(view: View, accumulator: ChatAccumulator, key: Optional[str] = None) -> None:
    """Streamed reasoning goes to the view (``view.reasoning``; a no-op where not shown).

    Reasoning is server text too: the accumulator's redactor gives only what is safe joined
    (a key split across pieces is held back until it can be masked whole)."""
    for index, text in accumulator.reasoning_deltas:
        view.reasoning(index, redact(text, key))


def _fold(accumulator: ChatAccumulator, result: ChatResult, key: Optional[str] = None) -> None:
    result.choices = [Choice.from_state(c, key) for c in accumulator.ordered()]
    if accumulator.model:
        result.model = accumulator.model
    result.usage = accumulator.usage
    result.service_tier = redact(accumulator.service_tier, key) if accumulator.service_tier else None
    result.id = redact(accumulator.id, key) if accumulator.id else None
    if accumulator.usage_notice and accumulator.usage_notice not in result.notices:
        result.notices.append(accumulator.usage_notice)
    if result.choices:
        first = result.choices[0]
        result.text = first.text or (first.refusal or "")
        result.finish_reason = first.finish_reason
        result.reasoning = first.reasoning
        result.citations, result.logprobs = first.citations, first.logprobs
