"""Who makes the HTTP client: the one factory the wiring hands to ``KernelState``.

The state may not import the api layer, so it is given a factory. The magics hand in
:func:`http_client` when they are registered; a panel opened in a kernel where ``%load_ext`` never
ran asks :func:`client_of`, which wires the same factory in.
"""

from __future__ import annotations

from typing import Any

from ..state import KernelState, Settings


def http_client(settings: Settings) -> Any:
    """An ``OpenAIClient`` for these settings (the HTTP stack is imported on the first request)."""
    from ..api.client import OpenAIClient

    return OpenAIClient(settings)


def client_of(state: KernelState) -> Any:
    """The state's client, wiring the HTTP factory into a state made without the extension."""
    if state.client_factory is None:
        state.client_factory = http_client
    return state.client()
