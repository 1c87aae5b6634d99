"""The server's model list (``/v1/models``): bounded, and the chat models in it."""

from __future__ import annotations

from typing import Any, List

MODELS_NOT_LISTED = "this server does not list models"
MAX_MODELS = 2000
# Listed by /v1/models but not chat models: left out of the panel's model box (still typeable).
NOT_CHAT = ("whisper", "transcribe", "tts", "embedding", "dall-e", "moderation", "davinci",
            "babbage")


def listed_models(data: Any) -> List[Any]:
    """The entries of a ``/v1/models`` body, at most ``MAX_MODELS`` of them.

    A server can list millions; they would all land in a table or widget state (and be saved).
    """
    entries = data.get("data") if isinstance(data, dict) else None
    return entries[:MAX_MODELS] if isinstance(entries, list) else []


def chat_model_ids(data: Any) -> List[str]:
    """Model ids from a ``/v1/models`` body, without the audio/embedding/image ones.

    At most ``MAX_MODELS`` ids: the list lands in widget state, saved with the notebook.
    """
    ids = [str(m.get("id")) for m in listed_models(data) if isinstance(m, dict)]
    return sorted(i for i in ids if i and not any(word in i.lower() for word in NOT_CHAT))


def chat_models(client: Any) -> List[str]:
    """Ask the server for its models; the chat models' ids, sorted. NotFoundError when it has no
    ``/models`` (faster-whisper-server, some proxies)."""
    return chat_model_ids(client.list_models().data)
