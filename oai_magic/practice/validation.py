"""Chat requests the real endpoint refuses, refused the same way: status, message, param, code.

So a misspelt ``--param`` or an out-of-range value gets the server's one-line error offline too.
"""

from __future__ import annotations

from .wire import MODELS, TRANSCRIBE_MODELS, RequestError, no_such_model


def _type_name(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string",
             list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _check_number(body: dict, name: str, low: float, high: float, integer: bool = False) -> None:
    value = body.get(name)
    if value is None:
        return
    kind = "integer" if integer else "decimal"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        expected = "an integer" if integer else "a number"
        raise RequestError(400, f"Invalid type for '{name}': expected {expected}, but got "
                           f"{_type_name(value)} instead.", param=name, code="invalid_type")
    if value < low:
        raise RequestError(400, f"Invalid '{name}': {kind} below minimum value. Expected a value >= "
                           f"{low}, but got {value} instead.", param=name, code=f"{kind}_below_min_value")
    if value > high:
        raise RequestError(400, f"Invalid '{name}': {kind} above maximum value. Expected a value <= "
                           f"{high}, but got {value} instead.", param=name, code=f"{kind}_above_max_value")


# The fields of CreateChatCompletionRequest (OpenAPI spec); anything else is refused as the real
# endpoint refuses it, so a misspelt --param gets the server's one-line error offline too.
CHAT_FIELDS = frozenset([
    "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model",
    "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_options", "prompt_cache_retention", "reasoning_effort", "response_format",
    "safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options",
    "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
    "web_search_options",
])


def validate_chat(body) -> None:
    """Refuse what the real endpoint refuses, with the same status, param and code."""
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    unknown = [name for name in body if name not in CHAT_FIELDS]
    if unknown:
        raise RequestError(400, f"Unrecognized request argument supplied: {unknown[0]}",
                           param=unknown[0], code="unknown_parameter")
    model = body.get("model")
    if model is None:
        raise RequestError(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise RequestError(400, f"Invalid type for 'model': expected a string, but got "
                           f"{_type_name(model)} instead.", param="model", code="invalid_type")
    messages = body.get("messages")
    if messages is None:
        raise RequestError(400, "Missing required parameter: 'messages'.", param="messages",
                           code="missing_required_parameter")
    if not isinstance(messages, list):
        raise RequestError(400, f"Invalid type for 'messages': expected an array, but got "
                           f"{_type_name(messages)} instead.", param="messages", code="invalid_type")
    if not messages:
        raise RequestError(400, "Invalid 'messages': empty array. Expected an array with minimum "
                           "length 1, but got an empty array instead.", param="messages",
                           code="empty_array")
    roles = ("system", "developer", "user", "assistant", "tool", "function")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in roles:
            raise RequestError(400, f"Invalid value for 'messages[{i}].role': expected one of "
                               f"{', '.join(roles)}.", param=f"messages[{i}].role", code="invalid_value")
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    _check_number(body, "n", 1, 8, integer=True)
    _check_number(body, "presence_penalty", -2, 2)
    _check_number(body, "frequency_penalty", -2, 2)
    _check_number(body, "max_tokens", 1, 10**7, integer=True)
    _check_number(body, "max_completion_tokens", 1, 10**7, integer=True)
    _check_number(body, "seed", -(2**63), 2**63 - 1, integer=True)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop)):
        raise RequestError(400, "Invalid 'stop': expected a string or an array of up to 4 strings.",
                           param="stop", code="invalid_value")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(400, f"Invalid type for 'stream': expected a boolean, but got "
                           f"{_type_name(stream)} instead.", param="stream", code="invalid_type")
    if body.get("stream_options") is not None and not stream:
        raise RequestError(400, "The 'stream_options' parameter is only allowed when 'stream' is "
                           "enabled.", param="stream_options", code="invalid_value")
    _check_response_format(body.get("response_format"))
    _check_tools(body.get("tools"))
    if model not in MODELS:
        raise no_such_model(model)
    if model.startswith("o") and body.get("max_tokens") is not None:
        raise RequestError(400, "Unsupported parameter: 'max_tokens' is not supported with this "
                           "model. Use 'max_completion_tokens' instead.", param="max_tokens",
                           code="unsupported_parameter")
    if model in TRANSCRIBE_MODELS:
        raise RequestError(404, "This is not a chat model and thus not supported in the "
                           "v1/chat/completions endpoint.", param="model")


def _check_response_format(value) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise RequestError(400, f"Invalid type for 'response_format': expected an object, but got "
                           f"{_type_name(value)} instead.", param="response_format",
                           code="invalid_type")
    kinds = ("text", "json_object", "json_schema")
    if value.get("type") not in kinds:
        raise RequestError(400, f"Invalid value for 'response_format.type': expected one of "
                           f"{', '.join(kinds)}.", param="response_format.type",
                           code="invalid_value")


def _check_tools(tools) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise RequestError(400, f"Invalid type for 'tools': expected an array, but got "
                           f"{_type_name(tools)} instead.", param="tools", code="invalid_type")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise RequestError(400, f"Invalid value for 'tools[{i}].type': expected 'function'.",
                               param=f"tools[{i}].type", code="invalid_value")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError(400, f"Invalid type for 'tools[{i}].function': expected an object "
                               "with a string 'name'.", param=f"tools[{i}].function",
                               code="invalid_type")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise RequestError(400, f"Invalid type for 'tools[{i}].function.parameters': expected "
                               "an object.", param=f"tools[{i}].function.parameters",
                               code="invalid_type")
