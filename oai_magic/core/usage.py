"""Usage blocks as the API reports them, read safely: token counts, a transcription's usage in
chat names, and the one way a cost is written ("≈ $0.0012", "price unknown").

No prices here (``costs.py`` is their only reader); ``costs`` re-exports these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional


def checked_count(value: Any, kind: type = int) -> Optional[float]:
    """A count from outside: a finite number >= 0 of ``kind`` (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        return None
    return value if math.isfinite(value) and value >= 0 else None


@dataclass
class Tokens:
    """The token counts of one usage block (chat completions names)."""

    prompt: int = 0
    cached: int = 0
    completion: int = 0
    reasoning: int = 0

    @classmethod
    def of(cls, usage: Optional[Dict[str, Any]]) -> Tokens:
        usage = usage or {}

        def number(value: Any) -> int:
            return int(checked_count(value) or 0)

        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        return cls(number(usage.get("prompt_tokens")), number(prompt_details.get("cached_tokens")),
                   number(usage.get("completion_tokens")),
                   number(completion_details.get("reasoning_tokens")))

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def transcription_usage(usage: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A usage block in chat completions names (for the ledger and the footer); a chat usage
    comes back as it is.

    gpt-4o transcription models report ``{"type": "tokens", "input_tokens", "output_tokens",
    "input_token_details": {"audio_tokens", "text_tokens"}}``; whisper reports
    ``{"type": "duration", "seconds"}`` (or only a ``duration``).
    """
    usage = usage or {}
    if usage.get("type") == "tokens" or "input_tokens" in usage:
        details = usage.get("input_token_details")
        folded = {"prompt_tokens": usage.get("input_tokens") or 0,
                  "completion_tokens": usage.get("output_tokens") or 0}
        if isinstance(details, dict) and "audio_tokens" in details:
            folded["prompt_tokens_details"] = {"audio_tokens": details["audio_tokens"]}
        return folded
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return usage
    return {"prompt_tokens": 0, "completion_tokens": 0}


def format_cost(cost: Optional[float]) -> str:
    """"≈ $0.0012" (two significant digits for sums under a cent), or "price unknown"."""
    if cost is None:
        return "price unknown"
    if cost >= 0.01 or cost == 0:
        return f"≈ ${cost:.2f}"
    digits = 1 - math.floor(math.log10(cost))
    return f"≈ ${cost:.{digits}f}"
