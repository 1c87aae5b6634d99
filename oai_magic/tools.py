"""Kept for users: ``from oai_magic.tools import function_schema`` (the tools live in ``core.tools``)."""

from .core.tools import ToolOutcome, function_schema

__all__ = ["ToolOutcome", "function_schema"]
