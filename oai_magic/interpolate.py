"""Safe ``{variable}`` interpolation for prompts.

Only ``{name}`` where ``name`` is a variable in the user namespace, and ``{In[3]}`` /
``{Out[3]}``, are replaced. Every other brace (JSON, code, LaTeX, unknown names, ``{{double}}``)
stays exactly as typed: ``str.format`` would crash on the first literal brace. A brace glued to
a word, a backslash command, ``}``, ``^``, ``_`` or ``$`` is LaTeX or code (``\\sqrt{x}``,
``x^{n}``, ``f{x}``), never a placeholder.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

_PLACEHOLDER = re.compile(
    r"(?<![{\w\\}^$])\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<hist>In|Out)\[(?P<num>-?\d+)\])\}(?!\})"
)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace known placeholders; leave everything else untouched."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name is not None:
            if name in namespace:
                return str(namespace[name])
            return match.group(0)
        history = namespace.get(match.group("hist"))
        number = int(match.group("num"))
        try:
            return str(history[number])
        except (KeyError, IndexError, TypeError):
            return match.group(0)

    return _PLACEHOLDER.sub(replace, text)
