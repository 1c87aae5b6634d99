"""``%%chat --map ITEMS``: wiring only. Validate everything, ask before a big job, then run
``map_run.run_map`` (or hand the same request bodies to ``batch``) with a progress view."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

from IPython.core.error import UsageError

from ..core.map_run import MapJob, progress_of, run_map
from ..core.mapping import ItemTemplate, MapItems, MapResult, item_payload, items_of
from ..core.pacer import Pacer, estimate_need
from ..errors import CellStopped, InputError
from . import chat
from .arguments import read_words

CONFIRM_ITEMS = 100
# Options of a single answer that have no meaning for many independent requests.
_NOT_WITH_MAP = (("new", "-n"), ("choices", "-N"), ("tools", "--tools"), ("tool_choice", "--tool-choice"),
                 ("auto_tools", "--auto-tools"), ("to_cell", "--to-cell"), ("image", "--image"),
                 ("context", "--context"))


def _refuse_other_options(args: Any) -> None:
    for name, flag in _NOT_WITH_MAP:
        if getattr(args, name, None):
            raise UsageError(f"%%chat --map: {flag} does not go with --map (each item is one "
                             "independent request with no history).")
    if args.concurrency is not None and not 1 <= args.concurrency <= 64:
        raise UsageError(f"--concurrency must be between 1 and 64, got {args.concurrency}")
    if args.item_timeout is not None and args.item_timeout <= 0:
        raise UsageError(f"--item-timeout must be more than 0 seconds, got {args.item_timeout:g}")
    if args.resume and not args.out:
        raise UsageError("--resume needs -o OUT: the MapResult whose missing items are sent.")
    if args.resume and args.batch:
        raise UsageError("--resume goes without --batch: a batch's missing items are listed by "
                         "%chat batch results; resume them with --map ... -o OUT --resume.")


def _template(magics: Any, args: Any, cell: str) -> ItemTemplate:
    """Kernel ``{name}`` placeholders are filled once; ``{item…}`` per element (CONTRACTS 6:
    the element wins over a kernel variable named ``item``)."""
    if args.no_interpolate:
        return ItemTemplate(cell)
    from ..core.context import summary
    from ..core.interpolate import interpolate_prompt

    namespace = {k: v for k, v in magics.shell.user_ns.items() if k != "item"}

    def fill(text: str) -> str:
        return interpolate_prompt(text, namespace, magics.state, summarise=summary)[0]

    template = ItemTemplate(cell, fill)
    if not template.uses_item:
        raise UsageError("%%chat --map: the cell has no {item}: write the prompt as a template, "
                         "e.g. 'Classify: {item}' ({item.field} or {item[key]} for rows).")
    return template


def _system_prompt(magics: Any, args: Any) -> Optional[str]:
    """``-s`` applies; otherwise ``-c NAME`` lends that conversation's system prompt (only)."""
    if args.system:
        return args.system
    thread = magics.state.conversations.get(args.conversation)
    return thread.system if thread is not None else None


def _confirm(count: int, model: str, tokens: int, cost: Optional[float], limit_usd: float,
             batch: bool) -> None:
    """Ask before more than 100 items or a cost over ``map_confirm_usd``; --yes skips it."""
    over_cost = cost is not None and cost > limit_usd
    if count <= CONFIRM_ITEMS and not over_cost:
        return
    from ..core.costs import format_cost

    price = format_cost(cost)
    how = "as a Batch API job" if batch else "now"
    question = (f"About to send {count} requests to {model} {how} (about {tokens:,} tokens, "
                f"{price}). Go ahead? [y/N] ")
    from ..ui.ask import ask_yes_no

    if not ask_yes_no(question, UsageError(
            f"%%chat --map: {count} requests ({price}) need a yes, and this frontend cannot "
            "ask: add --yes to send them.")):
        raise UsageError("%%chat --map: nothing sent.")


def _previous(magics: Any, args: Any, count: int) -> Optional[MapResult]:
    if not args.resume:
        return None
    previous = magics.shell.user_ns.get(args.out)
    if not isinstance(previous, MapResult):
        raise UsageError(f"--resume: {args.out} holds no MapResult to resume (run without "
                         "--resume first, or MapResult.load(path) into it).")
    if len(previous) != count:
        raise UsageError(f"--resume: {args.out} has {len(previous)} items but {args.map} has "
                         f"{count}: resume the same items.")
    return previous


