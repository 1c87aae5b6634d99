"""A test MCP server written with the SDK's low-level Server: as many tools as asked, with
names, descriptions and schemas no well-behaved server would send.

``python many.py COUNT``: COUNT tools ``tool_0``… plus the odd ones below, over stdio.
"""

import os
import sys

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 3
HOSTILE = os.environ.get("HOSTILE", "")
OBJECT = {"type": "object", "properties": {"x": {"type": "string"}}}
ODD = [
    types.Tool(name="not.an/api name!", description="Dots, a slash and a bang.", input_schema=OBJECT),
    types.Tool(name="shout", description=HOSTILE, input_schema={
        "type": "object", "properties": {"x": {"type": "string", "description": HOSTILE}}}),
    types.Tool(name="x" * 80, description="A name too long for the API.", input_schema=OBJECT),
]


async def list_tools(ctx, params):
    plenty = [types.Tool(name=f"tool_{i}", description=f"Tool number {i}.", input_schema=OBJECT)
              for i in range(COUNT)]
    return types.ListToolsResult(tools=plenty + ODD)


async def call_tool(ctx, params):
    if params.name == "shout":
        return types.CallToolResult(content=[types.TextContent(type="text", text=HOSTILE)],
                                    structured_content={"said": HOSTILE})
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"{params.name} ran")])


server = Server("many", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


if __name__ == "__main__":
    import anyio

    anyio.run(main)
