"""Structured outputs: a kernel object → a strict JSON schema, and an answer → that object.

``--schema X`` names a dataclass, a ``TypedDict``, a plain JSON-schema dict or a pydantic model.
Strict mode (``"strict": true``) accepts only a subset of JSON Schema: every property required,
``additionalProperties: false``, no ``default``. Types it cannot express (``Any``, free-form
``dict``) are refused here, in one line naming the field, rather than by the server later.

The answer is checked by a small validator for exactly that subset (jsonschema is not a runtime
dependency), then built into the object the user asked for. Pure Python, no IPython, so the
many-prompt mapping (``--map``) can reuse :func:`schema_target` and :func:`parse_answer`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..api.limits import loads_untrusted
from ..errors import InputError

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean"}
_NAME = re.compile(r"[^A-Za-z0-9_-]")


class StructuredAnswerError(InputError):
    """The answer is not the object asked for (a refusal, not JSON, or not the schema)."""


@dataclass
class SchemaTarget:
    """What ``--schema`` asked for: the schema sent and the Python type answers become."""

    name: str
    schema: Dict[str, Any]
    python_type: Any = None  # a dataclass, TypedDict or pydantic model; None for a dict schema
    kind: str = "dict"  # dataclass | typeddict | pydantic | dict

    def response_format(self) -> Dict[str, Any]:
        """The ``json_schema`` object of ``response_format``."""
        return {"name": self.name, "schema": self.schema, "strict": True}


def _is_typeddict(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, dict) and hasattr(obj, "__total__")


def _is_pydantic(obj: Any) -> bool:
    return isinstance(obj, type) and hasattr(obj, "model_json_schema") and hasattr(
        obj, "model_validate")


def schema_target(obj: Any, label: str = "schema") -> SchemaTarget:
    """The strict schema for a kernel object; one line naming the field when it cannot be."""
    if dataclasses.is_dataclass(obj) and isinstance(obj, type):
        return SchemaTarget(_clean_name(obj.__name__), _class_schema(obj, obj.__name__),
                            obj, "dataclass")
    if _is_typeddict(obj):
        return SchemaTarget(_clean_name(obj.__name__), _class_schema(obj, obj.__name__),
                            obj, "typeddict")
    if _is_pydantic(obj):
        schema = strict_json_schema(obj.model_json_schema(), obj.__name__)
        return SchemaTarget(_clean_name(obj.__name__), schema, obj, "pydantic")
    if isinstance(obj, dict):
        inner = obj
        name = label
        # The whole json_schema object ({"name", "schema", "strict"}) is accepted as well.
        if isinstance(obj.get("schema"), dict) and "type" not in obj:
            inner, name = obj["schema"], str(obj.get("name") or label)
        if inner.get("type") != "object":
            raise InputError(f"--schema {label}: the schema must describe an object "
                             '({"type": "object", "properties": {...}})')
        return SchemaTarget(_clean_name(name), strict_json_schema(inner, name), None, "dict")
    raise InputError(f"--schema {label}: expected a dataclass, a TypedDict, a JSON-schema dict "
                     f"or a pydantic model, got {type(obj).__name__}")


def _clean_name(name: str) -> str:
    return _NAME.sub("_", name)[:64] or "schema"


def _class_schema(cls: Any, path: str) -> Dict[str, Any]:
    """An object schema for a dataclass or TypedDict: every field required, nothing extra."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # an unresolvable annotation
        raise InputError(f"--schema {path}: cannot read the type hints ({exc})") from None
    is_dataclass = dataclasses.is_dataclass(cls)
    names = [f.name for f in dataclasses.fields(cls)] if is_dataclass else list(hints)
    properties = {name: _type_schema(hints.get(name, Any), f"{path}.{name}") for name in names}
    return {"type": "object", "properties": properties, "required": names,
            "additionalProperties": False}


def _type_schema(hint: Any, path: str) -> Dict[str, Any]:
    """The strict schema of one type hint; ``path`` names the field when it is refused."""
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if hint is type(None):
        return {"type": "null"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        return _enum_schema(values, path)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) or _is_typeddict(hint):
        return _class_schema(hint, path)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return _enum_schema(list(args), path)
    if origin in (list, set, frozenset, tuple) and args:
        items = [a for a in args if a is not Ellipsis]
        if origin is tuple and len(set(items)) > 1:
            raise InputError(f"--schema: field {path}: tuples of mixed types cannot be expressed "
                             "in strict mode (use list[X] or a nested dataclass)")
        return {"type": "array", "items": _type_schema(items[0], path + "[]")}
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        members = [_type_schema(a, path) for a in args]
        simple = [m for m in members if set(m) == {"type"} and isinstance(m["type"], str)]
        if len(simple) == len(members):
            return {"type": [m["type"] for m in members]}
        nullable = {"type": "null"} in members
        others = [m for m in members if m != {"type": "null"}]
        if len(others) == 1 and nullable and "enum" in others[0]:
            return {**others[0], "type": [others[0]["type"], "null"],
                    "enum": [*others[0]["enum"], None]}
        return {"anyOf": members}
    if hint is Any:
        raise InputError(f"--schema: field {path} is Any, which strict mode cannot express "
                         "(give it a type)")
    if hint in (dict, list) or origin in (dict, list) or origin is typing.Dict:
        what = "a free-form dict" if hint is dict or origin is dict else "a list without item type"
        raise InputError(f"--schema: field {path} is {what}, which strict mode cannot express "
                         "(use a nested dataclass or TypedDict, or list[X])")
    raise InputError(f"--schema: field {path} has type {getattr(hint, '__name__', hint)!s}, "
                     "which strict mode cannot express")


