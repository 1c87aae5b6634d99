"""MCP tools as OpenAI function tools: names that fit the API, schemas checked, text kept as data.

A server chooses its tools' names, descriptions and schemas: untrusted text (CONTRACTS 5). The
key is masked in all of it; names are cut to the API's pattern; a schema that is not an object
schema is refused for that tool alone, with a note. Two servers may both offer ``search``: the
second is renamed ``SERVER_search`` and a note says so, so the model and the user both see which
is which. Nothing here imports the SDK: it works on the wire form (``inputSchema`` etc.).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

from ...errors import InputError
from ...redaction import redact, redact_data
from ..tools import Tool, visible

MCP_PREFIX = "mcp:"
MAX_TOOLS_PER_REQUEST = 128  # the API refuses more
MAX_DESCRIPTION_CHARS = 4096
MAX_SCHEMA_CHARS = 64 * 1024
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass
class McpTool:
    """One tool of one server, under the name the model sees (``offered``)."""

    server: str
    name: str  # the server's own name for it: what tools/call is sent
    offered: str
    description: str
    parameters: Dict[str, Any]

    @property
    def reference(self) -> str:
        return f"{MCP_PREFIX}{self.server}/{self.name}"

    def spec(self) -> Dict[str, Any]:
        """The entry of the request's ``tools`` list."""
        return {"type": "function", "function": self.schema()}

    def schema(self) -> Dict[str, Any]:
        return {"name": self.offered, "description": self.description, "parameters": self.parameters}

    def as_tool(self, call: Callable[[McpTool, Dict[str, Any]], str]) -> Tool:
        """A ``core.tools.Tool`` the tool loop runs like a kernel function: ``call(self, arguments)``
        returns the text for the model, or raises (the model is told, as for a raising function)."""

        def run(**arguments: Any) -> str:
            return call(self, arguments)

        run.__name__ = self.offered
        run.__doc__ = self.description
        return Tool(self.offered, run, self.schema())


@dataclass
class Listing:
    """What one server offers: the usable tools, and a note per tool refused."""

    tools: List[McpTool] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def tools_from_wire(server: str, listed: Iterable[Dict[str, Any]], key: Optional[str]) -> Listing:
    """The tools of ``tools/list`` (wire form), each checked; names are the server's, sanitised."""
    listing = Listing()
    seen: Set[str] = set()
    for entry in listed:
        name = redact(str(entry.get("name") or ""), key)
        shown = visible(name)[:80]
        schema = entry.get("inputSchema")
        problem = schema_problem(schema)
        if problem:
            listing.notes.append(f"{server}/{shown}: refused, {problem}.")
            continue
        if name in seen:
            listing.notes.append(f"{server}/{shown}: listed twice; the first is used.")
            continue
        seen.add(name)
        description = redact(str(entry.get("description") or entry.get("title") or ""), key)
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[:MAX_DESCRIPTION_CHARS] + " …(cut)"
            listing.notes.append(f"{server}/{shown}: description cut to {MAX_DESCRIPTION_CHARS} "
                                 "characters.")
        parameters = redact_data(schema, key)
        parameters.setdefault("properties", {})
        listing.tools.append(McpTool(server, name, api_name(name), description, parameters))
    return listing


def schema_problem(schema: Any) -> Optional[str]:
    """Why an input schema cannot be offered (the API takes an object schema), or None."""
    if not isinstance(schema, dict):
        return f"its input schema is a {type(schema).__name__}, not a JSON object"
    if schema.get("type") != "object":
        return f"its input schema has type {str(schema.get('type'))[:30]!r}, not 'object'"
    if not isinstance(schema.get("properties", {}), dict):
        return "its input schema's properties are not an object"
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError, RecursionError):
        return "its input schema is not JSON"
    if size > MAX_SCHEMA_CHARS:
        return f"its input schema is {size:,} characters (at most {MAX_SCHEMA_CHARS:,})"
    return None


def api_name(name: str) -> str:
    """A name that fits ``^[a-zA-Z0-9_-]{1,64}$``: other characters become ``_``."""
    if _NAME.match(name):
        return name
    return (_NOT_NAME.sub("_", name).strip("_") or "tool")[:64]


def offer(tools: List[McpTool], taken: Iterable[str] = ()) -> List[str]:
    """Give every tool a distinct offered name, ``taken`` (kernel functions) included.

    Mutates ``tools`` (their ``offered``) and returns a note per rename. The first holder of a
    name keeps it; a later tool from another server becomes ``SERVER_TOOL``, then gets a number.
    """
    used: Set[str] = set(taken)
    notes: List[str] = []
    for tool in tools:
        wanted = api_name(tool.name)
        name = wanted
        if name in used:
            name = api_name(f"{tool.server}_{wanted}")
            number = 2
            while name in used:
                suffix = f"_{number}"
                name = api_name(f"{tool.server}_{wanted}")[: 64 - len(suffix)] + suffix
                number += 1
            notes.append(f"{tool.server}/{visible(tool.name)[:80]} is offered as {name} "
                         f"({wanted} was taken).")
        elif name != tool.name:
            notes.append(f"{tool.server}/{visible(tool.name)[:80]} is offered as {name} (the API "
                         "takes letters, digits, _ and - only).")
        tool.offered = name
        used.add(name)
    return notes


def check_tool_count(count: int) -> None:
    if count > MAX_TOOLS_PER_REQUEST:
        raise InputError(f"--tools: {count} tools for one request; the API takes at most "
                         f"{MAX_TOOLS_PER_REQUEST}. Name the tools you need: mcp:SERVER/TOOL.")


def parse_reference(reference: str) -> tuple:
    """``"mcp:NAME"`` → (NAME, None); ``"mcp:NAME/TOOL"`` → (NAME, TOOL); InputError otherwise."""
    if not isinstance(reference, str) or not reference.startswith(MCP_PREFIX):
        raise InputError(f"{str(reference)[:80]!r} is not an MCP reference: write mcp:SERVER or "
                         "mcp:SERVER/TOOL.")
    server, _, tool = reference[len(MCP_PREFIX):].partition("/")
    if not server or (_ and not tool):
        raise InputError(f"{visible(reference)[:80]!r}: write mcp:SERVER or mcp:SERVER/TOOL.")
    return server, tool or None
