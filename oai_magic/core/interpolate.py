"""Safe ``{variable}`` interpolation for prompts.

Only ``{name}`` where ``name`` is a variable in the user namespace, and ``{In[3]}`` /
``{Out[3]}``, are replaced. Every other brace (JSON, code, LaTeX, unknown names, ``{{double}}``)
stays exactly as typed: ``str.format`` would crash on the first literal brace. A brace glued to
a word, a backslash command, ``}``, ``^``, ``_`` or ``$`` is LaTeX or code (``\\sqrt{x}``,
``x^{n}``, ``f{x}``), never a placeholder.
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Mapping, Optional, Tuple

from ..redaction import masked_label, redact

_PLACEHOLDER = re.compile(
    r"(?<![{\w\\}^$])\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<full>!full)?"
    r"|(?P<hist>In|Out)\[(?P<num>-?\d+)\])\}(?!\})(?P<gap>[ \t]*)"
)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace known placeholders; leave everything else untouched."""
    return interpolate_context(text, namespace)[0]


Summarise = Callable[[str, Any], Optional[str]]
# What went with a prompt beyond plain values: (label, text sent, counts toward the context cap).
Part = Tuple[str, str, bool]
NO_ERROR_YET = "{error}"  # the label of a part asking for a last error that does not exist
UNKNOWN_NAME = "{?}"  # the label of a placeholder naming no variable (its text: as typed)
NO_ERROR_LINE = ("{error}: there has been no error in this kernel yet (our own one-line messages "
                 "do not count); nothing sent.")


def text_of(name: str, make: Callable[[], Any], what: str = "str()") -> Any:
    """A user object's text, or one line naming the variable when its ``str``/``repr``/summary
    raises or recurses (CONTRACTS 6): a prompt never fails with the object's traceback."""
    from ..errors import InputError

    try:
        text = make()
        return text if text is None or isinstance(text, str) else str(text)
    except RecursionError:
        problem = "recurses without end"
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is one line
        problem = f"raised {type(exc).__name__}"
    raise InputError(f"{{{name}}}: its {what} {problem}; nothing sent.") from None


def interpolate_context(
    text: str, namespace: Mapping[str, Any], *, summarise: Optional[Summarise] = None,
    error_text: Optional[str] = None, key: Optional[str] = None,
) -> Tuple[str, List[Part]]:
    """``interpolate``, plus what went beyond plain values (for the sent-line and the cap).

    ``summarise(name, value)`` turns data objects into bounded summaries (None: send ``str``);
    ``{name!full}`` is the whole ``str(value)``; ``{error}`` is the last exception of the kernel
    (``error_text``) when no variable ``error`` exists (CONTRACTS 6). With no last error the
    placeholder stays and a part labelled ``NO_ERROR_YET`` says so: the caller refuses.
    A value that holds the ``key`` goes with it masked, and a part says so (CONTRACTS 5).
    """
    parts: List[Part] = []

    def value_text(name: str, value: Any, match: re.Match) -> str:
        if match.group("full"):
            whole = text_of(name, lambda: str(value))
            parts.append((f"{name} (full)", whole, True))
            return whole
        brief = text_of(name, lambda: summarise(name, value), "summary") if summarise else None
        if brief is not None:
            parts.append((f"{name} summary", brief, True))
            return brief
        plain = text_of(name, lambda: str(value))
        if name == "error":
            parts.append(("{error} is your variable error, not the last exception", plain, False))
        return plain

    def masked(name: str, text: str) -> str:
        safe = redact(text, key) if key else text
        if safe != text:
            parts.append((masked_label(name), "", False))
        return safe

    def value_of(match: re.Match) -> Optional[str]:
        name = match.group("name")
        if name is not None:
            if name in namespace:
                return masked(name, value_text(name, namespace[name], match))
            if name == "error" and not match.group("full"):
                if error_text is None:
                    parts.append((NO_ERROR_YET, "", False))
                    return None
                parts.append(("traceback of the last error", error_text, True))
                return error_text
            parts.append((UNKNOWN_NAME, "{" + name + (match.group("full") or "") + "}", False))
            return None
        label = f"{match.group('hist')}[{match.group('num')}]"
        history = namespace.get(match.group("hist"))
        try:
            entry = history[int(match.group("num"))]
        except (KeyError, IndexError, TypeError):
            return None
        return masked(label, text_of(label, lambda: str(entry)))

    def replace(match: re.Match) -> str:
        value = value_of(match)
        if value is None:
            return match.group(0)
        gap = match.group("gap")
        rest_of_line = match.string[match.end():].split("\n", 1)[0]
        if "\n" in value and value.rstrip().endswith("|") and rest_of_line.strip():
            # A summary ends with a Markdown table: what follows on the line starts a new
            # paragraph, or it would be read (and shown in %chat history) as the table's last row.
            gap = "\n\n"
        return value + gap

    return _PLACEHOLDER.sub(replace, text), parts


def unknown_names_notice(parts: List[Part]) -> Optional[str]:
    """The notice for ``{name}`` placeholders that name no variable: sent as typed, but said
    (CONTRACTS 6), since after a restart ``{df}`` would otherwise go out, billed, as "{df}"."""
    names = list(dict.fromkeys(text for label, text, _ in parts if label == UNKNOWN_NAME))
    if not names:
        return None
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{listed}: no such variable, sent as typed"


def interpolate_prompt(text: str, namespace: Mapping[str, Any], state: Any, *,
                       summarise: Optional[Summarise] = None) -> Tuple[str, List[Part]]:
    """The one ``{error}`` path (``%%chat`` and ``--map``): :func:`interpolate_context` with
    the kernel's last error (``state.last_error``: the failing cell and its traceback, the key
    masked). A prompt asking for ``{error}`` before any error is refused, nothing sent."""
    last = state.last_error
    key = state.settings.resolved_key()
    error_text = last.text(key) if last else None
    filled, parts = interpolate_context(text, namespace, summarise=summarise, error_text=error_text,
                                        key=key)
    if key and redact(filled, key) != filled:  # typed into the cell itself
        filled = redact(filled, key)
        parts.append((masked_label("the prompt"), "", False))
    if any(label == NO_ERROR_YET for label, _, _ in parts):
        from ..errors import InputError

        raise InputError(NO_ERROR_LINE)
    return filled, parts
