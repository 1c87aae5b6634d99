"""The one yes/no question at the input prompt (Jupyter's stdin channel, or a terminal's).

Running a tool the model asked for and sending a big ``--map`` job both ask here, so they read
answers alike: "y" or "yes" (any case, spaces around) is yes; anything else, or an end of input,
is no. A frontend with no input prompt cannot answer: the caller says what to do instead.
"""

from __future__ import annotations


def ask_yes_no(question: str, cannot_ask: Exception) -> bool:
    """``question`` ending in ``[y/N] ``; raise ``cannot_ask`` when the frontend has no stdin."""
    try:
        answer = input(question)
    except EOFError:
        return False
    except NotImplementedError:  # IPython's StdinNotImplementedError: no way to ask
        raise cannot_ask from None
    return answer.strip().lower() in ("y", "yes")
