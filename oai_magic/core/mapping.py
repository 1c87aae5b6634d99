"""Many prompts at once: one template applied to every element of a list, Series or DataFrame.

Each element becomes one independent, non-streamed chat request (no history, nothing recorded):
this module turns elements into request bodies and answers into a ``MapResult`` in input order,
saved and loaded as JSON lines. ``map_run`` sends them; ``batch`` hands them to the Batch API.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..api.limits import checked_usage
from ..api.request import ChatOptions, build_chat_payload
from ..errors import InputError
from ..state import redact
from .interpolate import text_of

MAP_FORMAT = "oai_magic.MapResult/1"

# ``{item}``, ``{item.field}``, ``{item[key]}``: the same "not glued to LaTeX or code" rule as
# interpolate._PLACEHOLDER; fields never start with ``_`` (CONTRACTS 6).
_ITEM = re.compile(
    r"(?<![{\w\\}^$])\{item(?:\.(?P<attr>[A-Za-z][A-Za-z0-9_]*)"
    r"|\[(?P<key>[^\[\]{}_'\"][^\[\]{}'\"]*|'[^'_][^']*'|\"[^\"_][^\"]*\")\])?\}(?!\})"
)
_SLOT = "\x00item{}\x00"


# --- the items --------------------------------------------------------------------------------

@dataclass
class MapItems:
    """The elements of ITEMS, plus what ``to_series`` needs to line results up with them."""

    elements: List[Any]
    index: Optional[List[Any]] = None  # pandas/polars row labels
    series_factory: Optional[Callable[..., Any]] = None


def items_of(value: Any, name: str = "ITEMS") -> MapItems:
    """A list, any iterable, a pandas/polars Series, or a DataFrame (one dict per row)."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    if module == "pandas" and kind.__name__ == "DataFrame":
        import sys

        rows = value.to_dict("records")
        return MapItems(rows, list(value.index), sys.modules["pandas"].Series)
    if module == "pandas" and kind.__name__ == "Series":
        import sys

        return MapItems(list(value), list(value.index), sys.modules["pandas"].Series)
    if module == "polars" and kind.__name__ == "DataFrame":
        import sys

        return MapItems(list(value.iter_rows(named=True)), None, sys.modules["polars"].Series)
    if module == "polars" and kind.__name__ == "Series":
        import sys

        return MapItems(list(value), None, sys.modules["polars"].Series)
    if isinstance(value, (str, bytes, Mapping)):
        raise InputError(f"--map {name}: a {kind.__name__} is not a list of items; put it in a "
                         f"list ([{name}]) or map over its values")
    try:
        iterator = iter(value)
    except TypeError:
        raise InputError(f"--map {name}: a {kind.__name__} is not iterable; give a list, a Series "
                         "or a DataFrame") from None
    except Exception as exc:
        raise InputError(f"--map {name}: iter() raised {type(exc).__name__}; nothing sent") from None
    elements: List[Any] = []
    try:
        for element in iterator:
            elements.append(element)
    except RecursionError:
        raise InputError(f"--map {name}: iterating it recursed without end after {len(elements)} "
                         "items; nothing sent") from None
    except Exception as exc:  # a generator that raises midway: one line, nothing sent
        raise InputError(f"--map {name}: iterating it raised {type(exc).__name__} after "
                         f"{len(elements)} items; nothing sent") from None
    return MapItems(elements)


def _field(element: Any, attr: Optional[str], key: Optional[str]) -> Any:
    """One level into a row, dict or object: ``{item.field}`` or ``{item[key]}``."""
    if attr is not None:
        if isinstance(element, Mapping):
            return element[attr]
        return getattr(element, attr)
    assert key is not None
    if key[:1] in "'\"":
        key = key[1:-1]
    elif key.lstrip("-").isdigit() and not (isinstance(element, Mapping) and key in element):
        return element[int(key)]
    return element[key]


class ItemTemplate:
    """The cell with kernel ``{name}`` placeholders already filled and ``{item…}`` slots left,
    so an element's text is never read again for placeholders."""

    def __init__(self, cell: str, interpolate: Optional[Callable[[str], str]] = None) -> None:
        self.slots: List[Tuple[Optional[str], Optional[str], str]] = []

        def slot(match: re.Match) -> str:
            self.slots.append((match.group("attr"), match.group("key"), match.group(0)))
            return _SLOT.format(len(self.slots) - 1)

        masked = _ITEM.sub(slot, cell)
        self.text = interpolate(masked) if interpolate else masked

    @property
    def uses_item(self) -> bool:
        return bool(self.slots)

    def render(self, element: Any) -> str:
        """The prompt for one element; a missing field is an ``InputError`` naming it."""
        text = self.text
        for number, (attr, key, typed) in enumerate(self.slots):
            if attr is None and key is None:
                value = element
            else:
                try:
                    value = _field(element, attr, key)
                except (KeyError, IndexError, AttributeError, TypeError, ValueError):
                    raise InputError(f"{typed}: this item has no such field "
                                     f"({type(element).__name__})") from None
                except RecursionError:
                    raise InputError(f"{typed}: reading this field recurses without end") from None
                except Exception as exc:  # a __getattr__ or __getitem__ of the user's that fails
                    raise InputError(f"{typed}: reading this field raised "
                                     f"{type(exc).__name__}") from None
            shown = text_of(typed.strip("{}"), lambda v=value: str(v))
            text = text.replace(_SLOT.format(number), shown)
        return text


