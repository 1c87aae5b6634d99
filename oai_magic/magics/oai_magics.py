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
    """One HTTP client (one requests.Session) per kernel state, made on first use."""
    client = getattr(state, "_client", None)
    if client is None:
        from ..api.client import OpenAIClient

        client = state._client = OpenAIClient(state.settings)  # type: ignore[attr-defined]
    return client
