"""Consecutive content deltas that arrived in one network read, joined into one event.

A fast server's read brings dozens of events, most of them ``{"choices": [{"index": 0,
"delta": {"content": "…"}}]}``. Taken one by one, each costs an accumulator update, a redaction
feed, an event and a view call; joined, the run costs one of each, and the result is the same:
the text is the concatenation, and the stream redactor masks a key split across the pieces as
it does across events. Only what is exactly equivalent is joined: an event joins the run when
its one choice has the run's index, its delta holds nothing but text (other fields absent or
null), it has no finish reason, logprobs or usage, and its other fields equal the run's first
event's. Anything else (tool calls, reasoning, refusal, a finish, usage, another choice, logprobs,
which are per token) ends the run and passes on as it came, in its place. Events of different
reads are never joined, so a slow stream (one event per read) passes unchanged.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

#: Top-level fields that nothing reads (OpenAI's random padding): they may differ within a run.
IGNORED = ("choices", "obfuscation")
_ABSENT = object()


def _text_only(payload: Dict[str, Any]) -> Optional[Tuple[Any, str, Dict[str, Any]]]:
    """(choice index, text, delta) when ``payload`` is one choice's text and nothing else."""
    choices = payload.get("choices")
    if choices.__class__ is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if choice.__class__ is not dict:
        return None
    index, delta = choice.get("index", 0), choice.get("delta")
    if index.__class__ is not int or delta.__class__ is not dict:
        return None
    text = delta.get("content")
    if text.__class__ is not str:
        return None
    for name, value in choice.items():
        if value is not None and name != "index" and name != "delta":
            return None
    for name, value in delta.items():
        if value is not None and name != "content" and name != "role":
            return None
    if payload.get("usage") is not None:
        return None
    return index, text, delta


def _joins(head: Dict[str, Any], head_delta: Dict[str, Any], payload: Dict[str, Any],
           delta: Dict[str, Any]) -> bool:
    for name, value in payload.items():
        if name not in IGNORED and head.get(name, _ABSENT) != value:
            return False
    role = delta.get("role")
    return role is None or head_delta.get("role", _ABSENT) == role


def _merged(head: Dict[str, Any], texts: List[str]) -> Dict[str, Any]:
    if len(texts) == 1:
        return head
    choice = dict(head["choices"][0])
    choice["delta"] = {**choice["delta"], "content": "".join(texts)}
    return {**head, "choices": [choice]}


def coalesced(payloads: List[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
    """``payloads`` (the events of one read, in order) with each run of text deltas joined."""
    if len(payloads) == 1:
        yield payloads[0]
        return
    head: Optional[Dict[str, Any]] = None
    head_index: Any = None
    head_delta: Dict[str, Any] = {}
    texts: List[str] = []
    for payload in payloads:
        found = _text_only(payload)
        if found is not None and head is not None and found[0] == head_index and _joins(
                head, head_delta, payload, found[2]):
            texts.append(found[1])
            continue
        if head is not None:
            yield _merged(head, texts)
            head = None
        if found is None:
            yield payload
        else:
            head, texts = payload, [found[1]]
            head_index, head_delta = found[0], found[2]
    if head is not None:
        yield _merged(head, texts)
