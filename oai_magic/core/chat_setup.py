"""Everything a chat turn needs before it starts, checked: the setup ``Session.chat`` and the
``%%chat`` magic share (options, tools, schema), and the ``--schema`` parse after it ends.

All of it raises ``InputError`` before anything is sent or changed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import InputError
from ..plain_text import shortened
from .chat_options import request_options
from .exchange import check_budget
from .results import ChatResult
from .tool_loop import CannotConfirm
from .tools import Tool, function_schema, tool_choice_value
from .turn_options import HistoryBudget, TurnOptions

MCP_PREFIX = "mcp:"


def ask_permission(name: str, arguments: Dict[str, Any]) -> bool:
    """Ask with the one yes/no prompt before a tool runs; anything but yes declines."""
    from .ask import ask_yes_no
    from .tools import visible

    shown = visible(json.dumps(arguments, ensure_ascii=False))
    shown = shortened(shown, 300, "…")
    return ask_yes_no(f"Run the tool {visible(name)}({shown})? [y/N] ", CannotConfirm(
        f"This frontend cannot ask before running {name}: add --auto-tools to run the "
        "tools without asking."))


def check_tool_flags(tools: Any, tool_choice: Optional[str], auto_tools: bool, n: int) -> None:
    """The tool flags that make no sense together, as one line before anything changes."""
    if not tools and (tool_choice or auto_tools):
        flag = "--tool-choice" if tool_choice else "--auto-tools"
        raise InputError(f"{flag} needs --tools f,g: name the kernel functions the model may call.")
    if tools and n > 1:
        raise InputError("--tools follows one answer: drop -N (several choices cannot share tool calls).")


def tools_of(given: List[Any], session: Any = None, cancellation: Any = None
             ) -> Tuple[List[Tool], List[str]]:
    """Python functions and MCP references (``"mcp:NAME"``, ``"mcp:NAME/TOOL"``) as tools, with
    a note per MCP tool renamed or refused. ``cancellation`` (the run's) stops an MCP call."""
    tools: List[Tool] = []
    references: List[str] = []
    for entry in given:
        if isinstance(entry, Tool):  # a kernel function the magic named (tools.resolve_tools)
            tools.append(entry)
            continue
        if isinstance(entry, str):
            if entry.startswith(MCP_PREFIX):
                references.append(entry)
                continue
            raise InputError(f"tools=[{entry!r}]: a tool is a Python function, or an MCP reference "
                             "'mcp:NAME/TOOL'.")
        if not callable(entry):
            raise InputError(f"tools: {type(entry).__name__} is not a function.")
        name = getattr(entry, "__name__", "tool")
        if not any(t.name == name for t in tools):
            tools.append(Tool(name, entry, function_schema(entry, name)))
    if not references:
        return tools, []
    offered = session.mcp.resolve(references, taken=[t.name for t in tools])
    return tools + session.mcp.as_tools(offered, cancellation), offered.notes


def with_tools(turn: TurnOptions, given: List[Any], tool_choice: Optional[str], auto_tools: bool,
               session: Any, confirm: Optional[Callable[[str, Dict[str, Any]], bool]] = None
               ) -> TurnOptions:
    """``turn`` with ``given`` (functions and MCP references) offered, asked about unless
    ``auto_tools``; MCP calls stop with the turn's cancellation (made here when it has none)."""
    from .results import Cancellation

    settings = session.settings
    if turn.cancellation is None:
        turn = dataclasses.replace(turn, cancellation=Cancellation())
    tools, notes = tools_of(given, session, turn.cancellation)
    request = dataclasses.replace(turn.request, tool_choice=tool_choice_value(tool_choice, tools))
    return dataclasses.replace(
        turn, request=request, tools=tools, tool_notes=notes,
        confirm=None if auto_tools else (confirm or ask_permission),
        max_rounds=settings.max_tool_rounds, max_calls_per_round=settings.max_tool_calls_per_round,
    )


def schema_target_of(schema: Any, label: str = "schema") -> Any:
    from .structured import schema_target

    return schema_target(schema, label)


def schema_of_variable(namespace: Dict[str, Any], name: str) -> Any:
    """``--schema VAR``: the kernel variable's schema target, or one line saying what to define."""
    if name not in namespace:
        raise InputError(f"--schema {name}: no such variable (define a dataclass, "
                         "TypedDict, JSON-schema dict or pydantic model first).")
    return schema_target_of(namespace[name], name)


def prepare_chat(session: Any, prompt: Any, *, conversation: str, model: Optional[str],
                 system: Optional[str], new: bool, tools: List[Any], auto_tools: bool, schema: Any,
                 n: int, images: List[Any], options: Dict[str, Any]) -> Tuple[Any, TurnOptions, Any]:
    """The Python API's turn: (content, TurnOptions, schema target), every part checked."""
    from .context import user_content
    from .images import checked_image, resolve_image

    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("chat: the prompt is empty: pass the text to send.")
    detail = options.pop("detail", None)
    tool_choice = options.pop("tool_choice", None)
    files = options.pop("file", None) or []  # issue 29: --file, a path or a list of paths
    if isinstance(files, str):
        files = [files]
    request = request_options(session.settings, model=model, choices=None if n == 1 else n,
                              **options)
    target = schema_target_of(schema) if schema is not None else None
    if target is not None:
        request.json_schema = target.response_format()
        request.json_mode = True
    check_tool_flags(tools, tool_choice, auto_tools, n)
    attached = []
    for image in images:
        if isinstance(image, (bytes, bytearray, memoryview)):
            attached.append(checked_image("image", bytes(image)))
        else:
            attached.append(resolve_image(str(image), {}))
    from .files import resolve_file

    attached.extend(resolve_file(str(path)) for path in files)
    check_budget(session, request.extra.get("model", request.model or session.settings.model))
    turn = TurnOptions(request, conversation=conversation, budget=HistoryBudget.of(session.settings),
                       new=new, system=system)
    if tools:
        turn = with_tools(turn, tools, tool_choice, auto_tools, session)
    return user_content(prompt, None, attached, detail), turn, target


def parse_structured(target: Any, result: ChatResult) -> Optional[str]:
    """Every choice's answer as the object asked for; the first problem as one line."""
    from .structured import StructuredAnswerError, parse_answer

    if result.partial:
        return None
    problem = None
    for choice in result.choices:
        try:
            choice.parsed = parse_answer(choice.text, target, choice.refusal)
        except StructuredAnswerError as exc:
            label = f"choice {choice.index + 1}: " if len(result.choices) > 1 else ""
            problem = problem or (f"--schema: {label}{exc} (the raw text is kept in "
                                  f"'{result.conversation}' and in result.text)")
    result.parsed = result.choices[0].parsed if result.choices else None
    return problem
