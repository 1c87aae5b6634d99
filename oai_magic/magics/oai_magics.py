"""The old home of the magics, kept for the imports that still name it.

``ui/panel/panel.py`` imports :func:`client_for` from here until its owner asks the state for
its client (``state.client()``); ``OAIMagics`` and ``register`` live in ``oai_magic.magics``.
"""

from __future__ import annotations

from typing import Any

from ..state import KernelState
from . import OAIMagics, register

__all__ = ["OAIMagics", "client_for", "register"]


def client_for(state: KernelState) -> Any:
    """Deprecated: ``state.client()``. Kept while ``ui/panel/panel.py`` imports it."""
    return (state if state.client_factory else _wired(state)).client()


def _wired(state: KernelState) -> KernelState:
    """A bare ``KernelState()`` (a panel made without the extension) gets the HTTP client."""
    from . import http_client

    state.client_factory = http_client
    return state