def run(magics: Any, args: Any, cell: str) -> None:
    """The whole ``%%chat --map`` cell: everything validated before the first request."""
    _refuse_other_options(args)
    if args.map not in magics.shell.user_ns:
        raise UsageError(f"--map {args.map}: no such variable in the kernel.")
    try:
        items: MapItems = items_of(magics.shell.user_ns[args.map], args.map)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    template = _template(magics, args, cell)
    options = chat.chat_options(magics, args)
    options.stream = False
    target = chat.schema_target(magics, args)  # --schema: every item's answer parsed into the object
    if target is not None:
        options.json_schema = target.response_format()
        options.schema_as_json_object = (magics.state.settings.resolved_base_url()
                                         in magics.state.json_schema_refused)
    model = options.model or magics.state.settings.model
    system = _system_prompt(magics, args)
    previous = _previous(magics, args, len(items.elements))
    indices = previous.todo() if previous is not None else list(range(len(items.elements)))
    try:
        payloads: Dict[int, Dict[str, Any]] = {
            i: item_payload(model, template.render(items.elements[i]), system, options)
            for i in indices}
    except InputError as exc:
        raise UsageError(f"%%chat --map: {exc}") from None
    magics.client.headers(options.organization, options.project)  # no key: one line, now
    from ..core.exchange import check_budget

    try:
        check_budget(magics.state, model)  # a spent session budget refuses the whole job at once
    except InputError as exc:
        raise UsageError(str(exc)) from None
    tokens = sum(estimate_need(len(str(p["messages"])), options.max_tokens) for p in payloads.values())
    from ..core.costs import estimate_cost

    cost = estimate_cost({"prompt_tokens": tokens, "completion_tokens": 0}, model,
                         magics.state.prices, tier="batch" if args.batch else None) if payloads else 0
    if not args.yes:
        _confirm(len(payloads), model, tokens, cost, magics.map_confirm_usd, args.batch)
    result = previous if previous is not None else MapResult(
        len(items.elements), model=model, index=items.index, series_factory=items.series_factory)
    result.prices = dict(magics.state.prices)  # a loaded (resumed) job is priced as this one
    if args.batch:
        from ..core import batch

        job = batch.submit(magics.state, magics.client, payloads, len(items.elements), options,
                           model=model, index=items.index)
        if args.out:
            magics.shell.user_ns[args.out] = job
        print(batch.submitted_line(job, args.out))
        return
    try:
        _run_with_progress(magics, args, payloads, result, options)
    finally:
        if target is not None:
            _parse_items(result, target)


def _parse_items(result: MapResult, target: Any) -> None:
    """``.parsed`` for each answered item; an answer that is not the schema becomes its error."""
    from ..core.structured import StructuredAnswerError, parse_answer

    for item in result.results:
        if item is not None and item.ok and item.parsed is None:
            try:
                item.parsed = parse_answer(item.text, target, None)
            except StructuredAnswerError as exc:
                item.error = str(exc)


def _run_with_progress(magics: Any, args: Any, payloads: Dict[int, Dict[str, Any]],
                       result: MapResult, options: Any) -> None:
    from ..ui.map_view import NotebookMapView, TerminalMapView, summary_line

    indices: List[int] = sorted(payloads)
    settings = magics.state.settings
    from ..core.costs import budget_of, ledger_of

    state = magics.state
    job = MapJob(payloads, settings, concurrency=args.concurrency or 4,
                 item_timeout=args.item_timeout, max_retries=settings.max_retries,
                 organization=options.organization, project=options.project,
                 max_tokens=options.max_tokens, ledger=ledger_of(state), budget=budget_of(state),
                 model=options.model or state.settings.model, prices=state.prices)
    stop = threading.Event()
    started = time.monotonic()
    if args.out:
        magics.shell.user_ns[args.out] = result  # filled as answers arrive: a Ctrl-C keeps them
    if not indices:
        print(f"Nothing to send: every item of {args.out} has an answer.")
        return
    view = NotebookMapView() if magics.rich_display() else TerminalMapView()
    resumed = f" (resuming {len(indices)} of {len(result)})" if args.resume else ""
    view.begin(len(indices), f"Sending {len(indices)} requests to {payloads[indices[0]]['model']}"
               f"{resumed}, {min(job.concurrency, len(indices))} at a time.")
    interrupted = False
    try:
        run_map(job, result, Pacer(), stop,
                on_item=lambda item: view.update(progress_of(result, indices, started)))
    except KeyboardInterrupt:
        interrupted = True
    progress = progress_of(result, indices, started)
    view.update(progress, force=True)
    notices = _job_notices(magics.state, job, result, indices, options)
    if interrupted:
        line = summary_line(progress, args.out, "stopped")
        view.end(progress, line)
        _say(notices)
        hint = f"; --resume sends the {len(result.todo())} left" if args.out else ""
        raise CellStopped(f"■ stopped — {result.done} of {len(result)} answers kept"
                          f"{' in ' + args.out if args.out else ''}{hint}")
    if result.stop_reason:
        view.end(progress, summary_line(progress, args.out, "stopped"))
        _say(notices)
        raise UsageError(f"--map stopped: {result.stop_reason}")
    view.end(progress, summary_line(progress, args.out))
    _say(notices)


