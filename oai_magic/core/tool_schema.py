"""A kernel function described for the model: JSON Schema from its signature and docstring.

``function_schema`` is public (``oai_magic.tools.function_schema``): users check what the model
will see before offering a function with ``--tools``.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import InputError

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def type_schema(annotation: Any) -> Dict[str, Any]:
    """JSON Schema for a type hint; unknown types give ``{}`` (any value)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    origin = typing.get_origin(annotation)
    params = typing.get_args(annotation)
    if annotation in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        schema: Dict[str, Any] = {"type": "array"}
        items = [p for p in params if p is not Ellipsis]
        if len(set(items)) == 1 or (origin is not tuple and items):
            schema["items"] = type_schema(items[0])
        return schema
    if annotation is dict or origin is dict:
        schema = {"type": "object"}
        if len(params) == 2 and type_schema(params[1]):
            schema["additionalProperties"] = type_schema(params[1])
        return schema
    if origin is typing.Literal:
        values = list(params)
        kinds = {_SIMPLE.get(type(v)) for v in values}
        schema = {"enum": values}
        if len(kinds) == 1 and None not in kinds:
            schema = {"type": kinds.pop(), "enum": values}
        return schema
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return _union_schema(params)
    return {}


def _union_schema(params: Tuple[Any, ...]) -> Dict[str, Any]:
    """``Optional[X]`` becomes X that may also be null; other unions become ``anyOf``."""
    members = [type_schema(p) for p in params if p is not type(None)]
    nullable = type(None) in params
    if len(members) == 1:
        schema = dict(members[0])
        if nullable and isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        return schema
    if any(not m for m in members):
        return {}
    return {"anyOf": members + ([{"type": "null"}] if nullable else [])}


_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Other Parameters|Returns?|Yields?|Raises|"
    r"Examples?|Notes?|See Also|Attributes|References|Warnings?)\s*:?\s*$"
)
_PARAM_SECTIONS = ("args", "arguments", "parameters", "params", "keyword args", "other parameters")
_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*(?::\s*(.*))?$")
_SPHINX = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: Optional[str]) -> Tuple[str, Dict[str, str]]:
    """(description, per-parameter descriptions) from Google, NumPy or Sphinx style docstrings.

    The description is the text before the first section; a parameter's text is its item line
    and the more-indented lines below it.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: List[str] = []
    described: Dict[str, str] = {}
    section: Optional[str] = None
    item_indent: Optional[int] = None
    current: Optional[str] = None
    for number, raw in enumerate(lines):
        line = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        underlined = number + 1 < len(lines) and re.fullmatch(r"\s*-{3,}\s*", lines[number + 1])
        header = _SECTION.match(line)
        if header and indent == 0 and (line.endswith(":") or underlined):
            section, item_indent, current = header.group(1).lower(), None, None
            continue
        if re.fullmatch(r"-{3,}", line):
            continue
        sphinx = _SPHINX.match(line)
        if sphinx:
            section, item_indent, current = "sphinx", indent, sphinx.group(1)
            described[current] = sphinx.group(2)
            continue
        if line.startswith(":"):  # :returns:, :raises: ... end a Sphinx parameter
            section, current = "sphinx", None
            continue
        if section is None:
            summary.append(line)
            continue
        if not line or (section not in _PARAM_SECTIONS and section != "sphinx"):
            continue
        if item_indent is None:
            item_indent = indent
        if indent > item_indent or section == "sphinx":
            if current:
                described[current] = f"{described[current]} {line}".strip()
            continue
        item = _ITEM.match(line)
        current = item.group(1) if item else None
        if item:
            # NumPy writes "name : type" (space before the colon) and the text indented below.
            numpy_style = bool(re.match(r"^\*{0,2}\w+\s+:", line))
            described[current] = "" if numpy_style else (item.group(2) or "")
    description = re.sub(r"\n{3,}", "\n\n", "\n".join(summary).strip())
    return description, {k: v for k, v in described.items() if v}


def _hints(function: Callable[..., Any]) -> Dict[str, Any]:
    """Resolved hints; one unresolvable hint (say ``int | None`` on 3.9) only loses itself."""
    try:
        return typing.get_type_hints(function)
    except Exception:
        pass
    hints: Dict[str, Any] = {}
    namespace = getattr(function, "__globals__", {})
    for name, hint in getattr(function, "__annotations__", {}).items():
        try:
            hints[name] = eval(hint, namespace) if isinstance(hint, str) else hint  # noqa: S307
        except Exception:
            continue
    return hints


def function_schema(function: Callable[..., Any], name: Optional[str] = None) -> Dict[str, Any]:
    """``{"name", "description", "parameters"}`` for ``function``.

    Hints give types, defaults make a parameter optional, the docstring gives descriptions.
    ``*args``/``**kwargs`` are not offered: the model can only fill named parameters.
    """
    name = name or getattr(function, "__name__", "tool")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise InputError(f"Cannot read the signature of {name!r}, so it cannot be a tool.") from None
    hints = _hints(function)
    description, param_docs = parse_docstring(inspect.getdoc(function))
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, param.annotation)
        if isinstance(annotation, str):  # an unresolvable string annotation
            annotation = inspect.Parameter.empty
        if annotation is param.empty and param.default not in (param.empty, None):
            annotation = type(param.default)  # ``days=3`` says integer as clearly as a hint
        schema = type_schema(annotation)
        if param.name in param_docs:
            schema["description"] = param_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _json_value(param.default):
            schema["default"] = param.default
        properties[param.name] = schema
    parameters: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    result: Dict[str, Any] = {"name": name}
    if description:
        result["description"] = description
    result["parameters"] = parameters
    return result


def _json_value(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
