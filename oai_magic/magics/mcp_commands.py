"""``%oai mcp``: the session's MCP servers, added, loaded, listed and removed.

Wiring only: the words are read here, the servers live in ``session.mcp``
(``core.mcp.McpServers``), which validates every value and masks every secret.
"""

from __future__ import annotations

from typing import Any, Dict, List

from IPython.core.error import UsageError

from ..core.mcp import require_sdk
from ..core.tools import visible
from ..render.table import Table

USAGE = ("%oai mcp add NAME -- COMMAND [ARGS...] | add NAME URL [--header K=V] | load FILE | list "
         "| remove NAME")
DESCRIPTION_CHARS = 200


def run(session: Any, words: List[str]) -> Any:
    """One ``%oai mcp`` line: what to print or display."""
    require_sdk()  # without the SDK, every %oai mcp command is the same one line
    if not words:
        return listing(session.mcp)
    command, rest = words[0], words[1:]
    if command == "add":
        return add(session.mcp, rest)
    if command == "load" and len(rest) == 1:
        names = session.mcp.load(rest[0])
        return f"Loaded MCP servers {', '.join(names)}: each starts when its tools are first used."
    if command == "list" and not rest:
        return listing(session.mcp)
    if command == "remove" and len(rest) == 1:
        session.mcp.remove(rest[0])
        return f"Removed the MCP server {rest[0]}."
    raise UsageError(f"Usage: {USAGE} (see %oai?).")


def add(servers: Any, words: List[str]) -> str:
    if len(words) < 2:
        raise UsageError(f"Usage: {USAGE}.")
    name, rest = words[0], words[1:]
    if rest[0] == "--":
        if len(rest) < 2:
            raise UsageError("%oai mcp add NAME -- COMMAND [ARGS...]: the command is missing.")
        spec = servers.add_stdio(name, rest[1], rest[2:])
    else:
        spec = servers.add_http(name, rest[0], headers(rest[1:]))
    return (f"Added the MCP server {spec.name} ({spec.transport}): {visible(spec.describe())}. "
            f"It starts when a tool is first used: --tools mcp:{spec.name}")


def headers(words: List[str]) -> Dict[str, str]:
    found: Dict[str, str] = {}
    pairs = iter(words)
    for word in pairs:
        value = next(pairs, None) if word == "--header" else None
        if value is None or "=" not in value:
            raise UsageError("%oai mcp add NAME URL takes --header NAME=VALUE options only.")
        key, _, text = value.partition("=")
        found[key.strip()] = text
    return found


def listing(servers: Any) -> Any:
    """A table of servers (secrets masked) and of the tools each listed, as data: escaped."""
    if not len(servers):
        return "No MCP servers: %oai mcp add NAME -- COMMAND, or %oai mcp load FILE."
    rows = []
    for name, line in zip(servers.names, servers.describe()):
        rows.append([name, visible(line.split(": ", 1)[1] if ": " in line else line), "", ""])
        listed = servers.listed_tools(name)
        for tool in listed.tools if listed else []:
            description = " ".join(tool.description.split())
            if len(description) > DESCRIPTION_CHARS:
                description = description[: DESCRIPTION_CHARS - 1] + "…"
            rows.append(["", "", visible(tool.name), visible(description)])
        for note in listed.notes if listed else []:
            rows.append(["", "", "", visible(note)])
    return Table(["server", "how it runs · status", "tool", "description"], rows, "MCP servers")
