"""oai_magic: talk to OpenAI models from a notebook.

Load it with ``%load_ext oai_magic``. Configure it like any IPython extension::

    c.OAIMagics.model = "gpt-4o-mini"
    c.OAIMagics.base_url = "http://127.0.0.1:8765/v1"

Loading is deliberately light: the renderer, ipywidgets and the HTTP stack are imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_ipython_extension", "session", "Session", "ChatPanel", "MapResult",
           "BatchJob"]


def load_ipython_extension(ipython) -> None:
    """Register the magics on this shell (``%load_ext oai_magic``)."""
    from .magics import register

    register(ipython)


def session():
    """The running IPython kernel's session: the one ``%%chat``, ``%chat``, ``%oai``,
    ``%transcribe`` and the panel use (the magics are registered if they were not yet)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("oai_magic.session() needs a running IPython kernel; in a script, make "
                           "one with oai_magic.Session(api_key=..., model=...)")
    from .magics import register

    register(shell)  # the configured settings (c.OAIMagics...) apply to the session
    from .core.session import session_of

    return session_of(shell)


def __getattr__(name: str):
    # The panel pulls in ipywidgets, so it is only imported when someone asks for it.
    if name == "Session":  # plain Python: no IPython, no widgets
        from .core.session import Session

        return Session
    if name == "ChatPanel":
        from .ui.panel.panel import ChatPanel

        return ChatPanel
    if name == "MapResult":  # MapResult.load(path) after a kernel restart
        from .core.mapping import MapResult

        return MapResult
    if name == "BatchJob":
        from .core.batch import BatchJob

        return BatchJob
    raise AttributeError(f"module 'oai_magic' has no attribute {name!r}")
