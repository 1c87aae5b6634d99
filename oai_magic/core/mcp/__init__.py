"""Tools from MCP servers (issue 27): the one home of the ``mcp`` SDK.

``McpServers`` (in ``servers``) holds a session's servers; ``config`` reads ``mcpServers`` files;
``offer`` turns listed tools into OpenAI function tools; ``results`` turns results into text;
``bridge`` is the only module that imports the SDK, and only when a server starts, so
``%load_ext oai_magic`` never does. Without the SDK any MCP use is :data:`MISSING`, one line.

Supported: ``mcp`` 2.3 and later 2.x (the 2.x client API: ``mcp.Client``, ``MCPServer``).
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

from ...errors import InputError

MISSING = "MCP needs the mcp package: pip install 'oai-magic[mcp]'"
SUPPORTED = (2, 3)  # the oldest mcp release this package is written and tested against


def sdk_version(distribution: str = "mcp") -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0"


def require_sdk() -> None:
    """InputError(MISSING) unless a supported ``mcp`` is installed (found, not imported)."""
    if importlib.util.find_spec("mcp") is None:
        raise InputError(MISSING)
    version = sdk_version()
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return  # a development build: let it try
    if found < SUPPORTED or found[0] != SUPPORTED[0]:
        raise InputError(f"MCP needs mcp >= {SUPPORTED[0]}.{SUPPORTED[1]}, < {SUPPORTED[0] + 1} "
                         f"(found {version}): pip install 'oai-magic[mcp]'")


def __getattr__(name: str):
    """``McpServers`` and friends on first use: importing this package stays light."""
    homes = {"McpServers": "servers", "ServerSpec": "config", "McpTool": "offer",
             "McpServerError": "bridge", "McpCallStopped": "bridge", "McpToolError": "results"}
    if name in homes:
        module = importlib.import_module(f".{homes[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(name)
