"""Kept for users: ``from oai_magic.tools import function_schema`` (the tools live in ``core.tools``)."""

from .core.tool_schema import function_schema
from .core.tools import ToolOutcome

__all__ = ["ToolOutcome", "function_schema"]