def item_messages(prompt: str, system: Optional[str]) -> List[Dict[str, Any]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": prompt}]


def item_payload(model: str, prompt: str, system: Optional[str], options: ChatOptions) -> Dict[str, Any]:
    """One element's request body: the same ``ChatOptions`` the magic builds, never streamed.

    This is the one place ``--map`` and ``--batch`` build a body, so options that reach
    ``build_chat_payload`` (``--schema`` included, once it exists) apply to every item."""
    single = copy.copy(options)
    single.stream = False
    single.n = None
    return build_chat_payload(model, item_messages(prompt, system), single)


# --- the results ------------------------------------------------------------------------------

@dataclass
class ItemResult:
    """One element's answer, or why there is none (``error``)."""

    index: int
    text: str = ""
    usage: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None
    finish_reason: Optional[str] = None
    request_id: Optional[str] = None
    model: Optional[str] = None
    parsed: Any = None  # filled by --schema (the structured-output issue)
    service_tier: Optional[str] = None  # the tier the server billed (its body says)
    logprobs: Optional[List[Dict[str, Any]]] = None  # issue 29: with --logprobs
    citations: List[Dict[str, Any]] = field(default_factory=list)  # issue 29: with --web-search

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> Dict[str, Any]:
        return {"index": self.index, "text": self.text, "usage": self.usage, "error": self.error,
                "finish_reason": self.finish_reason, "request_id": self.request_id,
                "model": self.model, "service_tier": self.service_tier,
                "logprobs": self.logprobs, "citations": self.citations}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemResult:
        return cls(index=int(data["index"]), text=str(data.get("text") or ""),
                   usage=dict(data.get("usage") or {}),
                   error=None if data.get("error") is None else str(data["error"]),
                   finish_reason=data.get("finish_reason"), request_id=data.get("request_id"),
                   model=data.get("model"), service_tier=data.get("service_tier"),
                   **_folded_extras({"choices": [{"message": {"annotations": [
                       {"type": "url_citation", "url_citation": c}
                       for c in data.get("citations") or () if isinstance(c, dict)]},
                       "logprobs": {"content": data.get("logprobs") or []}}]}, None))


class MapResult:
    """What ``%%chat --map ITEMS -o OUT`` stores: ``OUT[i]`` is element i's ``ItemResult`` (None
    while it has not run), in input order."""

    def __init__(self, count: int, *, model: Optional[str] = None, index: Optional[List[Any]] = None,
                 series_factory: Optional[Callable[..., Any]] = None,
                 prices: Optional[Dict[str, Any]] = None, tier: Optional[str] = None) -> None:
        self.results: List[Optional[ItemResult]] = [None] * count
        self.model = model
        self.index = index
        self._series_factory = series_factory
        self.stopped = False  # Ctrl-C or a stop that ended the job early
        self.rate_limited = 0  # 429 rate_limit_exceeded answers met (each waited and retried)
        self.practice = False  # answered by the practice server (its x-oai-practice header)
        self.stop_reason: Optional[str] = None
        self.notices: List[str] = []  # e.g. a batch file that could not be read (one line each)
        # How its items are priced: ``OAIMagics.prices`` when it ran, and "batch" for a Batch
        # API job (else each item's own billed tier).
        self.prices = dict(prices or {})
        self.tier = tier

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> Optional[ItemResult]:
        return self.results[i]

    def __iter__(self):
        return iter(self.results)

    def __repr__(self) -> str:
        return (f"<MapResult {self.done}/{len(self)} done, {len(self.failed)} failed, "
                f"{len(self.missing)} not run>")

    @property
    def texts(self) -> List[Optional[str]]:
        """Each answer's text; None for a failed or missing item."""
        return [r.text if r is not None and r.ok else None for r in self.results]

    @property
    def failed(self) -> List[int]:
        return [i for i, r in enumerate(self.results) if r is not None and not r.ok]

    @property
    def missing(self) -> List[int]:
        return [i for i, r in enumerate(self.results) if r is None]

    @property
    def done(self) -> int:
        return sum(1 for r in self.results if r is not None and r.ok)

    def todo(self) -> List[int]:
        """What ``--resume`` sends: items with no answer (never run, or failed)."""
        return [i for i, r in enumerate(self.results) if r is None or not r.ok]

    @property
    def usage(self) -> Dict[str, Any]:
        """Token totals over the answered items, and their cost (None: prices unknown)."""
        totals: Dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        cost: Optional[float] = 0.0
        for r in self.results:
            if r is None:
                continue
            for name in totals:
                value = r.usage.get(name)
                if isinstance(value, (int, float)):
                    totals[name] += value
            item_cost = self.item_cost(r) if r.usage else 0.0
            cost = None if cost is None or item_cost is None else cost + item_cost
        totals["cost_usd"] = cost
        return totals

    def item_cost(self, item: ItemResult) -> Optional[float]:
        """One item's estimated USD (None: price unknown), by the one cost function."""
        from .costs import estimate_cost

        return estimate_cost(item.usage, item.model or self.model, self.prices,
                             tier=self.tier or item.service_tier)

    def to_series(self) -> Any:
        """The texts as a Series aligned to the DataFrame's (or Series') index."""
        factory = self._series_factory
        if factory is None:
            try:
                import pandas
            except ImportError:
                raise InputError("to_series needs pandas (or a pandas/polars input)") from None
            factory = pandas.Series
        if self.index is not None and getattr(factory, "__module__", "").startswith("pandas"):
            return factory(self.texts, index=self.index)
        return factory(self.texts)

    # --- JSON lines: a job survives a kernel restart ---------------------------------------

    def save(self, path: str) -> None:
        """One header line, then one line per finished item."""
        index = None
        if self.index is not None:
            try:
                json.dumps(self.index)
                index = self.index
            except (TypeError, ValueError):
                index = [str(label) for label in self.index]
        with open(path, "w", encoding="utf-8") as out:
            out.write(json.dumps({"format": MAP_FORMAT, "count": len(self), "model": self.model,
                                  "index": index, "tier": self.tier}) + "\n")
            for r in self.results:
                if r is not None:
                    out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str) -> MapResult:
        from .loaded_files import checked_count, read_loaded_text

        lines = [line for line in read_loaded_text(path, "MapResult.load").splitlines()
                 if line.strip()]
        try:
            head = json.loads(lines[0]) if lines else {}
            if not isinstance(head, dict) or head.get("format") != MAP_FORMAT:
                raise ValueError("not a saved MapResult")
            tier = head.get("tier") if isinstance(head.get("tier"), str) else None
            count = checked_count(head.get("count"), "count")
            index = head.get("index")
            if index is not None and (not isinstance(index, list) or len(index) != count):
                raise ValueError("its index must be a list of one label per item")
            model = head.get("model") if isinstance(head.get("model"), str) else None
            result = cls(count, model=model, index=index, tier=tier)
            for number, line in enumerate(lines[1:], 2):
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError(f"line {number} is not an object")
                position = data.get("index")
                if type(position) is not int or not 0 <= position < count:
                    raise ValueError(f"line {number}: index {str(position)[:20]!r} is not an item "
                                     f"from 0 to {count - 1}")
                item = ItemResult.from_dict(data)
                result.results[item.index] = item
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            raise InputError(f"MapResult.load: {path} is not a saved MapResult ({exc})") from None
        return result


