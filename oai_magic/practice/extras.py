"""What the practice server adds when asked (issue 29): citations for ``web_search_options``,
token logprobs for ``logprobs``, and the ``service_tier`` requested. Deterministic, so tests can
assert exact values; the URLs point at example.com (RFC 2606), never at a real site.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import List, Optional

SERVED_TIERS = ("default", "flex", "priority")
_TOKEN = re.compile(r"\s*\S+|\s+")


def served_tier(body: dict) -> str:
    """The tier the answer is "served" at: the one asked for, ``auto`` being ``default``."""
    asked = body.get("service_tier")
    return asked if asked in SERVED_TIERS else "default"


def citations(body: dict, content: Optional[str]) -> List[dict]:
    """Two ``url_citation`` annotations over the start of the answer when the request asked
    for web search; none otherwise."""
    if not isinstance(body.get("web_search_options"), dict) or not content:
        return []
    size = body["web_search_options"].get("search_context_size") or "medium"
    middle = max(1, len(content) // 2)
    spans = [(0, middle, 1), (middle, len(content), 2)]
    return [{"type": "url_citation", "url_citation": {
        "url": f"https://example.com/practice/source-{n}?context={size}",
        "title": f"Practice source {n}", "start_index": start, "end_index": end}}
        for start, end, n in spans]


def tokens(text: str) -> List[str]:
    """The answer cut into "tokens" (words with their leading space)."""
    return _TOKEN.findall(text)


def _logprob(token: str, rank: int) -> float:
    """A stable log probability for a token: most are likely, some are not, as in real answers."""
    digest = int(hashlib.sha256(token.encode("utf-8")).hexdigest()[:8], 16)
    chosen = 0.35 + 0.65 * ((digest % 1000) / 999) ** 0.4
    probability = chosen if rank == 0 else (1 - chosen) / (rank + 1)
    return round(math.log(max(probability, 1e-6)), 6)


def token_logprobs(body: dict, text: str) -> Optional[dict]:
    """``{"content": [...]}`` for ``text`` when the request asked for logprobs, else None."""
    if body.get("logprobs") is not True or not text:
        return None
    top = body.get("top_logprobs") or 0
    entries = []
    for token in tokens(text):
        alternatives = [token] + [f"{token.strip()}{suffix}" for suffix in ("s", "ly", "ed",
                                                                               "ing", "er")]
        entries.append({
            "token": token, "logprob": _logprob(token, 0),
            "bytes": list(token.encode("utf-8")),
            "top_logprobs": [{"token": alt, "logprob": _logprob(token, rank),
                              "bytes": list(alt.encode("utf-8"))}
                             for rank, alt in enumerate(alternatives[:top])]})
    return {"content": entries, "refusal": None}