def _job_notices(state: Any, job: MapJob, result: MapResult, indices: List[int],
                 options: Any) -> List[str]:
    """Notices for the whole job, each said once: a refused json_schema (remembered for the
    base URL) and a --max-tokens the server ran past."""
    from ..core.other_servers import (
        completion_tokens,
        ignored_max_tokens_notice,
        remember_schema_refused,
    )

    notices = [remember_schema_refused(state)] if job.schema_refused else []
    if options.max_tokens:
        returned = [completion_tokens(r.usage) for r in (result.results[i] for i in indices)
                    if r is not None and r.ok]
        over = [n for n in returned if n is not None and n > options.max_tokens]
        if over:
            answers = f" ({len(over)} of {len(returned)} answers)"
            notices.append(ignored_max_tokens_notice(max(over), options.max_tokens,
                                                     options.max_tokens_field, answers))
    return notices


def _say(notices: List[str]) -> None:
    from ..render.chrome import notice_line

    for notice in notices:
        print(notice_line(notice))


def batch_command(magics: Any, line: str) -> Any:
    """``%chat batch status|wait|results|cancel [ID]``; ``results`` returns the MapResult."""
    from ..core import batch
    from ..core.map_run import MapProgress
    from ..ui.map_view import NotebookMapView, TerminalMapView

    words = read_words(line)[1:]
    if not words or words[0] not in ("status", "wait", "results", "cancel") or len(words) > 2:
        raise UsageError("usage: %chat batch status|wait|results|cancel [ID] (the last batch of "
                         "this session when no ID is given)")
    command, batch_id = words[0], (words[1] if len(words) > 1 else None)
    job = batch.job_for(magics.state, magics.client, batch_id)
    if command == "status":
        job.refresh()
        return job
    if command == "cancel":
        job.cancel()
        print(f"Cancelling {job.id}: status {job.status}; finished requests stay in its results.")
        return None
    if command == "wait":
        view = NotebookMapView() if magics.rich_display() else TerminalMapView()
        started = time.monotonic()

        def snapshot(job: Any) -> MapProgress:
            counts = job.request_counts
            return MapProgress(total=counts["total"] or job.count, done=counts["completed"],
                               failed=counts["failed"], elapsed=time.monotonic() - started)

        view.begin(job.count or 1, f"Waiting for {job.id} (Ctrl-C stops waiting, not the batch).")
        try:
            job.wait(on_poll=lambda job: view.update(snapshot(job), force=True))
        except KeyboardInterrupt:
            view.end(snapshot(job), f"■ stopped waiting: {job.id} is {job.status}")
            raise CellStopped(f"■ stopped waiting — {job.id} goes on ({job.status}); "
                              "%chat batch wait resumes waiting") from None
        counts = job.request_counts
        failed = f", {counts['failed']} failed" if counts["failed"] else ""
        view.end(snapshot(job), f"{job.id} {job.status}: {counts['completed']} of "
                 f"{counts['total']} answered{failed} in {time.monotonic() - started:.1f} s; "
                 f"%chat batch results {job.id} gets them")
        return None
    result = job.results()
    _say(result.notices)
    if result.missing:
        print(f"{job.id} {job.status}: {len(result.missing)} of {len(result)} items have no "
              f"answer: {result.missing[:20]}{' …' if len(result.missing) > 20 else ''}")
    return result
