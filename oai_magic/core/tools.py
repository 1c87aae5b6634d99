"""Kernel functions as chat tools: offered by name, and their calls run with errors captured.

Pure Python (no IPython): the tool loop (``core/tool_loop.py``) decides when to call, this
module decides how; ``core/tool_schema.py`` describes the functions. Whatever a tool call
does, the model gets a text answer back: the result, the error text, or why it was not run,
so the conversation can always continue.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..api.limits import loads_untrusted
from ..errors import InputError
from ..plain_text import terminal_safe
from .json_schema import schema_problem
from .tool_schema import function_schema

MAX_RESULT_CHARS = 8000
TOOL_CHOICES = ("auto", "none", "required")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Tool:
    """A kernel function offered to the model under ``name``."""

    name: str
    function: Callable[..., Any]
    schema: Dict[str, Any]

    def spec(self) -> Dict[str, Any]:
        """The entry of the request's ``tools`` list."""
        return {"type": "function", "function": self.schema}


def resolve_tools(names: str, namespace: Dict[str, Any]) -> List[Any]:
    """``"f,mcp:fs/read"`` → the user-namespace function ``f`` as a tool, and the MCP
    reference as it is (``chat_setup.tools_of`` resolves it with the session's servers)."""
    tools: List[Any] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name.startswith("mcp:"):
            if name not in tools:
                tools.append(name)
            continue
        if not _NAME.match(name):
            raise InputError(f"--tools: {name!r} is not a valid tool name (letters, digits, _ and -).")
        if name not in namespace:
            raise InputError(f"--tools: no function named {name!r} in the notebook; define it first.")
        function = namespace[name]
        if not callable(function):
            raise InputError(f"--tools: {name!r} is a {type(function).__name__}, not a function.")
        if any(isinstance(t, Tool) and t.name == name for t in tools):
            continue
        tools.append(Tool(name, function, function_schema(function, name)))
    if not tools:
        raise InputError("--tools takes function names separated by commas, e.g. --tools f,g "
                         "(and MCP tools: mcp:SERVER or mcp:SERVER/TOOL)")
    return tools


def tool_choice_value(choice: Optional[str], tools: List[Tool]) -> Any:
    """``--tool-choice`` as the API wants it: a keyword, or the named-function object."""
    if choice is None:
        return None
    if choice in TOOL_CHOICES:
        return choice
    if any(t.name == choice for t in tools):
        return {"type": "function", "function": {"name": choice}}
    offered = ", ".join(t.name for t in tools)
    raise InputError(
        f"--tool-choice must be auto, none, required or one of the tools ({offered}), got {choice!r}."
    )


# --- running a call -----------------------------------------------------------------------


