"""What servers other than OpenAI do differently, recognised in one place.

The exchange (``exchange.py``) and ``--map`` (``map_run.py``) absorb each with a fallback or a
notice: a 400 naming the ``--max-tokens`` field, a ``json_schema`` response format refused with a
validation error (llama-cpp-python), a ``--max-tokens`` the server ran past (it reports more
completion tokens than allowed), an answer that is all reasoning (llama-server's templates, or
a limit spent thinking), and a context-length error (whether trimming history can help).
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

from ..api.request import ChatOptions, schema_response_format
from ..errors import APIError, is_validation_failure
from ..history import content_files, content_images
from ..state import KernelState
from .results import ChatResult

OTHER_MAX_TOKENS_FIELD = {"max_completion_tokens": "max_tokens", "max_tokens": "max_completion_tokens"}


def names_field(error: APIError, name: str) -> bool:
    return error.param == name or re.search(rf"\b{name}\b", error.message or "") is not None


def refuses_cache_key(error: APIError, payload: Dict[str, Any]) -> bool:
    """A 400 naming ``prompt_cache_key``, for a request that sent one (core/cache_keys.py)."""
    return (error.status_code == 400 and "prompt_cache_key" in payload
            and names_field(error, "prompt_cache_key"))


def refuses_images(error: APIError, messages: List[Dict[str, Any]]) -> bool:
    """A 400 that names image input, for a request that carried images."""
    text = f"{error.message} {error.param or ''} {error.code or ''}".lower()
    return "image" in text and any(content_images(m.get("content")) for m in messages)


FILES_HINT = (" — this model or server may not accept files (--file): try a model that reads "
              "PDFs, e.g. gpt-4o-mini, on OpenAI's API")


def refuses_files(error: APIError, messages: List[Dict[str, Any]]) -> bool:
    """A 400 that names a file part, for a request that carried one (``--file``)."""
    text = f"{error.message} {error.param or ''} {error.code or ''}".lower()
    return "file" in text and any(content_files(m.get("content")) for m in messages)


def refuses_json_schema(error: APIError, payload: Dict[str, Any]) -> bool:
    """A validation error naming ``response_format``, for a request that sent ``json_schema``
    (llama-cpp-python: a 500 with pydantic's dump). The whole body is read: the one-line
    message may be cut before the field's name."""
    sent = payload.get("response_format")
    if not isinstance(sent, dict) or sent.get("type") != "json_schema":
        return False
    if error.status_code not in (400, 422, 500) or not is_validation_failure(error.body):
        return False
    return "response_format" in json.dumps(error.body, ensure_ascii=False)


def remember_schema_refused(state: KernelState) -> str:
    """Remember for this base URL (as the max-tokens field is) that ``--schema`` goes as
    ``json_object`` with the schema, and say so."""
    base_url = state.settings.resolved_base_url()
    state.json_schema_refused.add(base_url)
    return ("The server refused response_format json_schema: --schema was sent again as "
            f"json_object with the schema, which this session now uses for {base_url}.")


def send_schema_as_json_object(state: KernelState, payload: Dict[str, Any]) -> str:
    """Change ``payload`` to ``json_object`` with the schema; remembered, and said."""
    payload["response_format"] = schema_response_format(
        payload["response_format"]["json_schema"], as_json_object=True)
    return remember_schema_refused(state)


def send_items_as_json_object(payloads: Dict[int, Dict[str, Any]]) -> None:
    """Every ``--map`` body that still asks for ``json_schema`` asks for ``json_object`` with
    the schema instead."""
    for payload in payloads.values():
        sent = payload.get("response_format")
        if isinstance(sent, dict) and sent.get("type") == "json_schema":
            payload["response_format"] = schema_response_format(sent["json_schema"], True)


def context_hint(history_sent: int, context_tokens: Optional[int]) -> str:
    """What to add to a context-length error: trimming history helps only when some was sent."""
    if history_sent <= 0:
        return (" — the prompt alone is over the server's context window (no history went "
                "with it): shorten the prompt")
    if context_tokens is None:
        return (" — %oai context N tells oai_magic the server's context size, so older "
                "history is left out to fit")
    return ""


def ignored_max_tokens_notice(returned: int, limit: int, sent_as: str, answers: str = "") -> str:
    """The server answered with more tokens than ``--max-tokens`` allowed: it ignored the field
    (llama-cpp-python does without streaming). One wording for a cell and for ``--map`` (where
    ``answers`` says how many, once per job)."""
    hint = ('; %config OAIMagics.max_tokens_param = "max_tokens" may help'
            if sent_as == "max_completion_tokens" else "")
    up_to = "up to " if answers else ""
    return (f"The server returned {up_to}{returned:,} completion tokens for --max-tokens {limit}"
            f"{answers}: it ignored the limit (sent as {sent_as}{hint}).")


def completion_tokens(usage: Any) -> Optional[int]:
    """``usage.completion_tokens`` when the server reported a sane count."""
    value = (usage or {}).get("completion_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def after_answer_notices(result: ChatResult, options: ChatOptions) -> List[str]:
    """What only the finished answer shows: a ``--max-tokens`` the server ran past (by its own
    usage), and an answer that is all reasoning and no text."""
    notices = []
    returned = completion_tokens(result.usage)
    if (options.max_tokens and returned is not None and result.ignored_limit is None
            and returned > options.max_tokens * max(1, len(result.choices))):
        notices.append(ignored_max_tokens_notice(returned, options.max_tokens,
                                                 options.max_tokens_field))
    first = result.choices[0] if result.choices else None
    if first is not None and first.reasoning and not (first.text or first.refusal
                                                      or first.tool_calls):
        why = ("the model spent its tokens thinking: a larger --max-tokens leaves room for it"
               if first.finish_reason == "length" else
               "the server sent all of it as reasoning (its chat template may not end the "
               "thinking part)")
        notices.append(f"The answer is all reasoning and no text: {why}.")
    if any(choice.audio for choice in result.choices):
        notices.append("The model answered in audio (modalities): audio answers are not shown "
                       "here, only their text.")
    return notices
