"""Folding chat completion chunks into whole answers, one per choice. No I/O.

Chunks carry ``choices[i].delta`` pieces keyed by ``index``: content, refusal, and tool call
fragments that are themselves keyed by their own index. The final usage chunk has
``choices: []``. A whole (non-streamed) completion is folded the same way through ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .limits import LimitReached, Limits, checked_usage, limit_reached


class MalformedChunk(ValueError):
    """A chunk whose shape is not a chat completion's (content that is not text, a list...)."""


class _PassThrough:
    """The redactor used when none is given: shows every piece at once."""

    def feed(self, piece: str) -> str:
        return piece

    def flush(self) -> str:
        return ""


@dataclass
class ChoiceState:
    index: int
    content_parts: List[str] = field(default_factory=list)
    refusal_parts: List[str] = field(default_factory=list)
    tool_calls: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    finish_reason: Optional[str] = None
    reasoning_parts: List[str] = field(default_factory=list)
    # issue 29: url_citation annotations, token logprobs, and an answer that came as audio
    citations: List[Dict[str, Any]] = field(default_factory=list)
    logprobs: List[Dict[str, Any]] = field(default_factory=list)
    audio: bool = False

    @property
    def reasoning(self) -> Optional[str]:
        return "".join(self.reasoning_parts) if self.reasoning_parts else None

    @property
    def content(self) -> str:
        if len(self.content_parts) > 1:
            self.content_parts[:] = ["".join(self.content_parts)]
        return self.content_parts[0] if self.content_parts else ""

    @property
    def refusal(self) -> Optional[str]:
        return "".join(self.refusal_parts) if self.refusal_parts else None

    def tool_call_list(self) -> List[Dict[str, Any]]:
        return [self.tool_calls[i] for i in sorted(self.tool_calls)]


def _citation(annotation: Any) -> Optional[Dict[str, Any]]:
    """A ``url_citation`` annotation as ``{url, title, start_index, end_index}``; other kinds
    (and malformed ones) are None. Server text: shown only through ``render.chrome``."""
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    cited = annotation.get("url_citation")
    if not isinstance(cited, dict) or not isinstance(cited.get("url"), str):
        return None
    title = cited.get("title")

    def index(name: str) -> Optional[int]:
        value = cited.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    return {"url": cited["url"][:MAX_CITATION_CHARS],
            "title": title[:MAX_CITATION_CHARS] if isinstance(title, str) else "",
            "start_index": index("start_index"), "end_index": index("end_index")}


