"""What a chat turn produces: the result types (the view protocol is ``core/events.py``).

The views (``ui``) import these and nothing else of the use case, so the turn's machinery can
change without touching them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..api.accumulator import ChoiceState
from ..masking import redact_pieces
from ..plain_text import shortened, terminal_safe
from ..redaction import mask_key
from ..state import redact


@dataclass
class Choice:
    index: int
    text: str
    finish_reason: Optional[str] = None
    refusal: Optional[str] = None
    tool_calls: List[Dict[str, Any]] = field(default_factory=list)
    reasoning: Optional[str] = None  # streamed reasoning: shown, never sent back
    parsed: Any = None  # with --schema: the answer as the object asked for
    # issue 29: url_citation sources ({url, title, start_index, end_index}) and token logprobs
    citations: List[Dict[str, Any]] = field(default_factory=list)
    logprobs: Optional[List[Dict[str, Any]]] = None
    audio: bool = False  # the model answered in audio (modalities), which is not shown

    @classmethod
    def from_state(cls, state: ChoiceState, key: Optional[str] = None) -> Choice:
        """The choice as shown and recorded; refusal and tool calls are redacted whole here
        (the content was redacted as it streamed)."""
        tool_calls = [
            {
                **call,
                "function": {
                    "name": redact(call["function"]["name"], key),
                    "arguments": redact(call["function"]["arguments"], key),
                },
            }
            for call in state.tool_call_list()
        ]
        refusal = state.refusal
        return cls(
            state.index,
            state.content,
            state.finish_reason,
            redact(refusal, key) if refusal else refusal,
            tool_calls,
            redact(state.reasoning, key) if state.reasoning else state.reasoning,
            citations=[{**c, "url": redacted_url(c["url"], key), "title": redact(c["title"], key)}
                       for c in state.citations],
            logprobs=redacted_logprobs(state.logprobs, key) if state.logprobs else None,
            audio=state.audio,
        )


def redacted_url(url: str, key: Optional[str]) -> str:
    """A cited URL with the key masked, percent-encoded too (a browser would decode it): such a
    URL becomes the mask alone, never a link."""
    from urllib.parse import unquote

    decoded = unquote(url)
    return mask_key(key) if redact(decoded, key) != decoded else redact(url, key)


def redacted_logprobs(tokens: List[Dict[str, Any]], key: Optional[str]) -> List[Dict[str, Any]]:
    """Logprobs with the key masked in the tokens as joined text (a key may span tokens) and in
    every alternative."""
    shown = redact_pieces([t["token"] for t in tokens], key)
    return [{**t, "token": text,
             "top_logprobs": [{**a, "token": redact(a["token"], key)} for a in t["top_logprobs"]]}
            for t, text in zip(tokens, shown)]


@dataclass
class ChatResult:
    """What ``-o VAR`` stores: the answer and everything known about how it was made."""

    text: str = ""
    choices: List[Choice] = field(default_factory=list)
    usage: Optional[Dict[str, Any]] = None
    model: Optional[str] = None
    finish_reason: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    conversation: str = "default"
    organization: Optional[str] = None
    project: Optional[str] = None
    first_token_seconds: Optional[float] = None
    total_seconds: Optional[float] = None
    interrupted: bool = False
    error: Optional[str] = None
    notices: List[str] = field(default_factory=list)
    streamed: bool = True
    ignored_limit: Optional[int] = None  # --max-tokens the server ran past (answer cut by us)
    reasoning: Optional[str] = None  # the model's streamed reasoning (choice 1); not in history
    parsed: Any = None  # with --schema: a dataclass instance, a dict or a pydantic model
    cost: Optional[float] = None  # estimated USD (costs.py); None when the price is unknown
    service_tier: Optional[str] = None  # the tier the server billed ("flex" costs less)
    schema_problem: Optional[str] = None  # with --schema: why an answer is not the object asked for
    # issue 29
    price_source: Optional[str] = None  # where prices come from: the session's first priced answer
    id: Optional[str] = None  # the completion id (chatcmpl-…)
    citations: List[Dict[str, Any]] = field(default_factory=list)  # choice 1's url_citation sources
    logprobs: Optional[List[Dict[str, Any]]] = None  # choice 1's {token, logprob, top_logprobs}

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get("x-request-id")

    @property
    def partial(self) -> bool:
        """The answer did not end as the server meant it to: stopped, or cut off by an error."""
        return self.interrupted or self.error is not None

    @property
    def nothing_arrived(self) -> bool:
        """The answer ended (error or stop) before any text or tool call came back.

        CONTRACTS 1: then there is no answer block and no footer; the cell's one line says it all.
        """
        return self.partial and not self.text and not any(c.tool_calls for c in self.choices)

    @property
    def billed_organization(self) -> Optional[str]:
        """The organization the server says it billed (its ``openai-organization`` header)."""
        return self.headers.get("openai-organization")

    def __repr__(self) -> str:
        state = "interrupted" if self.interrupted else ("partial" if self.partial else "complete")
        preview = shortened(self.text, 60)
        return terminal_safe(
            f"<ChatResult {state} model={self.model!r} finish_reason={self.finish_reason!r} "
            f"request_id={self.request_id!r} text={preview!r}>"
        )

    def __str__(self) -> str:
        return self.text


class StoppedAnswer(KeyboardInterrupt):
    """A KeyboardInterrupt that carries the result it cut short, recorded and shown already."""

    def __init__(self, result: ChatResult) -> None:
        super().__init__()
        self.result = result


class Cancellation:
    """Lets another thread stop a running answer (the panel's Stop button)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._stream: Any = None

    def attach(self, stream: Any) -> None:
        self._stream = stream
        if self.requested.is_set():
            stream.abort()

    def cancel(self) -> None:
        self.requested.set()
        if self._stream is not None:
            self._stream.abort()
