"""``%%chat`` and ``%chat``: parse, validate everything, then run one ``ChatTurn``.

The ``-n`` and ``-s`` options go into the turn's ``TurnOptions`` and are committed with it: a
refused option, an unknown tool or a request that fails before any answer leaves the
conversation as it was. ``-N`` and ``--tools`` pick another view and, for tools, ``ToolTurn``.
"""

from __future__ import annotations

import types
from dataclasses import replace as types_replace
from typing import TYPE_CHECKING, Any, Optional, Tuple

from IPython.core.error import UsageError

from .arguments import PROMPT_BELOW, parse_line, read_words, split_off_map_items

if TYPE_CHECKING:  # the use cases are imported on first use: %load_ext stays light
    from ..api.request import ChatOptions
    from ..core.results import ChatResult
    from ..core.turn_options import TurnOptions

HELP = """Send the cell to the chat model and stream the answer as Markdown.

        {name} is replaced by the value of the variable `name`, or by a short summary for data
        (DataFrame, Series, array, a long dict or list); {name!full} sends it whole. {error} is
        the last error of this kernel, {In[3]} and {Out[3]} come from history; every other brace
        is sent as typed.
        """

def run(magics: Any, line: str, cell: str) -> None:
    """One ``%%chat`` cell: its options, its prompt and context, then one turn (or --map)."""
    from ..core.chat_setup import check_tool_flags, with_tools
    from ..core.exchange import check_budget
    from ..core.tools import resolve_tools

    line, map_items = split_off_map_items(line)
    args = parse_line(magics.chat, line)
    if map_items is not None:
        args.map = map_items  # the expression as typed, quotes and spaces kept
    cell = cell.rstrip()
    if args.map is None and (args.concurrency is not None or args.item_timeout is not None
                             or args.yes or args.resume or args.batch):
        raise UsageError("--concurrency, --item-timeout, --yes, --resume and --batch go with "
                         "--map ITEMS.")
    if args.map is not None:
        if not cell.strip():
            raise UsageError(f"%%chat: {PROMPT_BELOW}.")
        from . import map_command

        return map_command.run(magics, args, cell)
    prompt, sent = prompt_and_context(magics, args, cell)
    if not prompt.strip():
        raise UsageError(f"%%chat: {PROMPT_BELOW}.")
    content, notice = with_context(magics, args, prompt, sent)
    options = chat_options(magics, args)
    target = schema_target(magics, args)
    if target is not None:
        options.json_schema = target.response_format()
        args.json = True  # --schema replaces --json: streamed as text, pretty at the end
    check_budget(magics.state, options.extra.get("model", options.model
                                                 or magics.state.settings.model))
    turn = turn_options(magics, args, options)
    check_tool_flags(args.tools, args.tool_choice, args.auto_tools, options.n or 1)
    if args.tools:
        turn = with_tools(turn, resolve_tools(args.tools, magics.shell.user_ns), args.tool_choice,
                          args.auto_tools, magics.state)
    # Everything is valid (the tools too): the first state change.
    from ..core.durable import resume_hint

    turn = types_replace(turn, cell_id=getattr(magics.state, "cell_id", None))
    queue_notice(magics.state, sent.unknown_names, notice, resume_hint(magics.state))
    result = ask(magics, args, content, turn, target)
    after_answer(magics, args, result)
    if result.schema_problem:
        raise UsageError(result.schema_problem)


def schema_target(magics: Any, args: Any) -> Any:
    if not args.schema:
        return None
    from ..core.chat_setup import schema_of_variable

    return schema_of_variable(magics.shell.user_ns, args.schema)


def prompt_and_context(magics: Any, args: Any, cell: str) -> Any:
    """The interpolated prompt and what goes with it: summaries, {error}, images."""
    from ..core.context import Sent, SentPart, summary
    from ..core.images import resolve_image

    state = magics.state
    sent = Sent()
    if args.no_interpolate:
        prompt = cell
    else:
        from ..core.interpolate import UNKNOWN_NAME, interpolate_prompt, unknown_names_notice

        prompt, parts = interpolate_prompt(cell, magics.shell.user_ns, state, summarise=summary)
        sent.parts = [SentPart(*part) for part in parts if part[0] != UNKNOWN_NAME]
        sent.unknown_names = unknown_names_notice(parts)
    watcher = getattr(magics, "figure_watcher", None)
    for spec in args.image:
        sent.images.append(resolve_image(
            spec, magics.shell.user_ns, watcher.last_figure if watcher else None))
    if args.detail and not args.image:
        raise UsageError("--detail goes with --image: it says how closely to look at the images.")
    if args.file:
        from ..core.files import resolve_file

        sent.images.extend(resolve_file(path) for path in args.file)  # sent after the images
    return prompt, sent


def with_context(magics: Any, args: Any, prompt: str, sent: Any) -> Tuple[Any, Optional[str]]:
    """Check the cap; the user content (text or parts) and the sent-line to show with it."""
    from ..core.context import context_block, parse_names, user_content

    block = None
    if args.context:
        block, parts = context_block(parse_names(args.context), magics.shell.user_ns,
                                     magics.state.settings.resolved_key())
        sent.parts = parts + sent.parts
    sent.check_cap(magics.settings.max_context_chars)
    return user_content(prompt, block, sent.images, args.detail), sent.notice()


def queue_notice(state: Any, *notices: Optional[str]) -> None:
    """The sent-line (and the unknown-names line) for the next request to show, once nothing
    can refuse the cell any more."""
    with state.lock:
        state.context_notices = [notice for notice in notices if notice]


