"""Building request payloads from options, validated before anything is sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..errors import InputError


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
    reasoning_effort: Optional[str] = None
    verbosity: Optional[str] = None
    json_schema: Optional[Dict[str, Any]] = None  # response_format's json_schema object
    # Send --schema as {"type": "json_object", "schema": ...}: for servers that refuse
    # json_schema (llama-cpp-python), learned per base URL (core/exchange.py).
    schema_as_json_object: bool = False
    # Fields sent as given (``OAIMagics.extra_body``, then ``--param``): the API grows faster
    # than releases, so any new field can be sent today. ``param_names`` are the --param ones.
    extra: Dict[str, Any] = field(default_factory=dict)
    param_names: List[str] = field(default_factory=list)
    # issue 29: what the API returns, shown
    web_search: Optional[str] = None  # "" (the server's default) or a search_context_size
    logprobs: Optional[int] = None  # top_logprobs K (0: the chosen token's only)
    service_tier: Optional[str] = None
    prompt_cache_key: Optional[str] = None  # chosen per conversation by core (cache_keys.py)


# The spec's ReasoningEffort enum and the verbosity values, sent as the API names them.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
VERBOSITIES = ("low", "medium", "high")
SEARCH_CONTEXT_SIZES = ("low", "medium", "high")
SERVICE_TIERS = ("auto", "default", "flex", "priority")
MAX_TOP_LOGPROBS = 20
# Fields --param may not set: each has an option that keeps the magic's state consistent.
REFUSED_PARAMS = {
    "messages": "messages is the conversation's history; oai_magic builds it (use -c, -s, -n)",
    "stream": "use --no-stream to wait for the whole answer",
    "n": "use -N K for several choices",
}


def parse_param_value(text: str) -> Any:
    """VALUE as JSON when it parses (``3``, ``true``, ``{"a":1}``), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(words: List[str], option: str = "--param") -> Dict[str, Any]:
    """``--param NAME=VALUE`` (repeatable) → a mapping; refused names are one line."""
    params: Dict[str, Any] = {}
    for word in words:
        name, sep, value = word.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"{option} takes NAME=VALUE, e.g. {option} reasoning_effort=low "
                             f"(got {word!r})")
        if name in REFUSED_PARAMS:
            raise InputError(f"{option} {name}=… is refused: {REFUSED_PARAMS[name]}.")
        params[name] = parse_param_value(value)
    return params


def apply_extra_fields(payload: Dict[str, Any], options: ChatOptions) -> List[str]:
    """Add ``options.extra`` to ``payload``; a field the magic set is overridden, with a notice.

    ``stream_options`` only means something while streaming, so it is dropped otherwise; while
    streaming it is merged into ours, so ``include_usage`` (the footer's tokens) stays.
    """
    notices: List[str] = []
    for name, value in options.extra.items():
        if name == "stream_options":
            if not payload.get("stream"):
                continue
            if isinstance(value, dict):
                value = {**payload.get("stream_options", {}), **value}
        if name in payload and payload[name] != value:
            source = "--param" if name in options.param_names else "OAIMagics.extra_body"
            notices.append(f"{source} {name}={json.dumps(value, ensure_ascii=False)[:80]} "
                           f"overrides the value oai_magic set "
                           f"({json.dumps(payload[name], ensure_ascii=False)[:80]}).")
        payload[name] = value
    return notices


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
    if options.reasoning_effort is not None and options.reasoning_effort not in REASONING_EFFORTS:
        raise InputError(f"--reasoning-effort must be one of {', '.join(REASONING_EFFORTS)}, "
                         f"got {options.reasoning_effort!r}")
    if options.verbosity is not None and options.verbosity not in VERBOSITIES:
        raise InputError(f"--verbosity must be one of {', '.join(VERBOSITIES)}, "
                         f"got {options.verbosity!r}")
    if options.web_search not in (None, "", *SEARCH_CONTEXT_SIZES):
        raise InputError(f"--web-search takes {', '.join(SEARCH_CONTEXT_SIZES)} (or nothing), "
                         f"got {options.web_search!r}")
    if options.logprobs is not None and not 0 <= options.logprobs <= MAX_TOP_LOGPROBS:
        raise InputError(f"--logprobs K takes 0..{MAX_TOP_LOGPROBS} alternatives per token, "
                         f"got {options.logprobs}")
    if options.service_tier is not None and options.service_tier not in SERVICE_TIERS:
        raise InputError(f"--service-tier must be one of {', '.join(SERVICE_TIERS)}, "
                         f"got {options.service_tier!r}")
    for name in options.param_names:
        if name in REFUSED_PARAMS:
            raise InputError(f"--param {name}=… is refused: {REFUSED_PARAMS[name]}.")


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
        # --user: the spec deprecates ``user`` for ``safety_identifier`` (abuse detection)
        "safety_identifier": options.user,
        "prompt_cache_key": options.prompt_cache_key,
        "service_tier": options.service_tier,
        "tools": options.tools,
        # Offered tools go with "auto" unless the user chose: llama-cpp-python reads a missing
        # tool_choice as "none" and never calls them.
        "tool_choice": options.tool_choice if options.tool_choice is not None or not options.tools
        else "auto",
        "reasoning_effort": options.reasoning_effort,
        "verbosity": options.verbosity,
        options.max_tokens_field: options.max_tokens,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    if options.stop:
        payload["stop"] = list(options.stop)
    if options.web_search is not None:
        payload["web_search_options"] = (
            {"search_context_size": options.web_search} if options.web_search else {})
    if options.logprobs is not None:
        payload["logprobs"] = True
        if options.logprobs:
            payload["top_logprobs"] = options.logprobs
    if options.json_schema is not None:
        payload["response_format"] = schema_response_format(
            options.json_schema, options.schema_as_json_object)
    elif options.json_mode:
        payload["response_format"] = {"type": "json_object"}
    return payload


def schema_response_format(json_schema: Dict[str, Any], as_json_object: bool = False
                           ) -> Dict[str, Any]:
    """``response_format`` for ``--schema``: OpenAI's ``json_schema``, or the ``json_object``
    with a ``schema`` that llama-cpp-python takes instead."""
    if as_json_object:
        return {"type": "json_object", "schema": json_schema["schema"]}
    return {"type": "json_schema", "json_schema": json_schema}
