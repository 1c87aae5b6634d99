"""The chat use case: history + prompt → request → stream → view, then the turn is recorded.

The same function serves ``%%chat`` and the chat panel; only the view differs. History is
written once the answer is over (as simonw/llm does). An answer cut short by an error, an
interrupt or Stop is kept visible and recorded with ``partial=True`` so the model later sees
what it said and ``%chat undo`` can remove it.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..api.accumulator import ChatAccumulator, MalformedChunk
from ..api.request import ChatOptions, apply_extra_fields, build_chat_payload
from ..errors import APIError, BadRequestError, InputError, OAIError, StreamIncompleteError
from ..state import Conversation, KernelState, Message, StreamRedactor, content_images, redact
from .results import Cancellation, ChatResult, ChatView, Choice, StoppedAnswer

__all__ = ["Cancellation", "ChatResult", "ChatView", "Choice", "StoppedAnswer"]


@dataclass
class TurnStart:
    """What the cell asked to change before its turn (``-n``, ``-s``), committed with the turn.

    A request that fails before any answer arrives leaves the conversation exactly as it was;
    until the commit, requests are built as if the change had been made.
    """

    new: bool = False
    system: Optional[str] = None

    def applied_to(self, thread: Conversation) -> Conversation:
        """The conversation as the request sees it (a copy when something changes)."""
        if not self.new and self.system is None:
            return thread
        return Conversation(
            thread.name,
            system=self.system if self.system is not None else thread.system,
            messages=[] if self.new else list(thread.messages),
        )

    def commit(self, thread: Conversation) -> None:
        if self.new:
            thread.reset()
        if self.system is not None:
            thread.system = self.system


def commit_turn(
    state: KernelState, name: str, user: Message, replies: List[Message],
    start: Optional[TurnStart] = None,
) -> None:
    """Record one exchange together with the cell's ``-n``/``-s``, under the state lock."""
    with state.lock:
        thread = state.conversation(name)
        if start is not None:
            start.commit(thread)
        thread.record_turn(user, replies)


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

    def tokens_for(self, answer_tokens: Optional[int]) -> Optional[int]:
        if self.context_tokens is None:
            return self.max_tokens
        room = max(1, self.context_tokens - (answer_tokens or self.context_tokens // 4))
        return room if self.max_tokens is None else min(self.max_tokens, room)


def ask(
    state: KernelState,
    client: Any,
    prompt: str,
    view: ChatView,
    *,
    options: Optional[ChatOptions] = None,
    conversation: str = "default",
    budget: Optional[HistoryBudget] = None,
    cancellation: Optional[Cancellation] = None,
    clock: Callable[[], float] = time.monotonic,
    start: Optional[TurnStart] = None,
) -> ChatResult:
    """Send ``prompt`` in ``conversation`` and stream the answer into ``view``.

    Raises ``StoppedAnswer`` (a KeyboardInterrupt) after recording a partial answer, and OAIError when
    nothing usable came back; a partial answer with an error is returned with ``error`` set.
    """
    user = Message("user", prompt)
    result, failure = send(
        state, client, [user], view, options=options, conversation=conversation,
        budget=budget, cancellation=cancellation, clock=clock, start=start,
    )
    _tool_calls_as_text(result, view)
    try:
        if _record(state, conversation, user, result, start):
            state.notify("conversation", {"name": conversation})
    finally:
        view.end(result)
    if isinstance(failure, KeyboardInterrupt):
        raise StoppedAnswer(result) from None
    if failure is not None and not result.text:
        raise failure
    return result


OTHER_MAX_TOKENS_FIELD = {"max_completion_tokens": "max_tokens", "max_tokens": "max_completion_tokens"}
RUNAWAY_FACTOR = 2  # an answer this many times past --max-tokens means the limit was ignored
CHARS_PER_TOKEN = 4


def send(
    state: KernelState,
    client: Any,
    new_messages: List[Message],
    view: ChatView,
    *,
    options: Optional[ChatOptions] = None,
    conversation: str = "default",
    budget: Optional[HistoryBudget] = None,
    cancellation: Optional[Cancellation] = None,
    clock: Callable[[], float] = time.monotonic,
    start: Optional[TurnStart] = None,
) -> Tuple[ChatResult, Optional[BaseException]]:
    """One request: history + ``new_messages`` → stream into ``view`` → (result, failure).

    Records nothing and does not end the view: ``ask`` records one turn, the tool loop in
    ``chat_extras`` sends several requests and records the whole exchange once. Options are
    validated (InputError) before anything is shown or sent.
    """
    options = options or ChatOptions()
    budget = budget or HistoryBudget()
    base_url = state.settings.resolved_base_url()
    learned = state.max_tokens_fields.get(base_url)
    if learned and learned != options.max_tokens_field:
        options = dataclasses.replace(options, max_tokens_field=learned)
    with state.lock:
        thread = state.conversation(conversation)
        if start is not None:
            thread = start.applied_to(thread)
        messages, dropped = thread.api_messages(
            new_messages, max_messages=budget.max_messages,
            max_tokens=budget.tokens_for(options.max_tokens),
        )
    model = options.model or state.settings.model
    payload = build_chat_payload(model, messages, options)
    overrides = apply_extra_fields(payload, options)
    check_budget(state, payload.get("model"))
    result = ChatResult(
        model=model,
        conversation=conversation,
        organization=options.organization or state.settings.resolved_organization(),
        project=options.project or state.settings.resolved_project(),
    )
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
    resent = sum(len(content_images(m.get("content"))) for m in messages[: len(messages) - len(new_messages)])
    if resent:
        result.notices.append(
            f"{resent} image{'s' if resent != 1 else ''} from earlier turns sent again "
            "(the API needs the whole conversation each time)."
        )
    result.notices.extend(overrides)
    if dropped:
        result.notices.append(
            f"History trimmed: the {dropped} oldest exchange{'s' if dropped != 1 else ''} "
            f"of '{conversation}' were not sent (over the history budget)."
        )
    view.begin(result.notices)
    key = state.settings.resolved_key()
    accumulator = ChatAccumulator(new_redactor=lambda: StreamRedactor(key))
    started = clock()
    failure: Optional[BaseException] = None
    try:
        try:
            _exchange(state, client, payload, options, accumulator, view, result, started, clock,
                      cancellation, max_answer_chars=state.settings.max_answer_chars, key=key)
        except MalformedChunk as exc:
            raise APIError(f"the server sent a malformed answer: {exc}") from None
        asked, returned = options.n or 1, len(accumulator.choices)
        if 0 < returned < asked:
            result.notices.append(
                f"The server returned {returned} of {asked} choices; it may not support n."
            )
    except KeyboardInterrupt as exc:
        result.interrupted = True
        failure = exc
    except OAIError as exc:
        if (isinstance(exc, APIError) and exc.code == "context_length_exceeded"
                and budget.context_tokens is None):
            exc.message += (" — %oai context N tells oai_magic the server's context size, so "
                            "older history is left out to fit")
        if isinstance(exc, BadRequestError) and _refuses_images(exc, messages):
            exc.message += " — this model may not accept images (try a vision model with -m)"
        result.error = str(exc)
        if not result.headers and getattr(exc, "headers", None):
            result.headers = exc.headers
        failure = exc
    finally:
        result.total_seconds = clock() - started
        for index, text in accumulator.flush():
            view.delta(index, text)
        _fold(accumulator, result, key)
        if cancellation is not None and cancellation.requested.is_set():
            result.interrupted = True
            result.error = None
            failure = None
        result.partial = result.interrupted or result.error is not None
        state.remember_headers(result.headers)
        if accumulator.usage or accumulator.choices:
            _account(state, result)
    return result, failure


def _refuses_images(error: APIError, messages: List[Dict[str, Any]]) -> bool:
    """A 400 that names image input, for a request that carried images."""
    text = f"{error.message} {error.param or ''} {error.code or ''}".lower()
    return "image" in text and any(content_images(m.get("content")) for m in messages)
def check_budget(state: KernelState, model: Optional[str]) -> None:
    """Refuse a request once the session's budget is spent (``OAIMagics.session_budget_*``)."""
    if state.budget_usd is None and state.budget_tokens is None:
        return
    from .costs import budget_of, budget_refusal, ledger_of

    refusal = budget_refusal(ledger_of(state), budget_of(state), model, state.prices)
    if refusal:
        raise InputError(refusal)


def _account(state: KernelState, result: ChatResult) -> None:
    """The response's estimated cost, added to the session's totals."""
    from .costs import estimate_cost, ledger_of

    result.cost = estimate_cost(result.usage, result.model, state.prices)
    ledger_of(state).record(result.usage, result.model, result.conversation, result.cost)


class _EmptyStream(Exception):
    """The stream ended without a single event (llama.cpp past its context): ask again whole."""


def _names_field(error: APIError, name: str) -> bool:
    return error.param == name or re.search(rf"\b{name}\b", error.message or "") is not None


def _exchange(
    state: KernelState,
    client: Any,
    payload: Dict[str, Any],
    options: ChatOptions,
    accumulator: ChatAccumulator,
    view: ChatView,
    result: ChatResult,
    started: float,
    clock: Callable[[], float],
    cancellation: Optional[Cancellation],
    *,
    max_answer_chars: int,
    key: Optional[str],
) -> None:
    """``_receive``, absorbing two server differences, each with a notice and at most once.

    A 400 naming the ``--max-tokens`` field is repeated with the other name, remembered for
    this base URL. A stream with no event at all is repeated without streaming, so the user
    gets the server's real answer or error.
    """
    def receive(payload: Dict[str, Any], options: ChatOptions) -> None:
        _receive(client, payload, options, accumulator, view, result, started, clock, cancellation,
                 max_answer_chars=max_answer_chars, key=key)

    try:
        try:
            receive(payload, options)
        except BadRequestError as exc:
            field_name = options.max_tokens_field
            if options.max_tokens is None or accumulator.choices or not _names_field(exc, field_name):
                raise
            other = OTHER_MAX_TOKENS_FIELD[field_name]
            base_url = state.settings.resolved_base_url()
            payload[other] = payload.pop(field_name)
            state.max_tokens_fields[base_url] = other
            result.notices.append(
                f"The server refused {field_name}: --max-tokens was sent again as {other}, "
                f"which this session now uses for {base_url}."
            )
            options = dataclasses.replace(options, max_tokens_field=other)
            receive(payload, options)
    except _EmptyStream:
        result.notices.append(
            "The streamed answer arrived empty (no events at all): the request was repeated "
            "without streaming."
        )
        whole = {k: v for k, v in payload.items() if k not in ("stream", "stream_options")}
        try:
            receive(whole, dataclasses.replace(options, stream=False))
        except APIError as exc:
            exc.message += (" (the streamed request returned nothing, so it was repeated "
                            "without streaming)")
            raise


def _show_tool_calls(
    view: ChatView, accumulator: ChatAccumulator, chunk: Dict[str, Any], key: Optional[str] = None
) -> None:
    """Tell a view that wants them (``view.tool_calls``) about tool calls as they form.

    The calls are redacted whole each time, so a key split across fragments is masked too.
    """
    show = getattr(view, "tool_calls", None)
    if show is None:
        return
    for raw in chunk.get("choices") or ():
        piece = raw.get("delta") or raw.get("message") or {}
        if piece.get("tool_calls"):
            index = raw.get("index", 0)
            show(index, Choice.from_state(accumulator.choice(index), key).tool_calls)


def _show_reasoning(view: ChatView, accumulator: ChatAccumulator, key: Optional[str] = None) -> None:
    """Streamed reasoning goes to a view that shows it (``view.reasoning``); others skip it.

    Reasoning is server text too: each piece is redacted before any view sees it."""
    show = getattr(view, "reasoning", None)
    if show is not None:
        for index, text in accumulator.reasoning_deltas:
            show(index, redact(text, key))


def _receive(
    client: Any,
    payload: Dict[str, Any],
    options: ChatOptions,
    accumulator: ChatAccumulator,
    view: ChatView,
    result: ChatResult,
    started: float,
    clock: Callable[[], float],
    cancellation: Optional[Cancellation],
    max_answer_chars: int = 4_000_000,
    key: Optional[str] = None,
) -> None:
    target: Dict[str, Any] = {"organization": options.organization, "project": options.project}
    if cancellation is not None:
        target["cancel"] = cancellation.requested  # Stop works before headers and in back-off
    if not options.stream:
        result.streamed = False
        response = client.post("/chat/completions", json_body=payload, **target)
        result.headers = response.headers
        result.first_token_seconds = clock() - started
        if not isinstance(response.data, dict):
            kind = (response.content_type or "no content type").split(";")[0]
            raise APIError(
                f"HTTP {response.status_code}: the server sent {kind}, not a chat completion",
                status_code=response.status_code,
                request_id=response.request_id,
            )
        deltas = accumulator.add(response.data)
        _show_reasoning(view, accumulator, key)
        for index, text in deltas:
            view.delta(index, text)
        _check_size(accumulator, max_answer_chars)
        _show_tool_calls(view, accumulator, response.data, key)
        return
    stream = client.stream("/chat/completions", json_body=payload, **target)
    result.headers = stream.headers
    if cancellation is not None:
        cancellation.attach(stream)
    events = 0
    # llama.cpp ignores max_completion_tokens: an answer far past the limit is cut here.
    limit = options.max_tokens * CHARS_PER_TOKEN * RUNAWAY_FACTOR if options.max_tokens else None
    sizes: Dict[int, int] = {}
    with stream:
        try:
            for chunk in stream:
                events += 1
                deltas = accumulator.add(chunk)
                _show_reasoning(view, accumulator, key)
                for index, text in deltas:
                    if result.first_token_seconds is None:
                        result.first_token_seconds = clock() - started
                    view.delta(index, text)
                    sizes[index] = sizes.get(index, 0) + len(text)
                _check_size(accumulator, max_answer_chars)
                _show_tool_calls(view, accumulator, chunk, key)
                if limit is not None and sizes and max(sizes.values()) > limit:
                    result.ignored_limit = options.max_tokens
                    for choice in accumulator.choices.values():
                        choice.finish_reason = choice.finish_reason or "length"
                    return  # leaving the ``with`` closes the stream
        except APIError as exc:
            if exc.request_id is None:
                exc.request_id = stream.request_id
            raise
    if events == 0 and not stream.done:
        raise _EmptyStream()
    if not stream.done and not accumulator.complete():
        raise StreamIncompleteError(
            "the stream ended before the answer was finished (no [DONE] and no finish_reason)",
            request_id=stream.request_id,
        )


def _check_size(accumulator: ChatAccumulator, max_answer_chars: int) -> None:
    """End an answer that grows past the cap: a hostile server could fill the kernel's memory."""
    if accumulator.content_chars > max_answer_chars:
        raise APIError(
            f"the answer passed {max_answer_chars:,} characters and was cut there "
            "(OAIMagics.max_answer_chars sets the limit)"
        )


def _fold(accumulator: ChatAccumulator, result: ChatResult, key: Optional[str] = None) -> None:
    result.choices = [Choice.from_state(c, key) for c in accumulator.ordered()]
    if accumulator.model:
        result.model = accumulator.model
    result.usage = accumulator.usage
    if result.choices:
        first = result.choices[0]
        result.text = first.text or (first.refusal or "")
        result.finish_reason = first.finish_reason
        result.reasoning = first.reasoning


def _tool_calls_as_text(result: ChatResult, view: ChatView) -> None:
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


def _record(
    state: KernelState, name: str, user: Message, result: ChatResult,
    start: Optional[TurnStart] = None,
) -> bool:
    """Append the exchange; a partial answer only when some of it arrived."""
    if not result.choices:
        return False
    first = result.choices[0]
    if result.partial and not (first.text or first.tool_calls):
        return False
    reply = Message(
        "assistant",
        first.text or first.refusal or None,
        partial=result.partial,
        tool_calls=first.tool_calls or None,
        alternatives=[c.text for c in result.choices] if len(result.choices) > 1 else None,
    )
    commit_turn(state, name, user, [reply], start)
    return True