@dataclass
class ToolOutcome:
    """What happened to one call: ``status`` is ok, error, declined, unknown, bad-arguments, skipped."""

    call_id: str
    name: str
    arguments: Optional[Dict[str, Any]]
    status: str
    content: str
    value: Any = None
    printed: str = ""  # what the function printed while it ran (shown, not sent)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def parse_arguments(text: str) -> Dict[str, Any]:
    """The call's JSON arguments; ValueError with a short reason when they are not an object."""
    try:
        value = loads_untrusted(text or "{}")
    except ValueError as exc:
        raise ValueError(f"the arguments are not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"the arguments must be a JSON object, got {type(value).__name__}")
    return value


def format_result(value: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """Text sent back to the model: strings as they are, JSON when it serialises, else repr.

    Capped at ``limit`` characters with a visible note, so one big DataFrame-like result cannot
    blow the context window (or the bill).
    """
    if isinstance(value, str):
        text = str.__str__(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=_no_default)
        except (TypeError, ValueError, RecursionError):
            text = safe_repr(value)
    if len(text) > limit:
        text = f"{text[:limit]}\n[truncated: {len(text) - limit} chars more]"
    return text


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a description of the object when its ``repr`` raises or recurses:
    the tool ran, and its result must still be recorded (and told to the model)."""
    try:
        text = repr(value)
        if isinstance(text, str):
            return text
        problem = f"returned a {type(text).__name__}"
    except RecursionError:
        problem = "recursed without end"
    except Exception as exc:
        problem = f"raised {type(exc).__name__}"
    return f"<a {type(value).__name__} object whose repr() {problem}>"


class CappedOutput(io.StringIO):
    """What a tool prints, kept up to ``limit`` characters; the rest is only counted."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.kept, self.dropped = limit, 0, 0

    def write(self, text: str) -> int:
        text = str(text)
        room = max(0, self.limit - self.kept)
        if room:
            super().write(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - room)
        return len(text)

    def getvalue(self) -> str:
        value = super().getvalue()
        if self.dropped:
            value += (f"\n[output cut at {self.limit:,} characters: {self.dropped:,} more not kept "
                      "(OAIMagics.max_tool_output_chars)]")
        return value


def _no_default(value: Any) -> Any:
    raise TypeError("not JSON")


def _bind(function: Callable[..., Any], arguments: Dict[str, Any]) -> inspect.BoundArguments:
    signature = inspect.signature(function)
    positional = [p.name for p in signature.parameters.values() if p.kind == p.POSITIONAL_ONLY]
    args = [arguments[name] for name in positional if name in arguments]
    kwargs = {k: v for k, v in arguments.items() if k not in positional}
    return signature.bind(*args, **kwargs)


def run_call(
    call: Dict[str, Any],
    tools: List[Tool],
    confirm: Optional[Callable[[str, Dict[str, Any]], bool]] = None,
    limit: int = MAX_RESULT_CHARS,
    output_limit: int = 1_000_000,
) -> ToolOutcome:
    """Run one assembled tool call. Never raises for the call's own failures (KeyboardInterrupt does).

    ``confirm(name, arguments)`` is asked first when given; ``False`` declines the call.
    """
    function = call.get("function") or {}
    name = function.get("name") or ""
    call_id = call.get("id") or ""
    by_name = {t.name: t for t in tools}
    if name not in by_name:
        offered = ", ".join(by_name) or "none"
        return ToolOutcome(call_id, name, None, "unknown",
                           f"Error: there is no tool named {name!r}. Available tools: {offered}.")
    tool = by_name[name]
    try:
        arguments = parse_arguments(function.get("arguments") or "")
        check_arguments(tool.schema.get("parameters") or {}, arguments)
        bound = _bind(tool.function, arguments)
    except (ValueError, TypeError) as exc:
        return ToolOutcome(call_id, name, None, "bad-arguments",
                           f"Error: {name} was not run because {_reason(exc)}.")
    if confirm is not None and not confirm(name, arguments):
        return ToolOutcome(call_id, name, arguments, "declined", f"The user declined to run {name}.")
    printed = CappedOutput(output_limit)
    try:
        with contextlib.redirect_stdout(printed):
            value = tool.function(*bound.args, **bound.kwargs)
    except (Exception, SystemExit, GeneratorExit) as exc:  # the model is told; the user sees one line
        return ToolOutcome(call_id, name, arguments, "error",
                           f"Error: {name} raised {type(exc).__name__}: {safe_message(exc)}",
                           printed=printed.getvalue())
    return ToolOutcome(call_id, name, arguments, "ok", format_result(value, limit), value,
                       printed.getvalue())


def safe_message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "(its message cannot be shown)"


def check_arguments(parameters: Dict[str, Any], arguments: Dict[str, Any]) -> None:
    """Refuse arguments the schema did not offer, or of the wrong JSON type (ValueError).

    The model may invent names; a function with ``**kwargs`` would take them silently, so
    only the named parameters offered in the schema are accepted. An int is fine for a
    ``float``; a bool is not an ``int``.
    """
    properties = parameters.get("properties") or {}
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        offered = ", ".join(properties) or "none"
        raise ValueError(
            f"it takes no argument {', '.join(map(repr, unknown))} (its arguments: {offered})"
        )
    for name, value in arguments.items():
        problem = schema_problem(value, properties[name], parameters, name)
        if problem:
            wanted = properties[name].get("type") or properties[name].get("anyOf") or "?"
            raise ValueError(f"argument {name!r} should be {wanted}, got {type(value).__name__} "
                             f"{value!r:.60} ({problem})")


def _reason(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, TypeError):
        return f"the arguments do not fit its signature ({text})"
    return text


def visible(text: str) -> str:
    """Text as a confirmation must show it: hidden and direction-changing characters escaped
    (the one cleaner, ``terminal_safe``)."""
    return terminal_safe(text)


def call_preview(call: Dict[str, Any]) -> Tuple[str, str]:
    """(name, arguments) for display: pretty-printed once they parse, as received until then.

    Both come from the model: bidi and control characters are escaped so what is shown is
    what would run.
    """
    function = call.get("function") or {}
    text = function.get("arguments") or ""
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        shown = text
    return visible(str(function.get("name") or "…")), visible(str(shown))
