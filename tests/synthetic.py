"""Deterministic, realistic model answers (prose, lists, code, tables, math) split into
token-sized deltas, a streamed chunk to script the practice server with, and a clock that moves
only when told, for live-rendering tests and the benchmarks (bench_live.py, bench_choices.py,
bench_interrupt.py)."""

from __future__ import annotations

import random
import re
from typing import List, Optional

_WORDS = [
    "the",
    "model",
    "request",
    "stream",
    "token",
    "answer",
    "notebook",
    "kernel",
    "display",
    "update",
    "cost",
    "render",
    "block",
    "paragraph",
    "list",
    "table",
    "fence",
    "output",
    "value",
    "function",
    "returns",
    "result",
    "data",
    "frame",
    "client",
    "server",
    "retry",
    "timeout",
    "header",
    "error",
    "message",
    "history",
    "budget",
    "linear",
    "quadratic",
    "bytes",
    "latency",
    "frontend",
    "browser",
    "cache",
    "parser",
    "simple",
    "small",
    "quick",
    "careful",
    "every",
    "each",
]
_CODE = [
    "def {n}(items, limit=10):",
    '    """Return the first {n} values."""',
    "    result = []",
    "    for i, item in enumerate(items):",
    "        if i >= limit:",
    "            break",
    "        result.append(item * 2 + {k})",
    '    print(f"{n}: {{len(result)}} items")',
    "    return result",
    "",
    "total = sum(x ** 2 for x in range({k}))",
    "data = {{'name': '{n}', 'size': {k}, 'ok': True}}",
]
_TOKEN = re.compile(r" ?[A-Za-z]{1,6}| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]{1,2}|\n+| +|\t")


def delta_chunk(text: str, finish: Optional[str] = None) -> dict:
    """One ``chat.completion.chunk`` of a streamed answer: ``text`` for choice 0."""
    return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


class FakeClock:
    """A ``clock=`` for live views: ``now`` moves only when the caller sets it, so pacing is exact.

    It also schedules (``call_at``), as the render layer's frame timers do in real time: a view
    given this clock leaves its draws at frame boundaries here, and ``advance`` runs them, in
    order, at their own times. Setting ``now`` directly runs none of them.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list = []
        self._order = 0

    def __call__(self) -> float:
        return self.now

    def call_at(self, when: float, callback) -> None:
        self._order += 1
        self.timers.append((when, self._order, callback))

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, running every callback that falls due on the way."""
        end = self.now + seconds
        while True:
            due = [t for t in self.timers if t[0] <= end]
            if not due:
                break
            first = min(due)
            self.timers.remove(first)
            self.now = max(self.now, first[0])
            first[2]()
        self.now = end


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 22))]
    roll = rng.random()
    if roll < 0.2:
        i = rng.randrange(len(words))
        words[i] = f"**{words[i]}**"
    elif roll < 0.35:
        i = rng.randrange(len(words))
        words[i] = f"`{words[i]}()`"
    elif roll < 0.42:
        words.append("$x_i^2 + y_i$")
    elif roll < 0.47:
        words.append("[the docs](https://example.com/docs)")
    elif roll < 0.5:
        words.append("(about $5 per run)")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....!?")


def _paragraph(rng: random.Random, lo: int = 2, hi: int = 6) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(lo, hi)))


def _code(rng: random.Random) -> str:
    name = rng.choice(["load", "scale", "merge", "summarise", "fetch"])
    lines = []
    for _ in range(rng.randint(1, 4)):
        k = rng.randint(2, 99)
        lines.extend(line.format(n=name, k=k) for line in _CODE)
    return "```python\n" + "\n".join(lines) + "\n```"


def _table(rng: random.Random) -> str:
    rows = ["| name | size | note |", "|---|---:|---|"]
    for _ in range(rng.randint(3, 8)):
        rows.append(f"| {rng.choice(_WORDS)} | {rng.randint(1, 999)} | {_sentence(rng)[:40]} |")
    return "\n".join(rows)


def _section(rng: random.Random) -> str:
    parts = [f"## {rng.choice(_WORDS).title()} {rng.choice(_WORDS)}", _paragraph(rng)]
    kind = rng.random()
    if kind < 0.3:
        parts.append("\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(3, 7))))
    elif kind < 0.5:
        parts.append("\n".join(f"{i}. {_sentence(rng)}" for i in range(1, rng.randint(4, 9))))
    parts.append(_paragraph(rng, 1, 3))
    roll = rng.random()
    if roll < 0.55:
        parts.append(_code(rng))
    elif roll < 0.7:
        parts.append(_table(rng))
    elif roll < 0.8:
        parts.append("$$\n\\sum_{i=1}^{n} x_i^2 = \\frac{a}{b}\n$$")
    elif roll < 0.9:
        parts.append("> " + _sentence(rng))
    parts.append(_paragraph(rng, 3, 8))
    return "\n\n".join(parts)


def tokenize(text: str) -> List[str]:
    """Split into BPE-sized pieces (a word with its leading space, punctuation, newlines)."""
    tokens = _TOKEN.findall(text)
    assert "".join(tokens) == text, "tokenizer must cover the text"
    return tokens


def answer_tokens(n_tokens: int, seed: int = 7) -> List[str]:
    """About ``n_tokens`` tokens of a realistic Markdown answer."""
    rng = random.Random(seed)
    tokens: List[str] = []
    while len(tokens) < n_tokens:
        tokens.extend(tokenize(("\n\n" if tokens else "") + _section(rng)))
    return tokens[:n_tokens]