def _enum_schema(values: List[Any], path: str) -> Dict[str, Any]:
    kinds = {_SIMPLE.get(type(v)) for v in values}
    if None in kinds or len(kinds) != 1:
        raise InputError(f"--schema: field {path}: enum values must all be strings, or all "
                         "numbers")
    return {"type": kinds.pop(), "enum": values}


_DROPPED = ("default", "title", "examples")


def strict_json_schema(schema: Dict[str, Any], path: str = "schema") -> Dict[str, Any]:
    """A copy of ``schema`` that strict mode accepts: objects close, all properties required,
    no defaults. A free-form object (no properties) is refused, naming where it is."""
    if not isinstance(schema, dict):
        raise InputError(f"--schema: {path} must be a JSON-schema object")
    out = {k: v for k, v in schema.items() if k not in _DROPPED}
    if "$defs" in out:
        out["$defs"] = {k: strict_json_schema(v, f"{path}.$defs.{k}")
                        for k, v in out["$defs"].items()}
    kind = out.get("type")
    if kind == "object" or "properties" in out:
        properties = out.get("properties")
        if not properties:
            raise InputError(f"--schema: field {path} is a free-form object, which strict mode "
                             "cannot express (list its properties)")
        out["properties"] = {k: strict_json_schema(v, f"{path}.{k}") for k, v in properties.items()}
        out["required"] = list(properties)
        out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = strict_json_schema(out["items"], f"{path}[]")
    for key in ("anyOf", "allOf"):
        if key in out:
            out[key] = [strict_json_schema(s, path) for s in out[key]]
    if not out or (set(out) <= {"description"}):
        raise InputError(f"--schema: field {path} has no type (Any), which strict mode cannot "
                         "express")
    return out


# --- checking and building an answer ------------------------------------------------------


_JSON_TYPES = {
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
    """Where ``value`` breaks ``schema`` (the strict subset), or None when it fits."""
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
    if kinds and not any(_JSON_TYPES.get(k, lambda v: True)(value) for k in kinds):
        return f"{path}: expected {' or '.join(kinds)}, got {_json_type(value)}"
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
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = schema_problem(item, schema["items"], root, f"{path}[{i}]")
            if problem:
                return problem
    return None


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _JSON_TYPES[name](value):
            return name
    return type(value).__name__


def parse_answer(text: str, target: SchemaTarget, refusal: Optional[str] = None) -> Any:
    """The answer as the object asked for: a dataclass instance, a dict, or a pydantic model.

    A refusal, text that is not JSON, or JSON that breaks the schema is StructuredAnswerError.
    """
    if refusal and not text:
        raise StructuredAnswerError(f"the model refused: {' '.join(refusal.split())[:200]}")
    try:
        value = loads_untrusted(text)
    except ValueError as exc:
        raise StructuredAnswerError(f"the answer is not JSON ({exc})") from None
    try:
        return _as_target(value, target)
    except RecursionError:  # JSON that parsed, nested past what checking it can follow
        raise StructuredAnswerError("the answer is nested too deeply to check") from None


def _as_target(value: Any, target: SchemaTarget) -> Any:
    problem = schema_problem(value, target.schema)
    if problem:
        raise StructuredAnswerError(f"the answer does not match {target.name}: {problem}")
    if target.kind == "pydantic":
        try:
            return target.python_type.model_validate(value)
        except Exception as exc:
            raise StructuredAnswerError(
                f"the answer does not match {target.name}: {' '.join(str(exc).split())[:200]}"
            ) from None
    if target.kind == "dataclass":
        return build(target.python_type, value)
    return value


def build(hint: Any, value: Any) -> Any:
    """``value`` (already valid JSON for ``hint``) as ``hint``: nested dataclasses and enums."""
    if value is None:
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: build(hints.get(f.name, Any), value[f.name])
                       for f in dataclasses.fields(hint) if f.name in value})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, set, frozenset, tuple) and args:
        items = [build(args[0], item) for item in value]
        return items if origin is list else origin(items)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        for member in args:
            if member is type(None):
                continue
            try:
                if schema_problem(value, _type_schema(member, "x")) is None:
                    return build(member, value)
            except InputError:
                continue
        return value
    if _is_typeddict(hint) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        return {k: build(hints.get(k, Any), v) for k, v in value.items()}
    if hint is float and isinstance(value, int):
        return float(value)
    return value
