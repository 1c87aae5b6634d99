"""What an answer cost: prices from a shipped table, per-answer estimates, session totals, budgets.

The table (``prices.json``) holds only prices that could be sourced, with the page and the date
they were read; a model it does not know is "price unknown", never a guess.
``%config OAIMagics.prices = {...}`` overrides or extends it. The session is the kernel: the
totals live on its ``KernelState`` and a restart resets them. Pure Python (no IPython), so the
many-prompt mapping (``--map``) can reserve a request's estimate before it starts.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

from ..api.limits import finite_amount
from ..errors import InputError

PRICE_FIELDS = ("input", "cached_input", "output", "per_minute")  # per_minute: transcription
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_table_cache: Dict[str, Any] = {}


def shipped_table() -> Dict[str, Any]:
    """The price table that ships with oai_magic (read once)."""
    if "table" not in _table_cache:
        path = Path(__file__).with_name("prices.json")
        _table_cache["table"] = json.loads(path.read_text(encoding="utf-8"))
    return _table_cache["table"]


def validate_prices(prices: Any) -> Dict[str, Dict[str, float]]:
    """``OAIMagics.prices``: ``{model: {"input": $, "cached_input": $, "output": $}}`` per 1M."""
    if not isinstance(prices, dict):
        raise InputError('OAIMagics.prices takes {"model": {"input": 0.15, "output": 0.6}} '
                         "(USD per million tokens)")
    for model, entry in prices.items():
        if not isinstance(entry, dict) or not entry:
            raise InputError(f"OAIMagics.prices[{model!r}] must be a dict of prices, e.g. "
                             '{"input": 0.15, "cached_input": 0.075, "output": 0.6}')
        for name, value in entry.items():
            if name not in PRICE_FIELDS:
                raise InputError(f"OAIMagics.prices[{model!r}]: unknown price {name!r} "
                                 f"(use {', '.join(PRICE_FIELDS)})")
            if not finite_amount(value):
                raise InputError(f"OAIMagics.prices[{model!r}][{name!r}] must be a number >= 0 "
                                 f"(a finite price in USD per million tokens), got {value!r:.40}")
    return prices


def _price_entry(model: Optional[str], overrides: Optional[Dict[str, Any]]
                 ) -> Optional[Dict[str, float]]:
    """The prices of ``model`` (a dated snapshot falls back to its alias), or None if unknown.

    Only :func:`estimate_cost` reads price data through here: a later change of the data
    (the ``genai-prices`` package) touches this module and nothing else."""
    if not model:
        return None
    models = dict(shipped_table().get("models") or {})
    models.update(overrides or {})
    for name in (model, _DATED.sub("", model)):
        if name in models:
            return models[name]
    return None


def has_price(model: Optional[str], overrides: Optional[Dict[str, Any]] = None) -> bool:
    """Whether the table (or ``OAIMagics.prices``) prices ``model`` at all (a USD budget
    needs it)."""
    return _price_entry(model, overrides) is not None


# What a service tier pays against the standard price (a factor); None: not known. The Batch
# API and the "flex" tier are both billed at the batch discount; "priority" and "scale" have
# prices of their own that the table does not hold, so they are "price unknown", never a guess.
STANDARD_TIERS = (None, "", "default", "auto", "standard")
DISCOUNTED_TIERS = ("batch", "flex")


def _tier_factor(tier: Optional[str]) -> Optional[float]:
    if tier in STANDARD_TIERS:
        return 1.0
    if tier in DISCOUNTED_TIERS:
        return 1 - float(shipped_table().get("batch_discount") or 0)
    return None


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
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        return cls(number(usage.get("prompt_tokens")), number(prompt_details.get("cached_tokens")),
                   number(usage.get("completion_tokens")),
                   number(completion_details.get("reasoning_tokens")))

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def estimated_usage(messages: Iterable[Dict[str, Any]], answers: Iterable[str],
                    chars_per_token: int) -> Dict[str, Any]:
    """The usage of an answer the server never reported (a stop, a cut-off stream), guessed from
    the characters of the messages sent and of what arrived, and marked ``"estimated"``: the
    server billed it all the same, so the footer, ``%oai usage`` and budgets count it."""
    prompt = sum(_text_chars(message) for message in messages)
    completion = sum(len(answer or "") for answer in answers)
    return {"prompt_tokens": math.ceil(prompt / chars_per_token),
            "completion_tokens": math.ceil(completion / chars_per_token), "estimated": True}


def _text_chars(value: Any) -> int:
    """Characters of text in a message (image and audio data left out: not billed by length)."""
    if isinstance(value, str):
        return 0 if value.startswith("data:") else len(value)
    if isinstance(value, dict):
        return sum(_text_chars(v) for k, v in value.items()
                   if k not in ("type", "role", "image_url", "input_audio", "id"))
    if isinstance(value, list):
        return sum(_text_chars(v) for v in value)
    return 0


def estimate_cost(usage: Optional[Dict[str, Any]], model: Optional[str],
                  overrides: Optional[Dict[str, Any]] = None, *, tier: Optional[str] = None,
                  seconds: Optional[float] = None) -> Optional[float]:
    """USD for one response's usage, or None when its price is unknown: the one cost function.

    Every surface prices through it (the chat footer, ``--map`` and ``--batch`` results, a
    transcript, ``%oai usage``, budgets and the ``--map`` question), so they agree.
    ``overrides`` are ``OAIMagics.prices``; ``tier`` is the service tier the server billed
    (``"batch"`` for the Batch API, ``"flex"``), see :func:`_tier_factor`.

    Cached prompt tokens are part of ``prompt_tokens`` and billed at the cached price (the
    input price when the table has none). Reasoning tokens are part of ``completion_tokens``.
    A transcription is priced per minute where the table says so (``seconds``, or the usage's
    own ``seconds``), else by its token usage; a duration with no per-minute price is unknown.
    """
    prices = _price_entry(model, overrides)
    factor = _tier_factor(tier)
    if prices is None or factor is None:
        return None
    usage = usage or {}
    if "per_minute" in prices:
        if isinstance(usage.get("seconds"), (int, float)) and not isinstance(usage["seconds"], bool):
            seconds = float(usage["seconds"])
        return None if seconds is None else seconds / 60 * prices["per_minute"] * factor
    if "input" not in prices or "output" not in prices:
        return None
    if usage.get("type") == "duration" or ("seconds" in usage and "prompt_tokens" not in usage):
        return None  # whisper's usage: seconds, no tokens, and no per-minute price
    tokens = Tokens.of(transcription_usage(usage))
    cached = min(tokens.cached, tokens.prompt)
    cost = ((tokens.prompt - cached) * prices["input"]
            + cached * prices.get("cached_input", prices["input"])
            + tokens.completion * prices["output"]) / 1_000_000
    return cost * factor


def transcription_usage(usage: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A usage block in chat completions names (for the ledger and the footer); a chat usage
    comes back as it is.

    gpt-4o transcription models report ``{"type": "tokens", "input_tokens", "output_tokens"}``;
    whisper reports ``{"type": "duration", "seconds"}`` (or only a ``duration``).
    """
    usage = usage or {}
    if usage.get("type") == "tokens" or "input_tokens" in usage:
        return {"prompt_tokens": usage.get("input_tokens") or 0,
                "completion_tokens": usage.get("output_tokens") or 0}
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


