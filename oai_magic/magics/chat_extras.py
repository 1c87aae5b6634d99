"""``%%chat`` beyond one answer, wiring only: several choices (``-N``) and tools (``--tools``).

Several choices are one request (``n``) through ``ChatTurn`` with a columns view; the turn
records choice 1 and keeps the others for ``%chat pick K``. Tools run through ``ToolTurn``
(``core/tool_loop.py``), a turn of several requests. This module checks the flags, turns them
into ``TurnOptions`` and asks at the input prompt before a tool runs; the caller picks the view.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Optional

from ..api.request import ChatOptions
from ..core.results import ChatResult, StoppedAnswer
from ..core.tool_loop import CannotConfirm, ToolChatResult, ToolTurn, round_limit_note
from ..core.tools import resolve_tools, tool_choice_value
from ..core.turn import ChatTurn, TurnOptions
from ..errors import InputError
from ..state import KernelState

__all__ = ["CannotConfirm", "ToolChatResult", "ask_permission", "check_flags", "round_limit_note",
           "run_turn", "with_tools"]


def ask_permission(name: str, arguments: Dict[str, Any]) -> bool:
    """A yes/no at the input prompt (Jupyter's stdin channel); anything but yes declines."""
    from ..core.tools import visible

    shown = visible(json.dumps(arguments, ensure_ascii=False))
    if len(shown) > 300:
        shown = shown[:299] + "…"
    try:
        answer = input(f"Run the tool {visible(name)}({shown})? [y/N] ")
    except EOFError:
        return False
    except NotImplementedError:  # IPython's StdinNotImplementedError
        raise CannotConfirm(
            f"This frontend cannot ask before running {name}: add --auto-tools to run the "
            "tools without asking."
        ) from None
    return answer.strip().lower() in ("y", "yes")


def check_flags(tools: Optional[str], tool_choice: Optional[str], auto_tools: bool, n: int) -> None:
    """The tool flags that make no sense together, as one line before anything changes."""
    if not tools and (tool_choice or auto_tools):
        flag = "--tool-choice" if tool_choice else "--auto-tools"
        raise InputError(f"{flag} needs --tools f,g: name the kernel functions the model may call.")
    if tools and n > 1:
        raise InputError("--tools follows one answer: drop -N (several choices cannot share tool calls).")


def with_tools(
    turn: TurnOptions, names: str, tool_choice: Optional[str], auto_tools: bool,
    namespace: Dict[str, Any], *, max_rounds: int, max_calls_per_round: int,
) -> TurnOptions:
    """``turn`` with the kernel functions ``names`` offered (and asked about unless ``auto_tools``)."""
    tools = resolve_tools(names, namespace)
    request = dataclasses.replace(turn.request, tool_choice=tool_choice_value(tool_choice, tools))
    return dataclasses.replace(
        turn, request=request, tools=tools, confirm=None if auto_tools else ask_permission,
        max_rounds=max_rounds, max_calls_per_round=max_calls_per_round,
    )


def run_turn(state: KernelState, client: Any, prompt: Any, view: Any, turn: TurnOptions) -> ChatResult:
    """The turn the options ask for: a tool loop when tools are offered, else one answer."""
    kind = ToolTurn if turn.tools else ChatTurn
    return kind(state, client, turn).run(prompt, view)


# --- compatibility: the wiring before the magics split (goes with it) ------------------------


def run(magics: Any, args: Any, prompt: str, options: ChatOptions) -> ChatResult:
    """``%%chat`` with ``-N > 1`` or ``--tools``, called with the magics and their arguments."""
    from ..core.chat import turn_options

    n = options.n or 1
    check_flags(args.tools, args.tool_choice, args.auto_tools, n)
    turn = turn_options(options=options, conversation=args.conversation,
                        budget=magics.history_budget())
    turn = dataclasses.replace(turn, new=args.new, system=args.system)
    if args.tools:
        turn = with_tools(turn, args.tools, args.tool_choice, args.auto_tools, magics.shell.user_ns,
                          max_rounds=magics.max_tool_rounds,
                          max_calls_per_round=magics.max_tool_calls_per_round)
    try:
        return run_turn(magics.state, magics.client, prompt, _view(magics, args, n), turn)
    except StoppedAnswer as stop:
        if args.out:
            magics.shell.user_ns[args.out] = stop.result  # the partial result, as -o promises
        raise


def _view(magics: Any, args: Any, n: int) -> Any:
    rich = magics.rich_display()
    if args.tools:
        from ..ui.tool_cards import NotebookToolView, TerminalToolView

        if rich:
            return NotebookToolView(plain=args.plain, footer=not args.no_footer,
                                    json_mode=args.json, render_interval=magics.render_interval)
        return TerminalToolView(footer=not args.no_footer)
    from ..ui.columns import ColumnsView, TerminalChoicesView

    if rich:
        return ColumnsView(n, plain=args.plain, footer=not args.no_footer,
                           json_mode=args.json, render_interval=magics.render_interval)
    return TerminalChoicesView(n, footer=not args.no_footer)


def tool_loop(state: KernelState, client: Any, prompt: Any, view: Any, tools: Any,
              **kwargs: Any) -> ToolChatResult:
    """``ToolTurn`` with the old keyword arguments."""
    from ..core.chat import turn_options

    return ToolTurn(state, client, turn_options(tools=tools, **kwargs)).run(prompt, view)
