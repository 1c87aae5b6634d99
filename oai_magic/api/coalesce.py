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
IGNORED = {"choices": None, "obfuscation": None}
_ABSENT = object()


def _text_only(payload: Dict[str, Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(text, choice) when ``payload`` is one choice's text and nothing else: a run's start."""
    choices = payload.get("choices")
    if choices.__class__ is not list or len(choices) != 1 or payload.get("usage") is not None:
        return None
    choice = choices[0]
    if choice.__class__ is not dict or choice.get("index", 0).__class__ is not int:
        return None
    delta = choice.get("delta")
    if delta.__class__ is not dict or delta.get("content").__class__ is not str:
        return None
    for name, value in choice.items():
        if value is not None and name != "index" and name != "delta":
            return None
    for name, value in delta.items():
        if value is not None and name != "content" and name != "role":
            return None
    return delta["content"], choice


class _Run:
    """The first event of a run, and what a later event must match to join it."""

    def __init__(self, payload: Dict[str, Any], text: str, choice: Dict[str, Any]) -> None:
        self.head, self.texts = payload, [text]
        self.frame = {**payload, **IGNORED}  # every other field, as the head has it
        self.choice_frame = {**choice, "delta": None}  # its index; all else null
        self.role = choice["delta"].get("role")

    def text_of(self, payload: Dict[str, Any]) -> Optional[str]:
        """The text of ``payload`` if it joins the run, else None (checks cheapest first)."""
        choices = payload.get("choices")
        if choices.__class__ is not list or len(choices) != 1:
            return None
        choice = choices[0]
        if choice.__class__ is not dict or choice.get("index", 0).__class__ is not int:
            return None
        delta = choice.get("delta")
        if delta.__class__ is not dict:
            return None
        text = delta.get("content")
        if text.__class__ is not str or {**choice, "delta": None} != self.choice_frame:
            return None
        if len(delta) != 1:
            for name, value in delta.items():
                if value is not None and name != "content" and (name != "role" or value != self.role):
                    return None
        if {**payload, **IGNORED} != self.frame:
            return None
        return text

    def merged(self) -> Dict[str, Any]:
        head = self.head
        if len(self.texts) == 1:
            return head
        choice = dict(head["choices"][0])
        choice["delta"] = {**choice["delta"], "content": "".join(self.texts)}
        return {**head, "choices": [choice]}


def coalesced(payloads: List[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
    """``payloads`` (the events of one read, in order) with each run of text deltas joined."""
    if len(payloads) == 1:
        yield payloads[0]
        return
    run: Optional[_Run] = None
    for payload in payloads:
        if run is not None:
            text = run.text_of(payload)
            if text is not None:
                run.texts.append(text)
                continue
            yield run.merged()
            run = None
        found = _text_only(payload)
        if found is None:
            yield payload
        else:
            run = _Run(payload, *found)
    if run is not None:
        yield run.merged()