@dataclass
class Totals(Tokens):
    """Requests, tokens and estimated cost added up (per model, per conversation, overall)."""

    requests: int = 0
    cost: float = 0.0
    unpriced: int = 0  # requests whose model had no price
    estimated: int = 0  # requests whose usage the server did not report (a stopped answer)

    def add(self, tokens: Tokens, cost: Optional[float], estimated: bool = False) -> None:
        self.requests += 1
        self.estimated += estimated
        self.prompt += tokens.prompt
        self.cached += tokens.cached
        self.completion += tokens.completion
        self.reasoning += tokens.reasoning
        if cost is None:
            self.unpriced += 1
        else:
            self.cost += cost

    @property
    def tokens(self) -> int:
        return self.total


@dataclass
class UsageLedger:
    """The session's usage: what each model and conversation used, and reservations in flight."""

    total: Totals = field(default_factory=Totals)
    by_model: Dict[str, Totals] = field(default_factory=dict)
    by_conversation: Dict[str, Totals] = field(default_factory=dict)
    reserved_usd: float = 0.0
    reserved_tokens: int = 0
    lock: Any = field(default_factory=threading.Lock, repr=False)
    # What the budgets count: like ``total``, but ``%oai usage --reset`` leaves it, so clearing
    # the report never lifts a budget (only a restart or changing the budget does).
    spent: Totals = field(default_factory=Totals)

    def record(self, usage: Optional[Dict[str, Any]], model: Optional[str], conversation: str,
               cost: Optional[float]) -> None:
        tokens = Tokens.of(usage)
        estimated = bool((usage or {}).get("estimated"))
        with self.lock:
            self.total.add(tokens, cost, estimated)
            self.spent.add(tokens, cost, estimated)
            self.by_model.setdefault(model or "?", Totals()).add(tokens, cost, estimated)
            self.by_conversation.setdefault(conversation, Totals()).add(tokens, cost, estimated)

    def reset(self) -> None:
        """Clear the report's totals; what the budgets count (``spent``) stays."""
        with self.lock:
            self.total, self.by_model, self.by_conversation = Totals(), {}, {}
            self.reserved_usd, self.reserved_tokens = 0.0, 0

    def reserve(self, usd: float = 0.0, tokens: int = 0) -> Tuple[float, int]:
        """Hold an estimate for a request about to start (concurrent ``--map``); ``release``
        it when the request has been recorded. Returns what was held."""
        with self.lock:
            self.reserved_usd += usd
            self.reserved_tokens += tokens
        return usd, tokens

    def release(self, held: Tuple[float, int]) -> None:
        with self.lock:
            self.reserved_usd = max(0.0, self.reserved_usd - held[0])
            self.reserved_tokens = max(0, self.reserved_tokens - held[1])


