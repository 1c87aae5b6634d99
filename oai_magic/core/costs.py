"""What an answer cost: prices from ``genai-prices``, per-answer estimates, session totals, budgets.

Prices come from Pydantic's ``genai-prices`` package (dated prices for OpenAI's chat, reasoning,
audio and transcription models, cached input, batch and service tiers), read offline from its
bundled snapshot; a model it does not know is "price unknown", never a guess.
``%config OAIMagics.prices = {...}`` overrides or extends it. The package is imported on first
use (about 0.3 s), warmed on a background thread when a first request starts
(:func:`warm_prices`), never by ``%load_ext``. This module is the only reader of price data.
The session is the kernel: the totals live on its ``KernelState`` and a restart resets them.
"""

from __future__ import annotations

import datetime
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional, Tuple

from ..api.limits import finite_amount
from ..errors import InputError
from .usage import Tokens, checked_count, format_cost, transcription_usage  # noqa: F401 (their home)

PRICE_FIELDS = ("input", "cached_input", "output", "per_minute")  # per_minute: transcription
# An override may price a tier of its own: {"input": 1, "output": 2, "flex": {"input": 0.5, ...}}
OVERRIDE_TIERS = ("batch", "flex", "priority", "scale")
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
PROVIDER = "openai"  # else genai-prices guesses the provider from the model name


def validate_prices(prices: Any) -> Dict[str, Dict[str, Any]]:
    """``OAIMagics.prices``: ``{model: {"input": $, "cached_input": $, "output": $}}`` per 1M
    tokens (``per_minute`` for transcription), optionally with a dict per tier (``"flex"``)."""
    if not isinstance(prices, dict):
        raise InputError('OAIMagics.prices takes {"model": {"input": 0.15, "output": 0.6}} '
                         "(USD per million tokens)")
    for model, entry in prices.items():
        if not isinstance(entry, dict) or not entry:
            raise InputError(f"OAIMagics.prices[{model!r}] must be a dict of prices, e.g. "
                             '{"input": 0.15, "cached_input": 0.075, "output": 0.6}')
        for name, value in entry.items():
            if name in OVERRIDE_TIERS and isinstance(value, dict):
                validate_prices({f"{model}[{name!r}]": value})
                continue
            if name not in PRICE_FIELDS:
                raise InputError(f"OAIMagics.prices[{model!r}]: unknown price {name!r} "
                                 f"(use {', '.join(PRICE_FIELDS)}, or a tier: "
                                 f"{', '.join(OVERRIDE_TIERS)})")
            if not finite_amount(value):
                raise InputError(f"OAIMagics.prices[{model!r}][{name!r}] must be a number >= 0 "
                                 f"(a finite price in USD per million tokens), got {value!r:.40}")
    return prices


# --- the genai-prices package: imported once, on first use or on a warming thread ------------

_package: Dict[str, Any] = {}
_package_lock = threading.Lock()


def _genai_prices() -> Any:
    """The ``genai_prices`` module (None when it is not installed), imported once."""
    with _package_lock:
        if "module" not in _package:
            try:
                import genai_prices
            except ImportError:
                genai_prices = None
            _package["module"] = genai_prices
        return _package["module"]


def warm_prices() -> None:
    """Import the price data on a daemon thread (once), so the first footer does not wait:
    called when a request starts, which takes longer than the import."""
    with _package_lock:
        if "module" in _package or "warming" in _package:
            return
        _package["warming"] = threading.Thread(
            target=lambda: _genai_model("gpt-4o-mini"), name="oai-magic-prices", daemon=True)
    _package["warming"].start()


def _genai_model(model: str) -> Any:
    """genai-prices' model info for an OpenAI model id, or None when it does not know it."""
    package = _genai_prices()
    if package is None:
        return None
    from genai_prices import data_snapshot

    try:
        return data_snapshot.get_snapshot().find_provider_model(model, None, PROVIDER, None)[1]
    except LookupError:
        return None


def price_source(overrides: Optional[Dict[str, Any]] = None) -> str:
    """Where prices come from and as of when, for the footer (once) and ``%oai usage``."""
    package = _genai_prices()
    parts = []
    if package is not None:
        parts.append(f"prices: genai-prices {package.__version__}, OpenAI data as of "
                     f"{_data_date()}")
    if overrides:
        parts.append("OAIMagics.prices for " + ", ".join(sorted(overrides)))
    return "; ".join(parts) or "prices: none (pip install genai-prices, or OAIMagics.prices)"


def _data_date() -> str:
    """The newest dated OpenAI price already in effect: how current the snapshot is."""
    if "date" not in _package:
        from genai_prices import data_snapshot

        provider = data_snapshot.get_snapshot().find_provider(None, PROVIDER, None)
        today, dates = datetime.date.today(), []
        for model in provider.models:
            conditions = [c.constraint for c in model.prices] if isinstance(model.prices, list) else []
            conditions += [v.constraint for v in model.price_variants or ()]
            for constraint in conditions:
                start = getattr(constraint, "start_date", None)
                if isinstance(start, datetime.datetime):
                    start = start.date()
                if isinstance(start, datetime.date) and start <= today:
                    dates.append(start)
        _package["date"] = max(dates).isoformat() if dates else "its release"
    return _package["date"]


def _override_entry(model: Optional[str], overrides: Optional[Dict[str, Any]]
                    ) -> Optional[Dict[str, Any]]:
    """``OAIMagics.prices`` for ``model`` (a dated snapshot falls back to its alias)."""
    for name in (model, _DATED.sub("", model or "")):
        if name and name in (overrides or {}):
            return overrides[name]
    return None


