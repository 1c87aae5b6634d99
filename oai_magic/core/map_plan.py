"""The map use case: plan a job (everything checked, nothing sent), then run it with progress.

``%%chat --map`` and ``Session.map`` share it. :func:`plan_map` checks the options, renders every
item's request body, refuses a spent budget and estimates tokens and cost, all before the first
request; :func:`confirmation_question` says whether the job is big enough to ask about first;
:func:`run_plan` runs it (``map_run.run_map``) and tells a view ``map_begin``, ``map_progress``
and ``map_end``; ``--schema`` answers are parsed into ``item.parsed`` at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from ..api.request import ChatOptions
from ..errors import CellStopped, InputError
from .chat_options import request_options
from .costs import estimate_cost, format_cost
from .events import View
from .map_run import MapJob, MapProgress, progress_of, run_map
from .mapping import ItemTemplate, MapResult, item_payload, items_of
from .pacer import Pacer, estimate_need
from .results import Cancellation

CONFIRM_ITEMS = 100


@dataclass
class MapPlan:
    """A checked job: the request body of every item to send, and what it is estimated to cost."""

    payloads: Dict[int, Dict[str, Any]]
    result: MapResult
    options: ChatOptions
    model: str
    tokens: int
    cost: Optional[float]
    concurrency: int = 4
    item_timeout: Optional[float] = None
    target: Any = None  # --schema
    resumed: bool = False
    cancellation: Cancellation = field(default_factory=Cancellation)
    on_item: Optional[Callable[[Any], None]] = None  # each finished item (the log, issue 24)

    @property
    def indices(self) -> List[int]:
        return sorted(self.payloads)


def check_map_options(concurrency: Optional[int], item_timeout: Optional[float]) -> None:
    if concurrency is not None and not 1 <= concurrency <= 64:
        raise InputError(f"--concurrency must be between 1 and 64, got {concurrency}")
    if item_timeout is not None and item_timeout <= 0:
        raise InputError(f"--item-timeout must be more than 0 seconds, got {item_timeout:g}")


def check_resumable(previous: Any, label: str, count: int, items_label: str) -> MapResult:
    """``--resume``: ``previous`` must be the MapResult of the same items."""
    if not isinstance(previous, MapResult):
        raise InputError(f"--resume: {label} holds no MapResult to resume (run without "
                         "--resume first, or MapResult.load(path) into it).")
    if len(previous) != count:
        raise InputError(f"--resume: {label} has {len(previous)} items but {items_label} has "
                         f"{count}: resume the same items.")
    return previous


def plan_map(session: Any, template: ItemTemplate, items: Any, items_label: str, *,
             concurrency: Optional[int] = 4, item_timeout: Optional[float] = None,
             system: Optional[str] = None, schema: Any = None, model: Optional[str] = None,
             options: Optional[Dict[str, Any]] = None, request: Optional[ChatOptions] = None,
             previous: Optional[MapResult] = None, batch: bool = False) -> MapPlan:
    """Everything checked and every body built; raises ``InputError`` before anything is sent."""
    from .chat_setup import schema_target_of
    from .exchange import check_budget

    check_map_options(concurrency, item_timeout)
    if not template.uses_item:
        raise InputError("map: the template has no {item}: write the prompt as a template, "
                         "e.g. 'Classify: {item}' ({item.field} or {item[key]} for rows).")
    listed = items_of(items, items_label)
    if request is None:
        request = request_options(session.settings, model=model, **(options or {}))
    request.stream = False
    target = schema if schema is None or hasattr(schema, "response_format") else schema_target_of(schema)
    if target is not None:
        request.json_schema = target.response_format()
        # a server that refused json_schema before gets json_object with the schema (issue 32)
        request.schema_as_json_object = (session.settings.resolved_base_url()
                                         in session.json_schema_refused)
    chosen = request.model or session.settings.model
    indices = previous.todo() if previous is not None else list(range(len(listed.elements)))
    try:
        payloads = {i: item_payload(chosen, template.render(listed.elements[i]), system, request)
                    for i in indices}
    except InputError as exc:
        raise InputError(f"%%chat --map: {exc}") from None
    session.client().headers(request.organization, request.project)  # no key: one line, now
    check_budget(session, chosen)  # a spent session budget refuses the whole job at once
    tokens = sum(estimate_need(len(str(p["messages"])), request.max_tokens) for p in payloads.values())
    cost = estimate_cost({"prompt_tokens": tokens, "completion_tokens": 0}, chosen, session.prices,
                         tier="batch" if batch else None) if payloads else 0
    result = previous if previous is not None else MapResult(
        len(listed.elements), model=chosen, index=listed.index, series_factory=listed.series_factory)
    result.prices = dict(session.prices)  # a loaded (resumed) job is priced as this one
    return MapPlan(payloads, result, request, chosen, tokens, cost, concurrency or 4, item_timeout,
                   target, resumed=previous is not None)


def confirmation_question(plan: MapPlan, limit_usd: float, batch: bool = False) -> Optional[str]:
    """The question to ask before more than 100 items or a cost over ``map_confirm_usd``."""
    count = len(plan.payloads)
    over_cost = plan.cost is not None and plan.cost > limit_usd
    if count <= CONFIRM_ITEMS and not over_cost:
        return None
    price = format_cost(plan.cost)
    how = "as a Batch API job" if batch else "now"
    return (f"About to send {count} requests to {plan.model} {how} (about {plan.tokens:,} tokens, "
            f"{price}). Go ahead? [y/N] ")


def plain_summary(progress: MapProgress, stopped: Optional[str] = None) -> str:
    """The one-line summary of a map run outside a notebook view (scripts, the API)."""
    state = f" ({stopped})" if stopped else ""
    return f"{progress.done} of {progress.total} answered, {progress.failed} failed{state}"


def _finished(plan: MapPlan, item: Any, view: View, progress: MapProgress) -> None:
    if plan.on_item is not None:
        plan.on_item(item)
    view.map_progress(progress)


def run_plan(session: Any, plan: MapPlan, view: View,
             summarise: Callable[[MapProgress, Optional[str]], str] = plain_summary) -> MapResult:
    """Send the planned items with progress events; the MapResult fills as answers arrive.

    A Ctrl-C keeps the answers and ends with ``CellStopped``; a job stopped by the server
    (``insufficient_quota``) ends with ``InputError``; ``--schema`` answers are parsed either way.
    """
    from .costs import budget_of, ledger_of

    settings = session.settings
    indices = plan.indices
    if not indices:
        return plan.result
    options, result = plan.options, plan.result
    job = MapJob(plan.payloads, settings, concurrency=plan.concurrency,
                 item_timeout=plan.item_timeout, max_retries=settings.max_retries,
                 organization=options.organization, project=options.project,
                 max_tokens=options.max_tokens, ledger=ledger_of(session), budget=budget_of(session),
                 model=plan.model, prices=session.prices)
    stop = plan.cancellation.requested
    started = time.monotonic()
    resumed = f" (resuming {len(indices)} of {len(result)})" if plan.resumed else ""
    view.map_begin(len(indices), f"Sending {len(indices)} requests to {plan.payloads[indices[0]]['model']}"
                   f"{resumed}, {min(job.concurrency, len(indices))} at a time.")
    interrupted = False
    try:
        try:
            run_map(job, result, Pacer(max_wait_s=session.settings.max_wait_s), stop,
                    on_item=lambda item: _finished(plan, item, view,
                                                   progress_of(result, indices, started)))
        except KeyboardInterrupt:
            interrupted = True
        progress = progress_of(result, indices, started)
        view.map_progress(progress, force=True)
        stopped = "stopped" if interrupted or stop.is_set() or result.stop_reason else None
        view.map_end(progress, summarise(progress, stopped))
        for notice in job_notices(session, job, result, indices, options):
            view.notice(notice)
        if result.stop_reason and not interrupted:
            raise InputError(f"--map stopped: {result.stop_reason}")
        if interrupted:
            raise CellStopped(f"■ stopped — {result.done} of {len(result)} answers kept")
        return result
    finally:
        if plan.target is not None:
            parse_items(result, plan.target)


def job_notices(session: Any, job: MapJob, result: MapResult, indices: List[int],
                options: ChatOptions) -> List[str]:
    """Notices for the whole job, each said once: a refused json_schema (remembered for the
    base URL) and a --max-tokens the server ran past."""
    from .other_servers import completion_tokens, ignored_max_tokens_notice, remember_schema_refused

    notices = [remember_schema_refused(session)] if job.schema_refused else []
    if options.max_tokens:
        returned = [completion_tokens(r.usage) for r in (result.results[i] for i in indices)
                    if r is not None and r.ok]
        over = [n for n in returned if n is not None and n > options.max_tokens]
        if over:
            answers = f" ({len(over)} of {len(returned)} answers)"
            notices.append(ignored_max_tokens_notice(max(over), options.max_tokens,
                                                     options.max_tokens_field, answers))
    return notices


def parse_items(result: MapResult, target: Any) -> None:
    """``.parsed`` for each answered item; an answer that is not the schema becomes its error."""
    from .structured import StructuredAnswerError, parse_answer

    for item in result.results:
        if item is not None and item.ok and item.parsed is None:
            try:
                item.parsed = parse_answer(item.text, target, None)
            except StructuredAnswerError as exc:
                item.error = str(exc)


def wait_for_batch(job: Any, view: View) -> Any:
    """Wait for a Batch API job with the map's progress events; Ctrl-C stops waiting, never the
    job (``CellStopped`` says how to wait again). Returns the job."""
    started = time.monotonic()

    def snapshot(job: Any) -> MapProgress:
        counts = job.request_counts
        return MapProgress(total=counts["total"] or job.count, done=counts["completed"],
                           failed=counts["failed"], elapsed=time.monotonic() - started)

    view.map_begin(job.count or 1, f"Waiting for {job.id} (Ctrl-C stops waiting, not the batch).")
    try:
        job.wait(on_poll=lambda job: view.map_progress(snapshot(job), force=True))
    except KeyboardInterrupt:
        view.map_end(snapshot(job), f"■ stopped waiting: {job.id} is {job.status}")
        raise CellStopped(f"■ stopped waiting — {job.id} goes on ({job.status}); "
                          "%chat batch wait resumes waiting") from None
    counts = job.request_counts
    failed = f", {counts['failed']} failed" if counts["failed"] else ""
    view.map_end(snapshot(job), f"{job.id} {job.status}: {counts['completed']} of "
                 f"{counts['total']} answered{failed} in {time.monotonic() - started:.1f} s; "
                 f"%chat batch results {job.id} gets them")
    return job

