"""Safe ``{variable}`` interpolation for prompts.

Only ``{name}`` where ``name`` is a variable in the user namespace, and ``{In[3]}`` /
``{Out[3]}``, are replaced. Every other brace (JSON, code, LaTeX, unknown names, ``{{double}}``)
stays exactly as typed: ``str.format`` would crash on the first literal brace. A brace glued to
a word, a backslash command, ``}``, ``^``, ``_`` or ``$`` is LaTeX or code (``\\sqrt{x}``,
``x^{n}``, ``f{x}``), never a placeholder.
"""

from __future__ import annotations

import re
from typing import Any, List, Mapping, Optional, Tuple

_PLACEHOLDER = re.compile(
    r"(?<![{\w\\}^$])\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<full>!full)?"
    r"|(?P<hist>In|Out)\[(?P<num>-?\d+)\])\}(?!\})"
)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace known placeholders; leave everything else untouched."""
    return interpolate_context(text, namespace)[0]


def interpolate_context(
    text: str, namespace: Mapping[str, Any], *, error_text: Optional[str] = None
) -> Tuple[str, List[Any]]:
    """``interpolate``, plus what went beyond plain values (for the sent-line and the cap).

    Data objects (DataFrames, Series, arrays, big dicts and lists) become bounded summaries;
    ``{name!full}`` is the whole ``str(value)``; ``{error}`` is the last exception of the kernel
    (``error_text``) when no variable ``error`` exists (CONTRACTS 6).
    """
    from .context import SentPart, summary

    parts: List[SentPart] = []

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name is not None:
            if name in namespace:
                value = namespace[name]
                if match.group("full"):
                    whole = str(value)
                    parts.append(SentPart(f"{name} (full)", whole))
                    return whole
                brief = summary(name, value)
                if brief is not None:
                    parts.append(SentPart(f"{name} summary", brief))
                    return brief
                if name == "error":
                    parts.append(SentPart("{error} is your variable error, not the last exception",
                                          str(value), capped=False))
                return str(value)
            if name == "error" and not match.group("full"):
                if error_text is None:
                    from .errors import InputError

                    raise InputError("{error}: there has been no error in this kernel yet "
                                     "(our own one-line messages do not count); nothing sent.")
                parts.append(SentPart("traceback of the last error", error_text))
                return error_text
            return match.group(0)
        history = namespace.get(match.group("hist"))
        number = int(match.group("num"))
        try:
            return str(history[number])
        except (KeyError, IndexError, TypeError):
            return match.group(0)

    return _PLACEHOLDER.sub(replace, text), parts
