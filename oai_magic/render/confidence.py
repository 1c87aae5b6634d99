"""``--confidence``: the answer as its tokens, each tinted by how likely the model found it.

Static HTML, no script: a token's background grows warmer as its probability falls, and its
``title`` (the browser's tooltip) gives its probability and the top alternatives. Tokens and
alternatives are server text: escaped, inside an element MathJax ignores, never a link. The
text keeps its line breaks (``white-space: pre-wrap``); Markdown is not rendered here, since a
token may cut a Markdown mark in two.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List

from .markdown import IGNORE_MATH, escape_html

CONFIDENT = 0.9  # at or above: no tint


def probability(logprob: float) -> float:
    return math.exp(max(-50.0, min(0.0, logprob)))


def tint(p: float) -> str:
    """A background for probability ``p``: none when confident, then yellow to red."""
    if p >= CONFIDENT:
        return "transparent"
    alpha = 0.15 + 0.5 * (1 - p / CONFIDENT)
    hue = int(50 * p / CONFIDENT)  # 50: yellow, 0: red
    return f"hsla({hue},95%,55%,{alpha:.2f})"


def token_title(entry: Dict[str, Any]) -> str:
    """"72% · alternatives: ' the' 20%, ' a' 5%"."""
    shown = f"{probability(entry['logprob']):.0%}"
    others = [a for a in entry.get("top_logprobs") or () if a["token"] != entry["token"]][:5]
    if others:
        shown += " · alternatives: " + ", ".join(
            f"{a['token']!r} {probability(a['logprob']):.0%}" for a in others)
    return shown


def confidence_html(logprobs: List[Dict[str, Any]]) -> str:
    """The answer's tokens as tinted spans, in one element (the answer block's body)."""
    spans = []
    for entry in logprobs:
        p = probability(entry["logprob"])
        spans.append(f'<span style="background:{tint(p)};border-radius:2px" '
                     f'title="{escape_html(token_title(entry))}">{escape_html(entry["token"])}</span>')
    legend = ('<div style="font-size:smaller;opacity:0.65;margin-top:0.3em">tinted: tokens the '
              f"model gave under {CONFIDENT:.0%}; hover for the alternatives</div>")
    return (f'<div class="oai-confidence {IGNORE_MATH}" style="white-space:pre-wrap">'
            f'{"".join(spans)}</div>{legend}')
