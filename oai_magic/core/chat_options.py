"""The request options of a chat, from the long ``%%chat`` option names: one builder for the
magics and the Python API, so both refuse the same values with the same messages.

``%%chat -t 0.2 --max-tokens 50`` and ``session.chat(..., temperature=0.2, max_tokens=50)`` both
end here; ``validate_chat_options`` (``api/request.py``) then checks ranges and choices. The
Python API passes plain values, so their types are checked here first (the magics' parser has
converted them already).
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Dict, Iterable, List, Optional, Union

from ..api.request import ChatOptions, parse_logit_bias, parse_params, validate_chat_options
from ..errors import InputError

_NUMBER = (int, float)
# The long %%chat options a request takes, with the Python types each accepts.
REQUEST_OPTIONS: Dict[str, Any] = {
    "temperature": _NUMBER, "top_p": _NUMBER, "max_tokens": int, "seed": int,
    "stop": (str, list, tuple), "json": bool, "no_stream": bool, "choices": int,
    "presence_penalty": _NUMBER, "frequency_penalty": _NUMBER, "logit_bias": (dict, str),
    "user": str, "org": str, "project": str, "reasoning_effort": str, "verbosity": str,
    "tool_choice": (str, dict), "param": (dict, list, tuple), "detail": str,
    # issue 29
    "web_search": str, "logprobs": int, "service_tier": str,
}


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_option_names(given: Iterable[str], known: Iterable[str]) -> None:
    """An unknown keyword is one line naming the closest option, before anything is sent."""
    known = list(known)
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
            hint = f": did you mean {close[0]}?" if close else f" (options: {', '.join(sorted(known))})"
            raise InputError(f"unknown option {name}{hint}")


def check_option_types(options: Dict[str, Any]) -> None:
    for name, value in options.items():
        kinds = REQUEST_OPTIONS.get(name)
        if value is None or kinds is None:
            continue
        if isinstance(value, bool) != (kinds is bool) or not isinstance(value, kinds):
            raise InputError(f"{option_flag(name)} takes {_kind_name(kinds)}, not {value!r}")


def _kind_name(kinds: Any) -> str:
    if kinds is _NUMBER:
        return "a number"
    if kinds is int:
        return "a whole number"
    if kinds is bool:
        return "True or False"
    if kinds is str:
        return "a string"
    return " or ".join(k.__name__ for k in kinds)


def _param_words(param: Union[Dict[str, Any], List[str], tuple, None]) -> List[str]:
    """``--param`` as NAME=VALUE words: a dict from Python, words from a magic line."""
    if not param:
        return []
    if isinstance(param, dict):
        return [f"{name}={json.dumps(value)}" for name, value in param.items()]
    return list(param)


def request_options(settings: Any, model: Optional[str] = None, **options: Any) -> ChatOptions:
    """A validated ``ChatOptions`` over the configured ``extra_body``; refuses before any change."""
    check_option_names(options, REQUEST_OPTIONS)
    check_option_types(options)
    params = parse_params(_param_words(options.get("param")))
    stop = options.get("stop") or []
    bias = options.get("logit_bias")
    chat = ChatOptions(
        model=model,
        temperature=options.get("temperature"),
        top_p=options.get("top_p"),
        max_tokens=options.get("max_tokens"),
        max_tokens_field=settings.max_tokens_param,
        seed=options.get("seed"),
        stop=[stop] if isinstance(stop, str) else list(stop),
        json_mode=bool(options.get("json")),
        stream=not options.get("no_stream"),
        n=options.get("choices"),
        presence_penalty=options.get("presence_penalty"),
        frequency_penalty=options.get("frequency_penalty"),
        logit_bias=parse_logit_bias(bias) if isinstance(bias, str) else (dict(bias) if bias else None),
        user=options.get("user"),
        organization=options.get("org"),
        project=options.get("project"),
        reasoning_effort=options.get("reasoning_effort"),
        verbosity=options.get("verbosity"),
        extra={**settings.extra_body, **params},
        param_names=list(params),
        web_search=options.get("web_search"),
        logprobs=options.get("logprobs"),
        service_tier=options.get("service_tier"),
    )
    validate_chat_options(chat)
    return chat
