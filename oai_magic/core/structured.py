"""Structured outputs: a kernel object → a strict JSON schema, and an answer → that object.

``--schema X`` names a dataclass, a ``TypedDict``, a plain JSON-schema dict or a pydantic model.
Strict mode (``"strict": true``) accepts only a subset of JSON Schema: every property required,
``additionalProperties: false``, no ``default``. Types it cannot express (``Any``, free-form
``dict``) are refused here, in one line naming the field, rather than by the server later.

Types become schemas, and answers are checked, by ``json_schema`` (the converter and checker
the tools use too; jsonschema is not a runtime dependency); the answer is then built into the
object the user asked for. Pure Python, no IPython, so the
many-prompt mapping (``--map``) can reuse :func:`schema_target` and :func:`parse_answer`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..api.limits import loads_untrusted
from ..errors import InputError
from .json_schema import class_schema, is_typeddict, schema_problem, type_schema

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


def _is_pydantic(obj: Any) -> bool:
    return isinstance(obj, type) and hasattr(obj, "model_json_schema") and hasattr(
        obj, "model_validate")


def schema_target(obj: Any, label: str = "schema") -> SchemaTarget:
    """The strict schema for a kernel object; one line naming the field when it cannot be."""
    if dataclasses.is_dataclass(obj) and isinstance(obj, type):
        return SchemaTarget(_clean_name(obj.__name__), class_schema(obj, strict=True),
                            obj, "dataclass")
    if is_typeddict(obj):
        return SchemaTarget(_clean_name(obj.__name__), class_schema(obj, strict=True),
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
                if schema_problem(value, type_schema(member, strict=True)) is None:
                    return build(member, value)
            except InputError:
                continue
        return value
    if is_typeddict(hint) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        return {k: build(hints.get(k, Any), v) for k, v in value.items()}
    if hint is float and isinstance(value, int):
        return float(value)
    return value