def chat_options(magics: Any, args: Any) -> ChatOptions:
    """The request options of a ``%%chat`` line: the same builder as ``Session.chat``."""
    from ..core.chat_options import request_options

    return request_options(
        magics.settings, model=args.model, temperature=args.temperature, top_p=args.top_p,
        max_tokens=args.max_tokens, seed=args.seed, stop=list(args.stop), json=args.json,
        no_stream=args.no_stream, choices=args.choices, presence_penalty=args.presence_penalty,
        frequency_penalty=args.frequency_penalty, logit_bias=args.logit_bias, user=args.user,
        org=args.org, project=args.project, reasoning_effort=args.reasoning_effort,
        verbosity=args.verbosity, param=list(args.param), web_search=args.web_search,
        logprobs=args.logprobs if args.logprobs is not None else (3 if args.confidence else None),
        service_tier=args.service_tier)


def turn_options(magics: Any, args: Any, options: ChatOptions) -> TurnOptions:
    """Where the turn is recorded, with how much history, and the cell's ``-n``/``-s``."""
    from ..core.turn_options import TurnOptions

    return TurnOptions(options, conversation=args.conversation, budget=magics.history_budget(),
                       new=args.new, system=args.system)


def chat_view(magics: Any, args: Any) -> Any:
    """The view the answer streams into: tool cards, columns for ``-N``, else one answer."""
    rich = magics.rich_display()
    if args.tools:
        from ..ui.tool_cards import NotebookToolView, TerminalToolView

        if rich:
            return NotebookToolView(plain=args.plain, footer=not args.no_footer,
                                    json_mode=args.json, render_interval=magics.settings.render_interval)
        return TerminalToolView(footer=not args.no_footer)
    n = args.choices or 1
    if n > 1:
        from ..ui.columns import ColumnsView, TerminalChoicesView

        if rich:
            return ColumnsView(n, plain=args.plain, footer=not args.no_footer,
                               json_mode=args.json, render_interval=magics.settings.render_interval)
        return TerminalChoicesView(n, footer=not args.no_footer)
    from ..ui.notebook import NotebookChatView, TerminalChatView

    if rich:
        return NotebookChatView(
            plain=args.plain,
            footer=not args.no_footer,
            json_mode=args.json,
            render_interval=magics.settings.render_interval,
            confidence=args.confidence,
        )
    return TerminalChatView(footer=not args.no_footer)


def ask(magics: Any, args: Any, prompt: Any, turn: TurnOptions, target: Any = None) -> ChatResult:
    """The session runs the turn (a tool loop when tools are offered) into the cell's view."""
    return play(magics, args, magics.state.start_turn(prompt, turn, target))


def play(magics: Any, args: Any, run: Any) -> ChatResult:
    """Play a chat run into the view the cell's options pick; ``-o`` keeps a stopped answer too."""
    from ..core.results import StoppedAnswer

    view = magics.chat_view(args)
    try:
        return run.play(view)
    except StoppedAnswer as stop:
        if args.out:
            magics.shell.user_ns[args.out] = stop.result  # the partial result, as -o promises
        raise


def after_answer(magics: Any, args: Any, result: ChatResult) -> None:
    if args.out:
        magics.shell.user_ns[args.out] = result
    if args.to_cell:
        from ..plain_text import last_code_block

        code = last_code_block(result.text)
        if code is not None:
            magics.shell.set_next_input(code, replace=False)
    if result.error:
        from ..render.chrome import cut_off_line, one_line

        if result.nothing_arrived:  # e.g. a tool round's follow-up failed: nothing to undo
            raise UsageError(one_line(result.error))
        raise UsageError(cut_off_line(args.conversation))


# --- %chat (conversation management) -----------------------------------------------------


def run_command(magics: Any, line: str) -> Any:
    """One ``%chat`` line: a batch command, ``fix``, or a conversation command."""
    from . import conversations

    if line.split()[:1] == ["batch"]:
        from . import map_command

        return map_command.batch_command(magics, line)
    if line.split()[:1] and line.split()[0] in conversations.LOG_COMMANDS:
        from . import log_commands

        words = conversations.read_command_words(line)
        return log_commands.run(magics.state, words[0], words[1:])
    if line.split()[:1] == ["fix"]:
        return fix(magics, line.split(None, 1)[1] if len(line.split()) > 1 else "")
    return conversations.run_command(magics.state, line)


def fix(magics: Any, line: str) -> None:
    """``%chat fix``: the session asks about the last error; the fix is offered as the next cell."""
    words = read_words(line)
    args, extra = fix_parser().parse_known_args(words)
    if extra:
        raise UsageError(f"%chat fix takes options only (-c NAME, -m MODEL), not "
                         f"{' '.join(extra)!r}: it asks about the last error.")
    view_args = types.SimpleNamespace(
        conversation=args.conversation, plain=False, no_footer=False, json=False, out=None,
        to_cell=True, new=False, system=None, tools=None, choices=None, confidence=False,
    )
    result = play(magics, view_args, magics.state.fix(args.conversation, args.model))
    after_answer(magics, view_args, result)


def fix_parser() -> Any:
    from .conversations import CommandParser

    parser = CommandParser(prog="fix", add_help=False)
    parser.add_argument("-c", "--conversation", default="default")
    parser.add_argument("-m", "--model")
    return parser
