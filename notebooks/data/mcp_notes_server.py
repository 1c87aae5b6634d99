"""A small MCP server for notebook 10: a notebook of notes the model can search, read and add to.

Written with the official MCP Python SDK (``pip install 'oai-magic[mcp]'``). Run it yourself to
try it with any MCP client::

    python mcp_notes_server.py [NOTES.json]            # stdio, as %oai mcp add starts it
    python mcp_notes_server.py [NOTES.json] --http 8765 # streamable HTTP on 127.0.0.1:8765/mcp

The notes live in a JSON file (default: ``notes.json`` beside this script), so what the model
adds is still there next time. It starts with three notes so there is something to find.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

FIRST_NOTES = {
    "tea": "Green tea: 80 °C, two minutes. Black tea: 95 °C, four minutes.",
    "bus": "The 42 leaves the station at 8:10 and 8:40 on weekdays.",
    "birthday": "Ada's birthday is on 10 December; she likes fountain pens.",
}
MAX_NOTE_CHARS = 2000

app = MCPServer("notes", instructions="A small notebook of notes: search, read and add.")
_path = Path(__file__).with_name("notes.json")


def _load() -> Dict[str, str]:
    if not _path.exists():
        return dict(FIRST_NOTES)
    return json.loads(_path.read_text(encoding="utf-8"))


def _save(notes: Dict[str, str]) -> None:
    _path.write_text(json.dumps(notes, ensure_ascii=False, indent=1), encoding="utf-8")


@app.tool()
def list_notes() -> List[str]:
    """The titles of all notes."""
    return sorted(_load())


@app.tool()
def read_note(title: str) -> str:
    """The text of the note with this title."""
    notes = _load()
    if title not in notes:
        raise ToolError(f"there is no note titled {title!r}; the titles are: {', '.join(sorted(notes))}")
    return notes[title]


@app.tool()
def search_notes(query: str) -> List[str]:
    """Titles of the notes whose title or text contains the query (case-insensitive)."""
    wanted = query.casefold()
    return [title for title, text in sorted(_load().items())
            if wanted in title.casefold() or wanted in text.casefold()]


@app.tool()
def add_note(title: str, text: str) -> str:
    """Add a note (or replace the note with this title)."""
    if not title.strip() or len(text) > MAX_NOTE_CHARS:
        raise ToolError(f"a note needs a title and at most {MAX_NOTE_CHARS} characters of text")
    notes = _load()
    replaced = title in notes
    notes[title] = text
    _save(notes)
    return f"{'replaced' if replaced else 'added'} the note {title!r}"


def main(argv: List[str]) -> None:
    global _path
    args = list(argv)
    port = None
    if "--http" in args:
        at = args.index("--http")
        port = int(args[at + 1])
        del args[at : at + 2]
    if args:
        _path = Path(args[0])
    if port is None:
        app.run()
    else:
        app.run("streamable-http", host="127.0.0.1", port=port)


if __name__ == "__main__":
    main(sys.argv[1:])