def token_logprob(entry: Any) -> Optional[Dict[str, Any]]:
    """One token of ``logprobs.content``: ``{token, logprob, top_logprobs}`` (CONTRACTS 8)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    logprob = entry.get("logprob")
    if isinstance(logprob, bool) or not isinstance(logprob, (int, float)) or logprob != logprob:
        return None
    try:
        logprob = float(logprob)
    except OverflowError:  # an integer of hundreds of digits
        return None
    alternatives = entry.get("top_logprobs")
    top = []
    for alternative in alternatives if isinstance(alternatives, list) else ():
        folded = token_logprob({**alternative, "top_logprobs": None}) if isinstance(
            alternative, dict) else None
        if folded is not None:
            top.append({"token": folded["token"], "logprob": folded["logprob"]})
    return {"token": entry["token"], "logprob": float(min(0.0, logprob)),
            "top_logprobs": top[:MAX_TOP_ALTERNATIVES]}


MAX_CITATION_CHARS = 2000  # a url or title longer than this is cut (it is shown whole)
MAX_CITATIONS = 100
MAX_TOP_ALTERNATIVES = 20


def _merge_tool_call(calls: Dict[int, Dict[str, Any]], fragment: Any) -> int:
    """Fold one fragment in; returns the argument characters it added."""
    if not isinstance(fragment, dict):
        raise MalformedChunk("a tool call that is not an object")
    index = fragment.get("index", len(calls))
    if not isinstance(index, int) or isinstance(index, bool):
        raise MalformedChunk("a tool call whose index is not an integer")
    call = calls.setdefault(
        index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if fragment.get("id"):
        call["id"] = fragment["id"]
    if fragment.get("type"):
        call["type"] = fragment["type"]
    function = fragment.get("function") or {}
    if not isinstance(function, dict):
        raise MalformedChunk("a tool call whose function is not an object")
    for part in ("name", "arguments"):
        value = function.get(part)
        if value and not isinstance(value, str):
            raise MalformedChunk(f"a tool call whose function {part} is not text")
    name = function.get("name")
    # llama.cpp repeats the whole name (and the id) in every chunk of a call; OpenAI sends it
    # once. A name equal to the name so far is a repeat, not a fragment.
    if name and name != call["function"]["name"]:
        call["function"]["name"] += name
    if function.get("arguments"):
        call["function"]["arguments"] += function["arguments"]
        return len(function["arguments"])
    return 0


class ChatAccumulator:
    """Everything the stream said so far; ``add`` returns the content deltas to draw.

    ``limits`` bound what it holds (``check_limits``); a choice index at or past
    ``max_choices`` (the ``n`` asked for) ends the answer: never more choices than asked.
    """

    def __init__(self, new_redactor: Optional[Callable[[], Any]] = None,
                 limits: Optional[Limits] = None, max_choices: int = 128) -> None:
        #: One redactor per choice holds back a possible key split across deltas (state.py).
        self._new_redactor = new_redactor or _PassThrough
        self._redactors: Dict[int, Any] = {}
        self._thought_redactors: Dict[int, Any] = {}  # reasoning: redacted joined, like content
        self.limits = limits or Limits()
        self.max_choices = max_choices
        self.content_chars = 0  # answer and refusal characters, over all choices
        self.reasoning_chars = 0
        self.tool_argument_chars = 0
        #: Set when the server's usage held numbers that are not counts (treated as unreported).
        self.usage_notice: Optional[str] = None
        self.choices: Dict[int, ChoiceState] = {}
        self.usage: Optional[Dict[str, Any]] = None
        self.model: Optional[str] = None
        self.service_tier: Optional[str] = None  # the tier the server says it billed (costs)
        self.id: Optional[str] = None  # the completion id (chatcmpl-…)
        # Reasoning text of the last ``add`` (``delta.reasoning_content`` from DeepSeek, vLLM and
        # llama.cpp, ``delta.reasoning`` from others), by choice: shown, never sent back.
        self.reasoning_deltas: List[Tuple[int, str]] = []

    def choice(self, index: int) -> ChoiceState:
        state = self.choices.get(index)
        if state is None:
            state = self.choices[index] = ChoiceState(index)
        return state

    def add(self, chunk: Any) -> List[Tuple[int, str]]:
        # Called once per streamed event (20,000 for a long answer): every check stays, with
        # each field read once into a local.
        if not isinstance(chunk, dict):
            raise MalformedChunk(f"a JSON {type(chunk).__name__} instead of an object")
        get = chunk.get
        model = get("model")
        # ``id`` and ``system_fingerprint`` are not kept, but a chunk whose fields have the
        # wrong type is not a chat completion's.
        fields = (("model", model), ("id", get("id")), ("system_fingerprint", get("system_fingerprint")))
        for name, value in fields:
            if value is not None and not isinstance(value, str):
                raise MalformedChunk(f"{name} is not text")
        if model:
            self.model = model
        completion_id = fields[1][1]
        if completion_id:
            self.id = completion_id  # issue 29: result.id
        tier = get("service_tier")
        if isinstance(tier, str):
            self.service_tier = tier
        usage = get("usage")
        if usage:
            self.usage, notice = checked_usage(usage)
            self.usage_notice = notice or self.usage_notice
        choices = get("choices") or ()
        if not isinstance(choices, (list, tuple)):
            raise MalformedChunk("choices is not a list")
        deltas: List[Tuple[int, str]] = []
        self.reasoning_deltas = []
        for raw in choices:
            if not isinstance(raw, dict):
                raise MalformedChunk("a choice that is not an object")
            index = raw.get("index", 0)
            if index.__class__ is not int and (not isinstance(index, int) or isinstance(index, bool)):
                raise MalformedChunk("a choice whose index is not a small integer")
            if not 0 <= index < 128:
                raise MalformedChunk("a choice whose index is not a small integer")
            if index >= self.max_choices:
                asked = f"{self.max_choices} {'was' if self.max_choices == 1 else 'were'} asked for"
                raise LimitReached(f"the server sent choice {index + 1} but {asked}; the answer "
                                   "was cut there (never more choices than -N asks)")
            state = self.choices.get(index) or self.choice(index)
            piece = raw.get("delta")
            if piece is None:
                piece = raw.get("message") or {}
            if not isinstance(piece, dict):
                raise MalformedChunk("a delta that is not an object")
            part = piece.get
            content, refusal = part("content"), part("refusal")
            for name, value in (("role", part("role")), ("content", content), ("refusal", refusal)):
                if value is not None and not isinstance(value, str):
                    raise MalformedChunk(f"{name} that is a {type(value).__name__}, not text")
            thought = part("reasoning_content") or part("reasoning")
            if thought and isinstance(thought, str):
                self.reasoning_chars += len(thought)
                self._add_reasoning(index, thought)
            if content:
                self._add_content(index, content, deltas)
            if refusal:
                self.content_chars += len(refusal)
                state.refusal_parts.append(refusal)
            if part("annotations") or raw.get("logprobs") or part("audio"):
                self._add_extras(state, raw, piece)  # issue 29: citations, logprobs, audio
            tool_calls = part("tool_calls")
            if tool_calls:
                if not isinstance(tool_calls, (list, tuple)):
                    raise MalformedChunk("tool_calls is not a list")
                for fragment in tool_calls:
                    self.tool_argument_chars += _merge_tool_call(state.tool_calls, fragment)
            finish = raw.get("finish_reason")
            if finish is not None:
                if not isinstance(finish, str):
                    raise MalformedChunk("finish_reason is not text")
                if finish:
                    state.finish_reason = finish
        return deltas

    def _add_extras(self, state: ChoiceState, raw: Dict[str, Any], piece: Dict[str, Any]) -> None:
        """Citations (in the last delta, with no text, when streamed), logprobs (per chunk,
        on the choice) and an audio answer (``modalities``: its transcript is not content)."""
        annotations = piece.get("annotations") or ()
        if isinstance(annotations, (list, tuple)):
            for annotation in annotations:
                cited = _citation(annotation)
                if cited is not None and len(state.citations) < MAX_CITATIONS:
                    state.citations.append(cited)
        logprobs = raw.get("logprobs")
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if isinstance(content, (list, tuple)):
            for entry in content:
                token = token_logprob(entry)
                if token is not None:
                    state.logprobs.append(token)
        if isinstance(piece.get("audio"), dict):
            state.audio = True

    def _add_content(self, index: int, content: str, deltas: List[Tuple[int, str]]) -> None:
        redactor = self._redactors.get(index)
        if redactor is None:
            redactor = self._redactors[index] = self._new_redactor()
        safe = redactor.feed(content)
        self.content_chars += len(content)
        if safe:
            self.choices[index].content_parts.append(safe)
            deltas.append((index, safe))

    def _add_reasoning(self, index: int, thought: str) -> None:
        """Reasoning through its own redactor: a key split across reasoning deltas is joined
        before it is masked, never masked piece by piece and shown whole."""
        redactor = self._thought_redactors.get(index)
        if redactor is None:
            redactor = self._thought_redactors[index] = self._new_redactor()
        safe = redactor.feed(thought)
        if safe:
            self.choices[index].reasoning_parts.append(safe)
            self.reasoning_deltas.append((index, safe))

    def check_limits(self) -> None:
        """End the answer once its text passes a limit (``OAIMagics.max_*_chars``): the part up
        to the limit is kept, the rest let go."""
        limits = self.limits
        if self.content_chars > limits.answer_chars:
            for state in self.choices.values():
                state.content_parts[:] = [state.content[: limits.answer_chars]]
                if state.refusal_parts:
                    state.refusal_parts[:] = [(state.refusal or "")[: limits.answer_chars]]
            raise limit_reached("the answer", limits.answer_chars, "characters",
                                "max_answer_chars")
        if self.reasoning_chars > limits.reasoning_chars:
            for state in self.choices.values():
                if state.reasoning_parts:
                    state.reasoning_parts[:] = [(state.reasoning or "")[: limits.reasoning_chars]]
            raise limit_reached("the reasoning", limits.reasoning_chars, "characters",
                                "max_reasoning_chars")
        if self.tool_argument_chars > limits.tool_argument_chars:
            raise limit_reached("the tool-call arguments", limits.tool_argument_chars,
                                "characters", "max_tool_argument_chars")

    def flush(self) -> List[Tuple[int, str]]:
        """The text the redactors still hold back, now that the stream is over (the reasoning
        they held is in ``reasoning_deltas`` for a view to show)."""
        self.reasoning_deltas = []
        for index in sorted(self._thought_redactors):
            rest = self._thought_redactors[index].flush()
            if rest:
                self.choices[index].reasoning_parts.append(rest)
                self.reasoning_deltas.append((index, rest))
        deltas = []
        for index in sorted(self._redactors):
            rest = self._redactors[index].flush()
            if rest:
                self.choices[index].content_parts.append(rest)
                deltas.append((index, rest))
        return deltas

    def complete(self) -> bool:
        """Every choice seen has a finish reason (and there was at least one)."""
        return bool(self.choices) and all(c.finish_reason for c in self.choices.values())

    def ordered(self) -> List[ChoiceState]:
        return [self.choices[i] for i in sorted(self.choices)]
