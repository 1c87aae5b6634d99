"""Plain text is cleaned in one place (CONTRACTS 5): what a terminal, ``text/plain`` or stderr
shows of a server's or a user object's text has no control sequences and no bidi overrides.

It sits in the base layer so that errors, core, views and magics all share the one cleaner.
"""

from __future__ import annotations

import re
from typing import Optional

from .redaction import ENCODING_CHARS

# C0 and C1 controls other than tab and newline (ESC starts CSI and OSC sequences, BEL ends
# OSC), bidi embeddings, overrides and isolates, zero-width and other invisible format
# characters: "/home/user/\u202etxt.exe" must not read "exe.txt" (CONTRACTS 5).
_HIDDEN = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029"
    "\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """The one cleaner of plain text: what a terminal, ``text/plain`` or stderr may show.

    Server and user-object text written raw could set the clipboard (OSC 52), retitle or clear
    the terminal, recolour it, or reorder a line with bidi overrides. Each such character is
    shown as its escape (``\\x1b``, ``\\u202e``): DejaVu has no control-picture glyphs.
    """
    if not isinstance(text, str):
        text = str(text)
    return _HIDDEN.sub(_escape, text)


def shortened(text: str, limit: int, end: str = "...") -> str:
    """``text`` (already redacted) cut to at most ``limit`` characters, ``end`` included, for a
    preview such as a result's repr: never cut inside encoded characters.

    A redacted text decodes to no run of the key, but a cut inside its percent-escapes or
    character references can decode to one (``&#X00052E`` is one character, ``&#X00052`` an
    "R" that completes the run before it). A reference or escape is made of ``&#;%``, letters
    and digits only, so when the characters of that kind before the cut hold an ``&`` or a
    ``%``, the cut moves to before them: what is kept then decodes to the start of what the
    whole text decodes to.
    """
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(end))]
    keep = len(cut)
    while keep and cut[keep - 1] in ENCODING_CHARS:
        keep -= 1
    if "&" in cut[keep:] or "%" in cut[keep:]:
        cut = cut[:keep]
    return cut + end


_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def last_code_block(markdown: str) -> Optional[str]:
    """The body of the last fenced code block of an answer (``--to-cell``, the panel's Insert
    as cell)."""
    blocks = _FENCE.findall(markdown)
    return blocks[-1][1].rstrip("\n") if blocks else None
