"""Folding chat completion chunks into whole answers, one per choice. No I/O.

Chunks carry ``choices[i].delta`` pieces keyed by ``index``: content, refusal, and tool call
fragments that are themselves keyed by their own index. The final usage chunk has
``choices: []``. A whole (non-streamed) completion is folded the same way through ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple


@dataclass
class ChoiceState:
    index: int
    role: str = "assistant"
    content_parts: List[str] = field(default_factory=list)
    refusal_parts: List[str] = field(default_factory=list)
    tool_calls: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    finish_reason: Optional[str] = None
    reasoning_parts: List[str] = field(default_factory=list)

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


def _merge_tool_call(calls: Dict[int, Dict[str, Any]], fragment: Dict[str, Any]) -> None:
    index = fragment.get("index", len(calls))
    call = calls.setdefault(
        index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if fragment.get("id"):
        call["id"] = fragment["id"]
    if fragment.get("type"):
        call["type"] = fragment["type"]
    function = fragment.get("function") or {}
    name = function.get("name")
    # llama.cpp repeats the whole name (and the id) in every chunk of a call; OpenAI sends it
    # once. A name equal to the name so far is a repeat, not a fragment.
    if name and name != call["function"]["name"]:
        call["function"]["name"] += name
    if function.get("arguments"):
        call["function"]["arguments"] += function["arguments"]


class ChatAccumulator:
    """Everything the stream said so far; ``add`` returns the content deltas to draw."""

    def __init__(self) -> None:
        self.choices: Dict[int, ChoiceState] = {}
        self.usage: Optional[Dict[str, Any]] = None
        self.model: Optional[str] = None
        self.id: Optional[str] = None
        self.system_fingerprint: Optional[str] = None
        # Reasoning text of the last ``add`` (``delta.reasoning_content`` from DeepSeek, vLLM and
        # llama.cpp, ``delta.reasoning`` from others), by choice: shown, never sent back.
        self.reasoning_deltas: List[Tuple[int, str]] = []

    def choice(self, index: int) -> ChoiceState:
        state = self.choices.get(index)
        if state is None:
            state = self.choices[index] = ChoiceState(index)
        return state

    def add(self, chunk: Dict[str, Any]) -> List[Tuple[int, str]]:
        if chunk.get("model"):
            self.model = chunk["model"]
        if chunk.get("id"):
            self.id = chunk["id"]
        if chunk.get("system_fingerprint"):
            self.system_fingerprint = chunk["system_fingerprint"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        deltas: List[Tuple[int, str]] = []
        self.reasoning_deltas = []
        for raw in chunk.get("choices") or ():
            index = raw.get("index", 0)
            state = self.choice(index)
            piece = raw.get("delta")
            if piece is None:
                piece = raw.get("message") or {}
            if piece.get("role"):
                state.role = piece["role"]
            thought = piece.get("reasoning_content") or piece.get("reasoning")
            if isinstance(thought, str) and thought:
                state.reasoning_parts.append(thought)
                self.reasoning_deltas.append((index, thought))
            content = piece.get("content")
            if content:
                state.content_parts.append(content)
                deltas.append((index, content))
            if piece.get("refusal"):
                state.refusal_parts.append(piece["refusal"])
            for fragment in piece.get("tool_calls") or ():
                _merge_tool_call(state.tool_calls, fragment)
            if raw.get("finish_reason"):
                state.finish_reason = raw["finish_reason"]
        return deltas

    def complete(self) -> bool:
        """Every choice seen has a finish reason (and there was at least one)."""
        return bool(self.choices) and all(c.finish_reason for c in self.choices.values())

    def ordered(self) -> List[ChoiceState]:
        return [self.choices[i] for i in sorted(self.choices)]
