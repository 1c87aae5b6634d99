"""Running a ``--map`` job: worker threads, each with its own HTTP session, paced by one
``pacer.Pacer``; results land in the ``MapResult`` as they arrive, so a stop keeps them.
Plain Python: no IPython, no widgets (views get ``MapProgress`` snapshots)."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import APIConnectionError, APIError, OAIError, RateLimitError, one_line
from ..state import Settings, from_practice_server, redact
from .mapping import ItemResult, MapResult, item_from_completion
from .pacer import Pacer, estimate_need


@dataclass
class MapProgress:
    """A snapshot for views: counts, tokens, the first answers, the time taken so far."""

    total: int
    done: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: Optional[float] = None
    elapsed: float = 0.0
    first: List[Tuple[int, str]] = field(default_factory=list)
    practice: bool = False

    @property
    def eta(self) -> Optional[float]:
        finished = self.done + self.failed
        if not finished or finished >= self.total:
            return None
        return self.elapsed / finished * (self.total - finished)


class QuotaExhausted(APIError):
    """A 429 with ``insufficient_quota``: no wait fixes it, the job stops at once."""


@dataclass
class MapJob:
    """Everything one run needs; ``prompts[i]`` goes with ``indices[i]``."""

    payloads: Dict[int, Dict[str, Any]]
    settings: Settings
    concurrency: int = 4
    item_timeout: Optional[float] = None
    max_retries: int = 2
    organization: Optional[str] = None
    project: Optional[str] = None
    max_tokens: Optional[int] = None
    # The session's usage ledger and budget (costs.py): each item reserves its estimate before it
    # starts, so concurrent requests overshoot a budget by at most one, and records what it used.
    ledger: Any = None
    budget: Any = None
    model: Optional[str] = None
    prices: Optional[Dict[str, Any]] = None
    # Set when the server refused --schema's json_schema and the items went as json_object
    # with the schema (llama-cpp-python); the caller remembers it for the base URL.
    schema_refused: bool = False


def _worker_client(settings: Settings, item_timeout: Optional[float]) -> Any:
    """A client of its own (its own ``requests.Session``): retries happen here, per item."""
    from ..api.client import OpenAIClient

    mine = copy.copy(settings)
    mine.max_retries = 0
    if item_timeout is not None:
        mine.timeout = item_timeout
    return OpenAIClient(mine)


def worker_failure(exc: BaseException, key: Optional[str]) -> str:
    """Why an item failed when its worker met an unexpected exception: one redacted line."""
    try:
        detail = str(exc)
    except Exception:
        detail = "(no message)"
    return one_line(redact(f"failed: {type(exc).__name__}: {detail}", key))


def run_map(job: MapJob, result: MapResult, pacer: Pacer, stop: threading.Event,
            on_item: Callable[[ItemResult], None] = lambda item: None) -> None:
    """Send every payload, ``job.concurrency`` at a time; fill ``result`` as answers arrive.

    Returns when all are done or ``stop`` is set (then requests in flight are abandoned and
    their items stay missing). After a Ctrl-C nothing more is written into ``result``: what it
    holds when this raises is what ``--resume`` sends again. A 429 ``rate_limit_exceeded``
    waits and retries the same item as often as it takes, and holds the other workers too;
    ``insufficient_quota`` sets ``result.stop_reason`` and stops the job."""
    from ..api.client import RequestStopped, retry_delay, should_retry
    from ..api.limits import WaitTooLong
    from .other_servers import refuses_json_schema, send_items_as_json_object

    todo = sorted(job.payloads)
    lock = threading.Lock()
    closed = threading.Event()  # set at a Ctrl-C: late answers are not stored
    key = job.settings.resolved_key()
    bodies = {i: json.dumps(payload) for i, payload in job.payloads.items()}

    def next_index() -> Optional[int]:
        with lock:
            return todo.pop(0) if todo and not stop.is_set() else None

    def one(client: Any, index: int) -> Optional[ItemResult]:
        need = estimate_need(len(bodies[index]), job.max_tokens)
        attempt = 0
        while True:
            if not pacer.acquire(need, stop):
                return None
            sent = {"response_format": job.payloads[index].get("response_format")}
            try:
                response = client.post("/chat/completions", json_body=job.payloads[index],
                                       organization=job.organization, project=job.project,
                                       cancel=stop)
            except RequestStopped:
                pacer.release()
                return None
            except APIError as error:
                pacer.observe(error.headers)
                pacer.release()
                if isinstance(error, RateLimitError) and error.code == "insufficient_quota":
                    raise QuotaExhausted(str(error)) from None
                if refuses_json_schema(error, sent):  # another worker may have switched already
                    with lock:  # once for the whole job, then this item is asked again
                        job.schema_refused = True
                        send_items_as_json_object(job.payloads)
                    continue
                retryable = isinstance(error, APIConnectionError) or (
                    error.status_code is not None and should_retry(error.status_code, error.headers))
                rate_limited = isinstance(error, RateLimitError)
                if rate_limited or (retryable and attempt < job.max_retries):
                    try:
                        delay = retry_delay(error.headers, attempt, max_wait_s=pacer.max_wait_s)
                    except WaitTooLong as too_long:  # the item fails with that reason, unwaited
                        return ItemResult(index, error=f"{error} — {too_long.message}",
                                          request_id=error.request_id)
                if rate_limited:
                    with lock:
                        result.rate_limited += 1
                    pacer.hold(delay)
                    attempt += 1
                    continue  # a wait fixes it: never counted against max_retries
                if retryable and attempt < job.max_retries:
                    if stop.wait(delay):
                        return None
                    attempt += 1
                    continue
                return ItemResult(index, error=str(error), request_id=error.request_id)
            pacer.observe(response.headers)
            pacer.release()
            if from_practice_server(response.headers):
                result.practice = True
            item = item_from_completion(index, response.data, key)
            item.request_id = response.request_id
            return item

    def accounted(client: Any, index: int) -> Optional[ItemResult]:
        if job.ledger is None:
            return one(client, index)
        from .costs import budget_refusal, request_estimate

        if job.budget is not None:
            refusal = budget_refusal(job.ledger, job.budget, job.model, job.prices)
            if refusal:
                return ItemResult(index, error=refusal)
        held = job.ledger.reserve(*request_estimate(
            job.model, len(bodies[index]) // 4, job.max_tokens or 1000, job.prices))
        try:
            item = one(client, index)
        finally:
            job.ledger.release(held)
        if item is not None and item.usage:
            model = item.model or job.model
            job.ledger.record(item.usage, model, "--map", result.item_cost(item))
        return item

    def work() -> None:
        client = _worker_client(job.settings, job.item_timeout)
        try:
            while True:
                index = next_index()
                if index is None:
                    return
                try:
                    item = accounted(client, index)
                except QuotaExhausted as exc:
                    result.stop_reason = str(exc)
                    stop.set()
                    return
                except OAIError as exc:  # e.g. no key: the item says why, the others go on
                    item = ItemResult(index, error=str(exc))
                except Exception as exc:  # a dead worker is a failed item, never a silent one
                    item = ItemResult(index, error=worker_failure(exc, key))
                if item is None:
                    if stop.is_set():
                        return
                    item = ItemResult(index, error="the request ended without an answer")
                with lock:
                    if closed.is_set():
                        return
                    result.results[index] = item
                with contextlib.suppress(Exception):  # a view that fails to draw costs no item
                    on_item(item)
        finally:
            client.close()

    workers = [threading.Thread(target=work, name=f"oai-map-{n}", daemon=True)
               for n in range(max(1, min(job.concurrency, len(todo) or 1)))]
    for worker in workers:
        worker.start()
    try:
        while any(worker.is_alive() for worker in workers):
            for worker in workers:
                worker.join(0.05)
    except KeyboardInterrupt:
        stop.set()
        with lock:
            closed.set()
        result.stopped = True
        raise


def progress_of(result: MapResult, indices: Sequence[int], started: float,
                first_count: int = 5) -> MapProgress:
    """A snapshot of the items this run sends (``indices``), for the progress view."""
    snap = MapProgress(total=len(indices), elapsed=time.monotonic() - started)
    for i in indices:
        r = result.results[i]
        if r is None:
            continue
        if r.ok:
            snap.done += 1
            if len(snap.first) < first_count:
                snap.first.append((i, r.text))
        else:
            snap.failed += 1
        total = r.usage.get("total_tokens")
        if isinstance(total, (int, float)):
            snap.tokens += int(total)
    snap.cost_usd = result.usage["cost_usd"]
    snap.practice = result.practice
    return snap
