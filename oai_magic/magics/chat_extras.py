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

from ..core.results import ChatResult
from ..core.tool_loop import CannotConfirm, ToolTurn
from ..core.tools import resolve_tools, tool_choice_value
from ..core.turn import ChatTurn, TurnOptions
from ..errors import InputError
from ..state import KernelState


def ask_permission(name: str, arguments: Dict[str, Any]) -> bool:
    """A yes/no at the input prompt (Jupyter's stdin channel); anything but yes declines."""
    from ..core.tools import visible
    from ..ui.ask import ask_yes_no

    shown = visible(json.dumps(arguments, ensure_ascii=False))
    if len(shown) > 300:
        shown = shown[:299] + "…"
    return ask_yes_no(f"Run the tool {visible(name)}({shown})? [y/N] ", CannotConfirm(
        f"This frontend cannot ask before running {name}: add --auto-tools to run the "
        "tools without asking."))


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
