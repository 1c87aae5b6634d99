"""Python types as JSON Schema, and values checked against a schema: one home for both.

Tools (``--tools``: a function's parameters) and structured outputs (``--schema``: the object
the answer becomes) describe Python types to the model with :func:`type_schema`; ``strict``
is OpenAI's strict mode (every property required, objects closed, only types it can express;
what it cannot is refused in one line naming the field). :func:`schema_problem` checks a value
(a tool call's arguments, a structured answer) against such a schema. Pure Python.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import typing
from typing import Any, Callable, Dict, List, Optional

from ..errors import InputError

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_SEQUENCES = (list, tuple, set, frozenset)


def is_typeddict(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, dict) and hasattr(obj, "__total__")


def type_schema(hint: Any, *, strict: bool = False, path: str = "value") -> Dict[str, Any]:
    """JSON Schema for a type hint. Not strict: an unknown type (or ``Any``) is ``{}``, any
    value. Strict: it is an ``InputError`` naming ``path`` (``Person.home.zip``)."""
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if hint is Any or hint is inspect.Parameter.empty:
        return _refuse(strict, f"--schema: field {path} is Any, which strict mode cannot "
                               "express (give it a type)")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([member.value for member in hint], strict, path)
    if (dataclasses.is_dataclass(hint) and isinstance(hint, type)) or is_typeddict(hint):
        return class_schema(hint, strict=strict, path=path)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return _enum_schema(list(args), strict, path)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        return _union_schema(args, strict, path)
    if hint in _SEQUENCES or origin in _SEQUENCES:
        items = [a for a in args if a is not Ellipsis]
        if strict and not items:
            return _refuse(strict, f"--schema: field {path} is a list without item type, which "
                                   "strict mode cannot express (use list[X])")
        if strict and origin is tuple and len(set(items)) > 1:
            return _refuse(strict, f"--schema: field {path}: tuples of mixed types cannot be "
                                   "expressed in strict mode (use list[X] or a nested dataclass)")
        schema: Dict[str, Any] = {"type": "array"}
        if items and (len(set(items)) == 1 or origin is not tuple):
            schema["items"] = type_schema(items[0], strict=strict, path=path + "[]")
        return schema
    if hint is dict or origin is dict:
        if strict:
            return _refuse(strict, f"--schema: field {path} is a free-form dict, which strict "
                                   "mode cannot express (use a nested dataclass or TypedDict)")
        schema = {"type": "object"}
        if len(args) == 2 and type_schema(args[1]):
            schema["additionalProperties"] = type_schema(args[1])
        return schema
    return _refuse(strict, f"--schema: field {path} has type {getattr(hint, '__name__', hint)!s}, "
                           "which strict mode cannot express")


def _refuse(strict: bool, message: str) -> Dict[str, Any]:
    if strict:
        raise InputError(message)
    return {}


def class_schema(cls: Any, *, strict: bool = False, path: str = "") -> Dict[str, Any]:
    """An object schema for a dataclass or TypedDict. Strict: every field required and nothing
    else allowed; otherwise fields with defaults are optional."""
    path = path or cls.__name__
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # an unresolvable annotation
        raise InputError(f"--schema {path}: cannot read the type hints ({exc})") from None
    if dataclasses.is_dataclass(cls):
        fields = dataclasses.fields(cls)
        names = [f.name for f in fields]
        needed = names if strict else [f.name for f in fields if f.default is dataclasses.MISSING
                                       and f.default_factory is dataclasses.MISSING]
    else:
        names = list(hints)
        needed = names if strict else sorted(getattr(cls, "__required_keys__", names))
    properties = {name: type_schema(hints.get(name, Any), strict=strict, path=f"{path}.{name}")
                  for name in names}
    schema: Dict[str, Any] = {"type": "object", "properties": properties, "required": needed}
    if strict:
        schema["additionalProperties"] = False
    return schema


def _enum_schema(values: List[Any], strict: bool, path: str) -> Dict[str, Any]:
    kinds = {_SIMPLE.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds and "null" not in kinds:
        return {"type": kinds.pop(), "enum": values}
    return _refuse(strict, f"--schema: field {path}: enum values must all be strings, or all "
                           "numbers") or {"enum": values}


def _union_schema(args: Any, strict: bool, path: str) -> Dict[str, Any]:
    """``Optional[X]`` is X that may also be null; a union of plain types is a list of types;
    other unions are ``anyOf``."""
    nullable = type(None) in args
    members = [type_schema(a, strict=strict, path=path) for a in args if a is not type(None)]
    # Strict mode keeps a nullable object or array as anyOf, as OpenAI's examples write it.
    mergeable = not strict or set(members[0] if members else {}) <= {"type", "enum"}
    if len(members) == 1 and isinstance(members[0].get("type"), str) and mergeable:
        schema = dict(members[0])
        if nullable:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        return schema
    if any(not m for m in members):
        return {}  # one member is any value: so is the union (not strict only)
    if all(set(m) == {"type"} and isinstance(m["type"], str) for m in members):
        return {"type": [m["type"] for m in members] + (["null"] if nullable else [])}
    return {"anyOf": members + ([{"type": "null"}] if nullable else [])}


# --- checking a value ------------------------------------------------------------------------


JSON_TYPES: Dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def schema_problem(value: Any, schema: Dict[str, Any], root: Optional[Dict[str, Any]] = None,
                   path: str = "$") -> Optional[str]:
    """Where ``value`` breaks ``schema``, or None when it fits: types, enums, ``anyOf``,
    ``$ref``, required and extra properties, array items (what both schema kinds use)."""
    root = root if root is not None else schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return schema_problem(value, target, root, path)
    if "anyOf" in schema:
        if all(schema_problem(value, s, root, path) for s in schema["anyOf"]):
            return f"{path}: matches none of the allowed shapes"
        return None
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(JSON_TYPES.get(k, lambda v: True)(value) for k in kinds):
        return f"{path}: expected {' or '.join(kinds)}, got {json_type(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {json.dumps(value)[:40]} is not one of {json.dumps(schema['enum'])[:80]}"
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                return f"{path}: missing {name!r}"
        if schema.get("additionalProperties") is False:
            extra = [k for k in value if k not in properties]
            if extra:
                return f"{path}: unexpected {extra[0]!r}"
        for name, sub in properties.items():
            if name in value:
                problem = schema_problem(value[name], sub, root, f"{path}.{name}")
                if problem:
                    return problem
        extra_schema = schema.get("additionalProperties")
        if isinstance(extra_schema, dict):
            for name, item in value.items():
                if name not in properties:
                    problem = schema_problem(item, extra_schema, root, f"{path}.{name}")
                    if problem:
                        return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = schema_problem(item, schema["items"], root, f"{path}[{i}]")
            if problem:
                return problem
    return None


def json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if JSON_TYPES[name](value):
            return name
    return type(value).__name__
