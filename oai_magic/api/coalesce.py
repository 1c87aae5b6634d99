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

import json
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

scan_json = json.JSONDecoder().scan_once  # json.loads's own scanner (the C one)

#: Top-level fields that nothing reads (OpenAI's random padding): they may differ within a run.
IGNORED = {"choices": None, "obfuscation": None}
_ABSENT = object()


class Joined(dict):
    """A payload that joins a run of events, keeping each one's text (``apart`` gives them back)."""

    __slots__ = ("texts",)


def apart(payload: Dict[str, Any], room: int = -1) -> List[Dict[str, Any]]:
    """The events ``payload`` joined, each as decoded alone (its text, the first's other fields),
    or ``[payload]`` when it joins none or its text is at most ``room`` characters.

    For a reader that stops after the event passing a limit (core.exchange cuts an answer
    running past an ignored --max-tokens): the cut then lands where it would if each event came
    in its own read, and a joined text that fits in what is left is taken whole.
    """
    if payload.__class__ is not Joined:
        return [payload]
    choice = payload["choices"][0]
    delta = choice["delta"]
    if len(delta["content"]) <= room:
        return [payload]
    return [{**payload, "choices": [{**choice, "delta": {**delta, "content": text}}]}
            for text in payload.texts]


def _joined_of(payload: Dict[str, Any], choice: Dict[str, Any], texts: List[str]) -> Joined:
    joined = Joined(payload)
    joined["choices"] = [{**choice, "delta": {**choice["delta"], "content": "".join(texts)}}]
    joined.texts = texts
    return joined


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
        self.head, self.count = payload, 1
        self.texts = list(payload.texts) if payload.__class__ is Joined else [text]
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

    def add(self, payload: Dict[str, Any], text: str) -> None:
        self.count += 1
        if payload.__class__ is Joined:
            self.texts.extend(payload.texts)
        else:
            self.texts.append(text)

    def merged(self) -> Dict[str, Any]:
        head = self.head
        if self.count == 1:
            return head
        return _joined_of(head, head["choices"][0], self.texts)


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
                run.add(payload, text)
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


# --- a run read as one template ---------------------------------------------------------------
# A fast server's events of one run differ only in the text: ``P + "…" + S`` with the same P and
# S. Decoding each costs a JSON parse of the whole event; here the run's texts are decoded with
# one ``json.loads`` of ``[t1,t2,…]``, and the rest is the first event's, once.

_CONTENT = re.compile(r'"content"\s*:\s*("(?:[^"\\]|\\.)*")', re.S)
_STRING = r'"(?:[^"\\\x00]|\\[^\x00])*"'  # one JSON string token: no unescaped quote (nor NUL) inside
_STRINGS = re.compile(f"{_STRING}(?:\x00{_STRING})*")


def usual_events(batch: List[Tuple[str, str]]) -> Tuple[List[Dict[str, Any]], List[str], int]:
    """The usual events at the start of one read, decoded (a run of texts joined when it reads
    as one template): (payloads, the JSON they were decoded from, the index of the first other).

    Usual: a message event holding one JSON object without an ``error``. ``[DONE]``, anything
    else and what follows it are left to ``sse.EventStream``, and so are all of them when the
    JSON holds a run of the key (a redaction check of the pieces decides, before anyone sees
    what was decoded here).
    """
    payloads: List[Dict[str, Any]] = []
    pieces: List[str] = []
    index, count = 0, len(batch)
    while index < count:
        name, data = batch[index]
        if name != "message" or data[:1] != "{" or data[-1:] != "}":
            break
        try:
            payload, end = scan_json(data, 0)
        except (StopIteration, ValueError, RecursionError):
            break
        if end != len(data) or payload.get("error"):
            break
        index += 1
        pieces.append(data)
        if index < count:
            joined = template_run(payload, data, batch, index)
            if joined is not None:
                payload, index, tokens = joined
                pieces.extend(tokens)
        payloads.append(payload)
    return payloads, pieces, index


