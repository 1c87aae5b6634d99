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
from .json_schema import type_schema

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
        schema = type_schema(annotation)  # not strict: an unknown type takes any value
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
