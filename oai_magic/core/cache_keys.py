"""``prompt_cache_key``: one key per conversation, so OpenAI routes its turns to a warm cache.

The key is a hash of the notebook and the conversation name: two conversations never share
one, and the name itself never leaves the kernel. ``OAIMagics.prompt_cache_key`` says where it
goes: ``"auto"`` to api.openai.com only (other servers may refuse an unknown field),
``"conversation"`` to every server, ``None`` nowhere. A server that refuses it with a 400 is
asked again without it, and it is not sent there again (remembered per base URL).
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Optional

from ..errors import InputError
from ..masking import checked_extra_headers

MODES = ("auto", "conversation", None)
SETTINGS = ("prompt_cache_key", "extra_headers")  # issue 29's settings, checked here
OPENAI_HOST = "api.openai.com"


def _host(base_url: str) -> str:
    host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", base_url).split("/")[0]
    return host.rsplit("@", 1)[-1].split(":")[0].lower()


def notebook_name() -> str:
    """The notebook's path as Jupyter Server tells its kernel, else "terminal" (as the log)."""
    return os.environ.get("JPY_SESSION_NAME") or "terminal"


def conversation_cache_key(notebook: str, conversation: str) -> str:
    """The key of one conversation of one notebook: a hash, so neither name is sent."""
    import hashlib  # on first use: hashlib's OpenSSL binding costs %load_ext 6 ms

    digest = hashlib.sha256(f"{notebook}\0{conversation}".encode()).hexdigest()
    return f"oai-magic-{digest[:32]}"


def prompt_cache_key(state: Any, conversation: str) -> Optional[str]:
    """The key to send with a request of ``conversation``, or None (see the module's doc)."""
    settings = state.settings
    mode = settings.prompt_cache_key
    base_url = settings.resolved_base_url()
    if mode is None or base_url in state.prompt_cache_key_refused:
        return None
    if mode == "auto" and _host(base_url) != OPENAI_HOST:
        return None
    return conversation_cache_key(notebook_name(), conversation)


def drop_cache_key(state: Any, payload: Dict[str, Any]) -> str:
    """Take the key out of a refused request, remember the refusal for this base URL, and say
    so (once: it is not sent there again)."""
    payload.pop("prompt_cache_key", None)
    base_url = state.settings.resolved_base_url()
    state.prompt_cache_key_refused.add(base_url)
    return (f"The server refused prompt_cache_key: the request was sent again without it, as "
            f"every request to {base_url} will be in this session.")


def checked_setting(name: str, value: Any) -> Any:
    """``OAIMagics.prompt_cache_key`` (one of :data:`MODES`) and ``OAIMagics.extra_headers``
    (:func:`checked_extra_headers`: secret-looking values kept as ``Secret``), checked once."""
    if name == "extra_headers":
        return checked_extra_headers(value)
    if value not in MODES:
        raise InputError(f'OAIMagics.prompt_cache_key takes "auto", "conversation" or None, '
                         f"not {value!r}")
    return value