def has_price(model: Optional[str], overrides: Optional[Dict[str, Any]] = None) -> bool:
    """Whether ``OAIMagics.prices`` or genai-prices prices ``model`` at all (a USD budget
    needs it)."""
    if not model:
        return False
    return _override_entry(model, overrides) is not None or _genai_model(model) is not None


STANDARD_TIERS = (None, "", "default", "auto", "standard")


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
    ``overrides`` are ``OAIMagics.prices`` and win over genai-prices; ``tier`` is the service
    tier the server says it served (``"flex"``, ``"priority"``), or ``"batch"`` for the Batch
    API. A tier the data has no price for is unknown, never the standard price.

    Cached prompt tokens are part of ``prompt_tokens`` and billed at the cached price; reasoning
    tokens are part of ``completion_tokens`` and billed as output. A transcription is priced by
    its audio seconds where the price is per minute (whisper-1: ``seconds``, or the usage's own),
    else by its tokens (audio input tokens at their own price).
    """
    if not model:
        return None
    usage = usage or {}
    if checked_count(usage.get("seconds"), float) is not None:
        seconds = float(usage["seconds"])
    elif seconds is not None and checked_count(seconds, float) is None:
        seconds = None
    has_tokens = any(name in usage for name in ("prompt_tokens", "completion_tokens",
                                                 "input_tokens", "output_tokens"))
    entry = _override_entry(model, overrides)
    if entry is not None:
        return _override_cost(entry, usage, tier, seconds, has_tokens)
    return _package_cost(model, usage, tier, seconds, has_tokens)


def _override_cost(entry: Dict[str, Any], usage: Dict[str, Any], tier: Optional[str],
                   seconds: Optional[float], has_tokens: bool) -> Optional[float]:
    if tier not in STANDARD_TIERS:
        entry = entry.get(tier) if isinstance(entry.get(tier), dict) else None
        if entry is None:
            return None
    if "per_minute" in entry and seconds is not None:
        return seconds / 60 * entry["per_minute"]
    if "input" not in entry or "output" not in entry or not has_tokens:
        return None
    tokens = Tokens.of(transcription_usage(usage))
    cached = min(tokens.cached, tokens.prompt)
    return ((tokens.prompt - cached) * entry["input"]
            + cached * entry.get("cached_input", entry["input"])
            + tokens.completion * entry["output"]) / 1_000_000


def _price_context(info: Any, tier: Optional[str]) -> Tuple[bool, Optional[Dict[str, str]]]:
    """(known, genai-prices' ``price_context``) for a served tier: batch is ``processing``,
    the others ``service_tier``; a tier the model has no variant for is not known."""
    if tier in STANDARD_TIERS:
        return True, None
    context = {"processing": "batch"} if tier == "batch" else {"service_tier": tier}
    now = datetime.datetime.now(datetime.UTC)
    known = any(variant.when == context and (variant.constraint is None
                                             or variant.constraint.active(now))
                for variant in info.price_variants or ())
    return known, context


def _package_cost(model: str, usage: Dict[str, Any], tier: Optional[str],
                  seconds: Optional[float], has_tokens: bool) -> Optional[float]:
    info = _genai_model(model)
    if info is None:
        return None
    known, context = _price_context(info, tier)
    if not known:
        return None
    from genai_prices import Usage, calc_price

    price = info.get_prices(datetime.datetime.now(datetime.UTC), context)
    if seconds is not None and getattr(price, "audio_hours", None) is not None:
        counts = {"audio_seconds": round(seconds)}  # whisper-1: billed by the second
    elif has_tokens and (price.input_mtok is not None or price.output_mtok is not None):
        tokens = Tokens.of(transcription_usage(usage))
        details = transcription_usage(usage).get("prompt_tokens_details") or {}
        counts = {"input_tokens": tokens.prompt, "output_tokens": tokens.completion,
                  "cache_read_tokens": min(tokens.cached, tokens.prompt)}
        audio = checked_count(details.get("audio_tokens"))
        if audio and price.input_audio_mtok is not None:
            counts["input_audio_tokens"] = min(int(audio), tokens.prompt)
    else:
        return None
    calculation = calc_price(Usage(**counts), model, provider_id=PROVIDER, price_context=context)
    return float(calculation.total_price)


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
    source_told: bool = False  # the first priced footer says where prices come from

    def price_source_once(self, cost: Optional[float], overrides: Optional[Dict[str, Any]]
                          ) -> Optional[str]:
        """:func:`price_source` for the session's first priced answer, None after (and for an
        unpriced one): the footer says it once, ``%oai usage`` always."""
        with self.lock:
            if cost is None or self.source_told:
                return None
            self.source_told = True
        return price_source(overrides)

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
            self.source_told = False
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


def account_answer(state: Any, result: Any) -> None:
    """A chat response's estimated cost, at the tier that served it, added to the session's
    totals; the session's first priced answer also says where prices come from."""
    result.cost = estimate_cost(result.usage, result.model, state.prices, tier=result.service_tier)
    ledger = ledger_of(state)
    ledger.record(result.usage, result.model, result.conversation, result.cost)
    result.price_source = ledger.price_source_once(result.cost, state.prices)


def budget_of(state: Any) -> Budget:
    return Budget(state.budget_usd, state.budget_tokens)
