"""``%%chat --map ITEMS``: wiring only. Parse the line, fill the kernel's ``{name}``s, let
``core.map_plan`` plan the job (everything checked), ask before a big one, then run the plan
(or hand the same request bodies to ``batch``) into a progress view."""

from __future__ import annotations

from typing import Any, Optional

from IPython.core.error import UsageError

from ..core.map_plan import check_map_options, check_resumable, confirmation_question, plan_map, run_plan
from ..core.mapping import ItemTemplate, items_of
from ..errors import CellStopped
from .arguments import read_words

# Options of a single answer that have no meaning for many independent requests.
_NOT_WITH_MAP = (("new", "-n"), ("choices", "-N"), ("tools", "--tools"), ("tool_choice", "--tool-choice"),
                 ("auto_tools", "--auto-tools"), ("to_cell", "--to-cell"), ("image", "--image"),
                 ("context", "--context"), ("file", "--file"), ("confidence", "--confidence"))


def _refuse_other_options(args: Any) -> None:
    for name, flag in _NOT_WITH_MAP:
        if getattr(args, name, None):
            raise UsageError(f"%%chat --map: {flag} does not go with --map (each item is one "
                             "independent request with no history).")
    check_map_options(args.concurrency, args.item_timeout)
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


def _items_value(magics: Any, expression: str) -> Any:
    """What ``--map`` names: a variable, or an expression evaluated in the user's namespace
    (``df["region"]``, ``df.region``); whatever goes wrong is one line."""
    from ..render.chrome import one_line, terminal_safe

    namespace = magics.shell.user_ns
    if expression.isidentifier():
        if expression not in namespace:
            raise UsageError(f"--map {expression}: no such variable in the kernel.")
        return namespace[expression]
    try:
        code = compile(expression, "<--map>", "eval")
    except SyntaxError as exc:
        raise UsageError(f"--map {expression}: not a Python expression ({exc.msg})") from None
    try:
        return eval(code, magics.shell.user_global_ns, namespace)
    except Exception as exc:  # the user's expression: any error is theirs, said in one line
        reason = str(exc) if isinstance(exc, NameError) else f"{type(exc).__name__}: {exc}"
        raise UsageError(terminal_safe(one_line(f"--map {expression}: {reason}"))) from None


def _system_prompt(magics: Any, args: Any) -> Optional[str]:
    """``-s`` applies; otherwise ``-c NAME`` lends that conversation's system prompt (only)."""
    if args.system:
        return args.system
    thread = magics.state.conversations.get(args.conversation)
    return thread.system if thread is not None else None


def _confirm(question: Optional[str], count: int, cost: Optional[float]) -> None:
    """Ask the plan's question (more than 100 items, or over ``map_confirm_usd``) with the one
    yes/no prompt."""
    if question is None:
        return
    from ..core.ask import ask_yes_no
    from ..core.costs import format_cost

    if not ask_yes_no(question, UsageError(
            f"%%chat --map: {count} requests ({format_cost(cost)}) need a yes, and this frontend "
            "cannot ask: add --yes to send them.")):
        raise UsageError("%%chat --map: nothing sent.")


def run(magics: Any, args: Any, cell: str) -> None:
    """The whole ``%%chat --map`` cell: everything validated before the first request."""
    from ..core.chat_options import request_options
    from ..core.chat_setup import schema_of_variable

    _refuse_other_options(args)
    value = _items_value(magics, args.map)
    template = _template(magics, args, cell)
    request = request_options(
        magics.settings, model=args.model, temperature=args.temperature, top_p=args.top_p,
        max_tokens=args.max_tokens, seed=args.seed, stop=list(args.stop), json=args.json,
        presence_penalty=args.presence_penalty, frequency_penalty=args.frequency_penalty,
        logit_bias=args.logit_bias, user=args.user, org=args.org, project=args.project,
        reasoning_effort=args.reasoning_effort, verbosity=args.verbosity, param=list(args.param),
        web_search=args.web_search, logprobs=args.logprobs, service_tier=args.service_tier)
    target = schema_of_variable(magics.shell.user_ns, args.schema) if args.schema else None
    from ..core.logged_jobs import logged_map_result, map_fingerprint

    listed = items_of(value, args.map)
    asked = map_fingerprint(cell, request.model or magics.settings.model, args.system,
                            listed.elements)
    previous = None
    if args.resume and args.out not in magics.shell.user_ns:  # a crash took OUT: the log has it
        previous = logged_map_result(magics.state, args.out, asked, listed)
    elif args.resume:
        previous = check_resumable(magics.shell.user_ns.get(args.out), args.out,
                                   len(listed.elements), args.map)
    plan = plan_map(magics.state, template, value, args.map, concurrency=args.concurrency,
                    item_timeout=args.item_timeout, system=_system_prompt(magics, args),
                    schema=target, request=request, previous=previous, batch=args.batch)
    if not args.yes:
        _confirm(confirmation_question(plan, magics.settings.map_confirm_usd, args.batch),
                 len(plan.payloads), plan.cost)
    if args.batch:
        from ..core import batch

        job = batch.submit(magics.state, magics.client, plan.payloads, len(plan.result),
                           plan.options, model=plan.model, index=plan.result.index)
        if args.out:
            magics.shell.user_ns[args.out] = job
        print(batch.submitted_line(job, args.out))
        return
    from ..core.logged_jobs import log_map_items

    log_map_items(magics.state, plan, args.out or "", asked)
    _run_with_progress(magics, args, plan)


def _run_with_progress(magics: Any, args: Any, plan: Any) -> None:
    from ..ui.map_view import NotebookMapView, TerminalMapView, summary_line

    result = plan.result
    if args.out:
        magics.shell.user_ns[args.out] = result  # filled as answers arrive: a Ctrl-C keeps them
    if not plan.payloads:
        print(f"Nothing to send: every item of {args.out} has an answer.")
        return
    view = NotebookMapView() if magics.rich_display() else TerminalMapView()
    try:
        run_plan(magics.state, plan, view,
                 summarise=lambda progress, stopped: summary_line(progress, args.out, stopped))
    except CellStopped:
        hint = f"; --resume sends the {len(result.todo())} left" if args.out else ""
        raise CellStopped(f"■ stopped — {result.done} of {len(result)} answers kept"
                          f"{' in ' + args.out if args.out else ''}{hint}") from None


def batch_command(magics: Any, line: str) -> Any:
    """``%chat batch status|wait|results|cancel [ID]``; ``results`` returns the MapResult."""
    from ..core import batch
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
        from ..core.map_plan import wait_for_batch
        from ..core.runs import Run

        view = NotebookMapView() if magics.rich_display() else TerminalMapView()
        Run(lambda sink: wait_for_batch(job, sink)).play(view)
        return None
    result = job.results()
    from ..render.chrome import notice_line

    for notice in result.notices:  # a file that could not be read, lines that name no item
        print(notice_line(notice))
    if result.stop_reason:
        print(f"{job.id}: {result.stop_reason}")
    if result.missing:
        print(f"{job.id} {job.status}: {len(result.missing)} of {len(result)} items have no "
              f"answer: {result.missing[:20]}{' …' if len(result.missing) > 20 else ''}")
    return result
