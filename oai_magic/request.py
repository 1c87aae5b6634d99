"""Building request payloads from options, validated before anything is sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import InputError


@dataclass
class ChatOptions:
    """Everything a single chat request can ask for beyond the messages."""

    model: Optional[str] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    max_tokens: Optional[int] = None
    max_tokens_field: str = "max_completion_tokens"
    seed: Optional[int] = None
    stop: List[str] = field(default_factory=list)
    json_mode: bool = False
    stream: bool = True
    n: Optional[int] = None
    presence_penalty: Optional[float] = None
    frequency_penalty: Optional[float] = None
    logit_bias: Optional[Dict[str, int]] = None
    user: Optional[str] = None
    tools: Optional[List[Dict[str, Any]]] = None
    tool_choice: Any = None
    organization: Optional[str] = None
    project: Optional[str] = None


def _check_range(name: str, value: Optional[float], low: float, high: float) -> None:
    if value is not None and not (low <= value <= high):
        raise InputError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def validate_chat_options(options: ChatOptions) -> None:
    _check_range("--temperature", options.temperature, 0, 2)
    _check_range("--top-p", options.top_p, 0, 1)
    _check_range("--presence-penalty", options.presence_penalty, -2, 2)
    _check_range("--frequency-penalty", options.frequency_penalty, -2, 2)
    if options.max_tokens is not None and options.max_tokens < 1:
        raise InputError(f"--max-tokens must be at least 1, got {options.max_tokens}")
    if options.n is not None and not (1 <= options.n <= 128):
        raise InputError(f"--choices must be between 1 and 128, got {options.n}")
    if len(options.stop) > 4:
        raise InputError("--stop can be given at most 4 times (the API accepts up to 4 sequences)")
    if options.logit_bias is not None:
        validate_logit_bias(options.logit_bias)


def parse_logit_bias(text: str) -> Dict[str, int]:
    """``--logit-bias '{"50256": -100}'`` → a validated mapping."""
    try:
        value = json.loads(text)
    except ValueError:
        raise InputError(
            '--logit-bias takes a JSON object of token id to bias, e.g. \'{"50256": -100}\''
        ) from None
    if not isinstance(value, dict):
        raise InputError('--logit-bias takes a JSON object, e.g. \'{"50256": -100}\'')
    validate_logit_bias(value)
    return {str(k): v for k, v in value.items()}


def validate_logit_bias(bias: Dict[Any, Any]) -> None:
    for token, value in bias.items():
        if not str(token).isdigit():
            raise InputError(f"--logit-bias keys must be token ids (integers), got {token!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"--logit-bias value for {token} must be a number, got {value!r}")
        if not (-100 <= value <= 100):
            raise InputError(f"--logit-bias value for {token} must be in -100..100, got {value}")


def build_chat_payload(
    model: str, messages: List[Dict[str, Any]], options: ChatOptions
) -> Dict[str, Any]:
    """The JSON body for POST /chat/completions. Zero values are sent, not dropped."""
    validate_chat_options(options)
    payload: Dict[str, Any] = {"model": model, "messages": messages}
    if options.stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    optional = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "seed": options.seed,
        "n": options.n,
        "presence_penalty": options.presence_penalty,
        "frequency_penalty": options.frequency_penalty,
        "logit_bias": options.logit_bias,
        "user": options.user,
        "tools": options.tools,
        "tool_choice": options.tool_choice,
        options.max_tokens_field: options.max_tokens,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    if options.stop:
        payload["stop"] = list(options.stop)
    if options.json_mode:
        payload["response_format"] = {"type": "json_object"}
    return payload