def item_from_completion(index: int, data: Any, key: Optional[str]) -> ItemResult:
    """A chat.completion body as one item's result (shared by --map and --batch results).

    Every part is checked before use: a body, choice, message or usage that is not an object
    makes this item's error (or no usage), never an exception that loses the other items."""
    if not isinstance(data, dict):
        return ItemResult(index, error=f"the server's answer is not a JSON object ({type(data).__name__})")
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        return ItemResult(index, error="the server's answer has no readable choice")
    message = choice["message"]
    text = message.get("content")
    if text is None and message.get("refusal"):
        return ItemResult(index, error=redact(f"refused: {message['refusal']}", key))
    usage = data.get("usage")
    finish, model, tier = choice.get("finish_reason"), data.get("model"), data.get("service_tier")
    return ItemResult(
        index, text=redact(text if isinstance(text, str) else str(text or ""), key),
        usage=checked_usage(usage)[0] or {} if isinstance(usage, dict) else {},
        finish_reason=finish if isinstance(finish, str) else None,
        model=redact(model, key) if isinstance(model, str) else None,
        service_tier=tier if isinstance(tier, str) else None,
        **_folded_extras(data, key),
    )


def _folded_extras(data: Any, key: Optional[str]) -> Dict[str, Any]:
    """Logprobs and citations of the first choice, read by the one accumulator (redacted as a
    chat answer's are); none when the body is not a chat completion's shape."""
    from ..api.accumulator import ChatAccumulator, MalformedChunk
    from .results import Choice

    accumulator = ChatAccumulator()
    try:
        accumulator.add({"choices": [{k: v for k, v in c.items() if k in ("message", "logprobs")}
                                     for c in (data.get("choices") or [])[:1] if isinstance(c, dict)]})
    except (MalformedChunk, AttributeError, TypeError):
        return {}
    if 0 not in accumulator.choices:
        return {}
    first = Choice.from_state(accumulator.choices[0], key)
    return {"logprobs": first.logprobs, "citations": first.citations}
