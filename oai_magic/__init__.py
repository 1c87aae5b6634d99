"""oai_magic: talk to OpenAI models from a notebook.

Load it with ``%load_ext oai_magic``. Configure it like any IPython extension::

    c.OAIMagics.model = "gpt-4o-mini"
    c.OAIMagics.base_url = "http://127.0.0.1:8765/v1"

Loading is deliberately light: the renderer, ipywidgets and the HTTP stack are imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_ipython_extension", "ChatPanel", "MapResult", "BatchJob"]


def load_ipython_extension(ipython) -> None:
    """Register the magics on this shell (``%load_ext oai_magic``)."""
    from .magics import register

    register(ipython)


def __getattr__(name: str):
    # The panel pulls in ipywidgets, so it is only imported when someone asks for it.
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