def template_run(payload: Dict[str, Any], data: str, batch: List[Tuple[str, str]],
                 start: int) -> Optional[Tuple[Dict[str, Any], int, List[str]]]:
    """``payload`` (decoded from ``data``) joined with the events from ``batch[start]`` on that
    are ``data`` with only the text changed: (the joined payload, the index after them, their
    texts' JSON strings), or None.

    Exactly what decoding each event and ``coalesced`` give: the position of the text in
    ``data`` is checked by decoding ``data`` once with another text there, and every follower
    is the same bytes around one JSON string token; a token that json.loads refuses returns
    None, so each event is decoded alone and the bad one reports as usual.
    """
    template = _template(payload, data)
    if template is None:
        return None
    text, choice, split = template
    before, after = data[: split[0]], data[split[1]:]
    least, cut = split[0] + len(after) + 2, len(after)
    tokens: List[str] = []
    end = start
    for name, other in batch[start:]:
        if (name != "message" or len(other) < least or not other.startswith(before)
                or not other.endswith(after)):
            break
        tokens.append(other[split[0]: len(other) - cut])
        end += 1
    joined = _joined(payload, text, choice, tokens)
    return None if joined is None else (joined, end, tokens)


def read_run(text: str, count: int) -> Optional[Tuple[Dict[str, Any], List[str]]]:
    """The ``count`` events of one read, ``text`` = ``data: A\n\ndata: B\n\n…`` (sse.Read: no
    event holds a line end), when the first is a usual text delta and every other one is it with
    only the text changed: (the joined payload, the JSON it came from: the first event and the
    others' texts), else None (then each event is decoded as usual).

    The same as ``template_run`` without a step per event: the others' texts are what lies
    between ``S + "\n\ndata: " + P`` (the first event is ``P + its text + S``). Each such
    separator holds one of the read's blank lines, so when splitting gives ``count - 1`` pieces,
    every event but the first is ``P + piece + S``.
    """
    first_end = text.find("\n\n")
    data = text[6:first_end]
    if data[:1] != "{" or data[-1:] != "}":
        return None
    try:
        payload, end = scan_json(data, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    if end != len(data) or payload.get("error"):
        return None
    template = _template(payload, data)
    if template is None:
        return None
    first, choice, split = template
    before, after = "data: " + data[: split[0]], data[split[1]:]
    start, stop = first_end + 2 + len(before), len(text) - len(after) - 2
    if stop < start or not text.startswith(before, first_end + 2) or not text.endswith(after + "\n\n"):
        return None
    tokens = text[start:stop].split(after + "\n\n" + before)
    if len(tokens) != count - 1:
        return None
    joined = _joined(payload, first, choice, tokens)
    return None if joined is None else (joined, [data] + tokens)


def _joined(payload: Dict[str, Any], text: str, choice: Dict[str, Any],
            tokens: List[str]) -> Optional[Dict[str, Any]]:
    """``payload`` with ``text`` and the JSON strings ``tokens`` decoded after it as its text, or
    None if a token is not exactly one JSON string.

    Two checks on all tokens at once: joined by NUL they are string tokens separated by NUL
    (no unescaped quote inside one), and joined by commas json.loads takes them, so none holds
    a raw NUL (invalid in JSON, inside a string or out): the NULs found are the joins.
    """
    if not tokens or _STRINGS.fullmatch("\x00".join(tokens)) is None:
        return None
    try:
        texts = json.loads("[" + ",".join(tokens) + "]")
    except (ValueError, RecursionError):
        return None
    if len(texts) != len(tokens):
        return None
    return _joined_of(payload, choice, [text] + texts)


def _template(payload: Dict[str, Any], data: str
              ) -> Optional[Tuple[str, Dict[str, Any], Tuple[int, int]]]:
    """For a usual text delta ``payload`` decoded from ``data``: (its text, its choice, where
    the text's JSON string lies in ``data``), or None when it is not one or the place is not
    proved (both runs, per event and per read, start from this)."""
    found = _text_only(payload)
    if found is None:
        return None
    text, choice = found
    split = _text_position(payload, data, text, choice)
    return None if split is None else (text, choice, split)


def _text_position(payload: Dict[str, Any], data: str, text: str,
                   choice: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    """Where in ``data`` the JSON string of the run's text is: (start, end), or None.

    Proved by decoding ``data`` with another text in that place: it must give ``payload`` with
    only the text changed (a "content" inside another field or a repeated key fails this).
    """
    probe = text + "\x00"
    for match in _CONTENT.finditer(data):
        a, b = match.span(1)
        try:
            if json.loads(data[a:b]) != text:
                continue
            changed = json.loads(data[:a] + json.dumps(probe) + data[b:])
        except (ValueError, RecursionError):
            continue
        expected = {**payload, "choices": [{**choice, "delta": {**choice["delta"], "content": probe}}]}
        if changed == expected:
            return a, b
    return None