def request_estimate(model: Optional[str], prompt_tokens: int, completion_tokens: int,
                     overrides: Optional[Dict[str, Any]] = None, *, tier: Optional[str] = None
                     ) -> Tuple[float, int]:
    """(USD, tokens) to ``UsageLedger.reserve`` before a request starts: its prompt and the
    most it may answer (``--max-tokens``, or a guess). Unknown prices reserve tokens only."""
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    cost = estimate_cost(usage, model, overrides, tier=tier)
    return (cost or 0.0), prompt_tokens + completion_tokens


@dataclass
class Budget:
    """``OAIMagics.session_budget_usd`` / ``session_budget_tokens`` (None: no limit)."""

    usd: Optional[float] = None
    tokens: Optional[int] = None


def budget_refusal(ledger: UsageLedger, budget: Budget, model: Optional[str],
                   overrides: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Why the next request may not start, in one line with the totals; None when it may."""
    spent, used = ledger.spent.cost + ledger.reserved_usd, ledger.spent.tokens + ledger.reserved_tokens
    totals = (f"this session used {used:,} tokens, {format_cost(spent).replace('≈ ', '≈')} in "
              f"{ledger.spent.requests} request{'s' if ledger.spent.requests != 1 else ''}")
    if budget.tokens is not None and used >= budget.tokens:
        return (f"Session budget reached: {totals} (OAIMagics.session_budget_tokens = "
                f"{budget.tokens:,}); %oai usage shows the details.")
    if budget.usd is not None:
        if not has_price(model, overrides):
            return (f"The session has a USD budget, but the price of {model!r} is unknown: add it "
                    f'with %config OAIMagics.prices = {{"{model}": {{"input": …, "output": …}}}} '
                    "(USD per million tokens).")
        if spent >= budget.usd:
            return (f"Session budget reached: {totals} (OAIMagics.session_budget_usd = "
                    f"${budget.usd:g}); %oai usage shows the details.")
    return None


def ledger_of(state: Any) -> UsageLedger:
    """The session's ledger, kept on its KernelState (a kernel restart starts a new one)."""
    with state.lock:
        if state.usage_ledger is None:
            state.usage_ledger = UsageLedger()
        return state.usage_ledger


def budget_of(state: Any) -> Budget:
    return Budget(state.budget_usd, state.budget_tokens)
