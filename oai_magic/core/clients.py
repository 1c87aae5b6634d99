"""Who makes the HTTP client: the one factory the wiring hands to ``KernelState``.

The state may not import the api layer, so it is given a factory. The magics hand in
:func:`http_client` when they are registered; a panel opened in a kernel where ``%load_ext`` never
ran asks :func:`client_of`, which wires the same factory in.
"""

from __future__ import annotations

import dataclasses
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


def audio_client(state: KernelState) -> Any:
    """The client ``%transcribe`` (and the panel's dictation) uses: the chat client, or one for
    ``OAIMagics.audio_base_url`` when speech runs on a server of its own. Made again only when
    the settings change, so its connections are reused."""
    if not state.settings.audio_base_url:
        return client_of(state)
    with state.lock:
        wanted = dataclasses.replace(state.settings, base_url=state.settings.resolved_audio_base_url())
        cached = state.audio_client_cache
        if cached is None or cached[0] != wanted:
            if cached is not None and hasattr(cached[1], "close"):
                cached[1].close()
            factory = state.client_factory or http_client
            cached = state.audio_client_cache = (wanted, factory(wanted))
        return cached[1]
