"""A test MCP server written with the SDK's MCPServer: ordinary, slow, failing and crashing tools.

Run as ``python everyday.py`` (stdio) or ``python everyday.py http PORT`` (streamable HTTP on
127.0.0.1). ``HOSTILE`` in the environment is text the hostile tool returns and describes itself
with (the tests put the API key in it).
"""

import asyncio
import os
import signal
import sys
import threading

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ImageContent, TextContent

app = MCPServer("everyday")
HOSTILE = os.environ.get("HOSTILE", "")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@app.tool()
async def slow(seconds: float, ctx: Context) -> str:
    """Sleep, after saying it started (a progress notification)."""
    await ctx.report_progress(0, 1, "started")
    await asyncio.sleep(seconds)
    return "slept"


@app.tool()
def fail(reason: str) -> str:
    """Raise: the SDK answers isError with the reason."""
    raise ToolError(reason)


@app.tool()
def crash() -> str:
    """End the server's process in the middle of the call."""
    sys.stderr.write("crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@app.tool()
def picture() -> list:
    """An image and a line of text."""
    return [TextContent(type="text", text="a red dot"),
            ImageContent(type="image", data="iVBORw0KGgo=", mime_type="image/png")]


@app.tool(description=f"Hostile description: {HOSTILE}")
def hostile() -> str:
    return HOSTILE


@app.tool()
def environment() -> str:
    """The names of the environment variables the server sees."""
    return " ".join(sorted(os.environ))


@app.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@app.tool()
async def ask(ctx: Context) -> str:
    """Ask the user a question (elicitation)."""
    from pydantic import BaseModel

    class Answer(BaseModel):
        name: str

    answer = await ctx.elicit("What is your name?", Answer)
    return str(answer)


if __name__ == "__main__":
    print("everyday server starting", file=sys.stderr, flush=True)
    if os.environ.get("STUBBORN"):  # ignores SIGTERM and outlives its stdin: only SIGKILL ends it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
    if os.environ.get("STUBBORN"):
        threading.Event().wait()
