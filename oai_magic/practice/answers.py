"""What the practice server answers, as pure functions of the request (no sockets, no sleeping).

Kept apart from ``practice.py`` so the HTTP side only moves bytes. Answers are deterministic:
the same request always gets the same text, which is what demos and tests need.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

from .tools import plan_tool_calls, tool_results_answer

# id -> (created, owned_by); fixed so /v1/models is stable.
MODELS = {
    "gpt-4o-mini": (1721172741, "system"),
    "gpt-4o": (1715367049, "system"),
    "gpt-4.1": (1744316542, "system"),
    "gpt-4.1-mini": (1744318173, "system"),
    "o4-mini": (1744225351, "system"),
    "whisper-1": (1677532384, "openai-internal"),
    "gpt-4o-transcribe": (1742068463, "system"),
    "gpt-4o-mini-transcribe": (1742068596, "system"),
    "practice-1": (1700000000, "oai-magic-practice"),
}
TRANSCRIBE_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
STREAMING_TRANSCRIBE_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
MAX_TOKENS_DIRECTIVE = 1_000_000
MAX_AUDIO_BYTES = 25 * 1024 * 1024
FINGERPRINT = "fp_practice"
QUOTE_LIMIT = 200  # characters of a prompt (or system prompt) a default answer quotes back


class RequestError(Exception):
    """A request the real API would refuse; becomes an OpenAI-shaped error response."""

    def __init__(self, status: int, message: str, *, param: Optional[str] = None,
                 code: Optional[str] = None, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = (
            status, message, param, code, type)

    def reply(self) -> Reply:
        return Reply(self.status, body=error_body(self.message, self.type, self.code, self.param))


@dataclass
class Reply:
    """A whole response body, or SSE events (bytes, paced?) sent one HTTP chunk each."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    events: Optional[Iterator[Tuple[bytes, bool]]] = None
    pace: Optional[float] = None  # seconds before each paced event; None -> server token_delay
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering at all ([[delay_ms=N]])


@dataclass
class FormPart:
    """One multipart/form-data part; ``value`` is the decoded text for non-file fields."""

    name: str
    value: Optional[str]
    filename: Optional[str]
    content_type: Optional[str]
    data: bytes


def error_body(message: str, type: str = "invalid_request_error", code: Optional[str] = None,
               param: Optional[str] = None) -> bytes:
    """The OpenAI error shape ``{"error": {message, type, param, code}}`` as bytes."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


def sse_event(obj) -> bytes:
    """``data: <json>\\n\\n``; a str (e.g. ``"[DONE]"``) is sent as is, one data line per line."""
    if isinstance(obj, bytes):
        text = obj.decode()
    elif isinstance(obj, str):
        text = obj
    else:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return "".join(f"data: {line}\n" for line in text.split("\n")).encode() + b"\n"


def split_pieces(text: str) -> List[str]:
    """Split into "tokens": one per word, keeping whitespace, so ``"".join`` gives ``text`` back."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def models_reply(model_id: Optional[str] = None) -> Reply:
    def card(mid: str) -> dict:
        created, owner = MODELS[mid]
        return {"id": mid, "object": "model", "created": created, "owned_by": owner}

    if model_id is None:
        return Reply(body=_dumps({"object": "list", "data": [card(m) for m in MODELS]}))
    if model_id not in MODELS:
        raise _no_such_model(model_id)
    return Reply(body=_dumps(card(model_id)))


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _no_such_model(model: str) -> RequestError:
    return RequestError(404, f"The model `{model}` does not exist or you do not have access to "
                        f"it. The practice server knows: {', '.join(MODELS)}.",
                        code="model_not_found", param="model")


# ---------------------------------------------------------------- chat: validation


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
        raise _no_such_model(model)
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


# ---------------------------------------------------------------- chat: the answer text


def message_text(content) -> str:
    """Text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


_DIRECTIVE = re.compile(r"( ?)\[\[(echo|json|tokens=\d+|pace=\d+(?:\.\d+)?|delay_ms=\d+|lang=[a-z]{2}|"
                        r"shape=[a-z]+|all-tools|bad-tool-args|unknown-tool|tool-rounds=\d+)\]\]( ?)")
MAX_DELAY_MS = 600_000


def parse_directives(text: str) -> Tuple[str, dict]:
    """Remove ``[[echo]]``, ``[[json]]``, ``[[tokens=N]]``, ``[[pace=MS]]``, ``[[delay_ms=N]]``... (and one
    space next to each); ``[[echo]]`` then answers with exactly what is left."""""
    found: dict = {}

    def take(match: re.Match) -> str:
        name, _, value = match.group(2).partition("=")
        found[name] = value if name in ("lang", "shape") else float(value) if value else True
        return match.group(1) if match.group(3) else ""

    return _DIRECTIVE.sub(take, text), found


_TITLES = ["Practice answer", "A practice reply", "Here is a practice answer", "Practice run",
           "Your practice answer", "An offline answer"]
_INTROS = [
    "Below is sample Markdown so you can see how answers render while they stream.",
    "What follows shows a table, some code and a little math rendering live.",
    "Here is a little of everything a real answer might contain.",
    "The rest of this answer is filler that exercises the Markdown renderer.",
    "Everything below is made up, but it is formatted like a real answer.",
]
_DOCLINES = ["Shout the prompt back.", "Return the prompt in capitals.",
             "Make the prompt louder.", "Echo the prompt, upper-cased."]
_BULLETS = [
    "Change `temperature` and watch the wording move.",
    "Ask for `n=3` to get three different choices.",
    "Add `[[tokens=2000]]` to your prompt for a long answer.",
    "Set a real API key and base URL to talk to a real model.",
    "Try `stop` or `max_completion_tokens` to cut the answer short.",
    "Streaming shows each token as soon as it arrives.",
    "The practice server never sees the internet.",
]


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` on one line, cut to about ``limit`` characters: a huge prompt must not become a
    huge (and, paced, endless) answer."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit].rstrip()}… ({len(flat) - limit} more characters)"


@dataclass
class Context:
    """What the default answer reflects besides the prompt: the system prompt and earlier turns."""

    system: str = ""
    earlier_turns: int = 0

    @classmethod
    def of(cls, messages: list) -> Context:
        system = "\n".join(message_text(m.get("content")) for m in messages
                           if m.get("role") in ("system", "developer"))
        users = sum(1 for m in messages if m.get("role") == "user")
        return cls(system.strip(), max(0, users - 1))

    @property
    def style(self) -> Optional[str]:
        """A style rule the practice answer follows, read from the system prompt."""
        lowered = self.system.lower()
        if "haiku" in lowered:
            return "haiku"
        if any(word in lowered for word in ("terse", "brief", "concise", "one sentence", "short")):
            return "terse"
        return None

    def lines(self) -> List[str]:
        said = [f"System prompt: “{quote(self.system)}”"] if self.system else []
        turns = self.earlier_turns
        said.append(f"Earlier turns in this conversation: {turns}." if turns else
                    "This is the first turn of the conversation.")
        return said


def _styled_answer(prompt: str, context: Context) -> Optional[str]:
    """Short lines for a "haiku" system prompt, one line for a "terse" one (else None)."""
    words = [w.strip(".,;:!?“”\"'") for w in prompt.split()]
    words = [w for w in words if w] or ["silence"]
    if context.style == "haiku":
        return "\n".join([
            f"{' '.join(words[:2])} drifts in,",
            f"{' '.join(words[2:5]) or 'quiet words'} on the screen,",
            f"practice turn {context.earlier_turns + 1}.",
            "",
            *(f"*{line}*" for line in context.lines()),
        ]) + "\n"
    if context.style == "terse":
        turns = context.earlier_turns
        return (f"Terse, as the system prompt asks: you wrote “{quote(prompt, 60)}”"
                f"{f' ({turns} earlier turns)' if turns else ''}.\n")
    return None


def _default_answer(prompt: str, body: dict, index: int, n: int,
                    context: Optional[Context] = None) -> str:
    context = context or Context()
    styled = _styled_answer(prompt, context)
    if styled is not None:
        return styled
    temperature = body.get("temperature")
    temp = 1.0 if temperature is None else float(temperature)
    seed = body.get("seed") or 0
    digest = hashlib.sha256(f"{seed}|{index}|{temp:.3f}".encode()).digest()
    varied = math.ceil(temp / 2 * 5) if temp > 0 else (1 if index else 0)  # how many slots move

    def pick(slot: int, bank: list) -> int:
        return digest[slot] % len(bank) if slot < varied else 0

    title = _TITLES[pick(0, _TITLES)] + (f" (option {index + 1} of {n})" if n > 1 else "")
    quoted = quote(prompt)
    said = f"You wrote: “{quoted}”" if quoted else "There was no user message to answer."
    said = " ".join([said, *context.lines()])
    first = pick(3, _BULLETS)
    bullets = "\n".join(f"- {_BULLETS[(first + k) % len(_BULLETS)]}" for k in range(3))
    shown_temp = "default (1)" if temperature is None else f"{temperature}"
    return (
        f"## {title}\n\n"
        f"{said}\n\n"
        f"{_INTROS[pick(1, _INTROS)]}\n\n"
        "| Setting | Value |\n| --- | --- |\n"
        f"| model | `{body['model']}` |\n| temperature | {shown_temp} |\n"
        f"| words in your prompt | {len(prompt.split())} |\n"
        f"| system prompt | {'set' if context.system else 'none'} |\n"
        f"| earlier turns | {context.earlier_turns} |\n\n"
        "```python\n"
        "def practice_answer(prompt: str) -> str:\n"
        f'    """{_DOCLINES[pick(2, _DOCLINES)]}"""\n'
        "    return prompt.strip().upper()\n"
        "```\n\n"
        f"{bullets}\n\n"
        f"And some math to render: $e^{{i\\pi}}+1=0$. {'Bye for now.' if pick(4, _BULLETS) else ''}"
    ).rstrip() + "\n"


def _json_answer(prompt: str, body: dict, index: int) -> str:
    answer = {"model": body["model"], "choice": index, "prompt": quote(prompt),
              "prompt_words": len(prompt.split())}
    return json.dumps(answer, indent=2, ensure_ascii=False)


_SENTENCES = [
    "Streaming answers arrive one small piece at a time.",
    "A renderer that redraws everything on every token does quadratic work.",
    "Notebooks keep the conversation next to the code that uses it.",
    "Each request carries the whole history, so long chats cost more.",
    "Temperature trades predictability for variety.",
    "A stop sequence cuts the answer before the text it names.",
    "Usage numbers arrive in the final chunk when you ask for them.",
    "Errors should tell the reader what to try next.",
    "Tables, lists and code blocks all need closing before they render cleanly.",
    "The same prompt with temperature zero should give the same answer.",
    "Keeping the partial answer matters when the connection drops.",
    "Model output is untrusted text and must be escaped before display.",
    "Short feedback loops make experiments cheap.",
    "A practice server lets a whole class follow along without keys.",
]
_TOPICS = ["Streaming", "Rendering", "History", "Sampling", "Errors", "Tables", "Code", "Math",
           "Audio", "Latency", "Caching", "Testing"]


def _section(k: int) -> str:
    """One varied Markdown section; ``k`` picks everything, so the long answer is reproducible."""
    rng = random.Random(k)
    sentences = " ".join(rng.sample(_SENTENCES, rng.randint(3, 6)))
    parts = [f"{'#' * rng.randint(2, 3)} {k + 1}. {rng.choice(_TOPICS)}", sentences]
    kind = k % 6
    if kind == 0:
        parts.append("\n".join(f"- {s}" for s in rng.sample(_SENTENCES, rng.randint(3, 6))))
    elif kind == 1:
        rows = "\n".join(f"| {rng.choice(_TOPICS)} | {rng.randint(1, 999)} | {rng.random():.2f} |"
                         for _ in range(rng.randint(3, 6)))
        parts.append(f"| Topic | Count | Score |\n| --- | ---: | ---: |\n{rows}")
    elif kind == 2:
        body = "\n".join(f"    total += values[{j}] * {j + 1}" for j in range(rng.randint(1, 18)))
        parts.append(f"```python\ndef step_{k}(values):\n    total = 0\n{body}\n    return total\n```")
    elif kind == 3:
        parts.append(f"The area is $A = \\pi r^{{{rng.randint(2, 3)}}}$ and the sum is\n\n"
                     f"$$\\sum_{{i=1}}^{{{rng.randint(5, 99)}}} i = \\frac{{n(n+1)}}{{2}}$$")
    elif kind == 4:
        lines = "\n".join(f"  console.log('step {j}', {j} * {k});" for j in range(rng.randint(1, 9)))
        parts.append(f"```javascript\nfunction run{k}() {{\n{lines}\n}}\n```")
    else:
        parts.append("\n".join(f"{j + 1}. **{rng.choice(_TOPICS)}**: {rng.choice(_SENTENCES)}"
                               for j in range(rng.randint(2, 5))))
    parts.append(" ".join(rng.sample(_SENTENCES, rng.randint(2, 4))))
    return "\n\n".join(parts) + "\n\n"


@functools.lru_cache(maxsize=16)
def long_pieces(n: int, offset: int = 0) -> Tuple[str, ...]:
    """Exactly ``n`` tokens of varied, well-formed Markdown (whole sections, then a filler paragraph)."""
    pieces: List[str] = []
    k = offset
    while True:
        section = split_pieces(_section(k))
        if len(pieces) + len(section) > n:
            break
        pieces.extend(section)
        k += 1
    words = " ".join(_SENTENCES[k % len(_SENTENCES):] + _SENTENCES).split()
    while len(words) < n - len(pieces):
        words += words
    filler = words[: n - len(pieces)]
    pieces.extend(w + " " for w in filler[:-1])
    if filler:
        pieces.append(filler[-1] + "\n")
    return tuple(pieces)


def limit_pieces(pieces, stop, max_tokens: Optional[int]) -> Tuple[List[str], str]:
    """Apply ``stop`` (cut before the first stop sequence) then the token limit (finish "length")."""
    pieces = list(pieces)
    stops = [stop] if isinstance(stop, str) else (stop or [])
    text = "".join(pieces) if stops else ""
    cuts = [text.find(s) for s in stops if s and s in text]
    if cuts:
        cut, used, kept = min(cuts), 0, []
        for piece in pieces:
            if used + len(piece) > cut:
                if cut > used:
                    kept.append(piece[: cut - used])
                break
            kept.append(piece)
            used += len(piece)
        pieces = kept
    if max_tokens is not None and len(pieces) > max_tokens:
        return pieces[:max_tokens], "length"
    return pieces, "stop"


# ---------------------------------------------------------------- chat: about the context sent

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<where>\S+))?\n'
                    r"(?P<code>[^\n]*)", re.MULTILINE)
_RAISED = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration))"
                     r"(?::\s*(?P<text>[^\n]*))?\s*$", re.MULTILINE)
_CELL = re.compile(r"```python\n(?P<cell>.*?)\n```", re.DOTALL)


def _describe_image(url: str) -> str:
    from ..image_header import read_header

    if not url.startswith("data:"):
        host = url.split("/")[2] if url.count("/") >= 2 else url
        return f"I received an image URL on {host} (the practice server does not fetch it)."
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except (ValueError, IndexError):
        return "I received an image whose data URL is not valid base64."
    header = read_header(data)
    if header is None:
        return f"I received {len(data)} bytes that are not a PNG, JPEG, GIF or WebP image."
    article = "an" if header.format[0] in "AEIOU" else "a"
    return f"I received {article} {header.format} image, {header.width}×{header.height}."


def context_answer(messages: list) -> Optional[str]:
    """A deterministic answer about the images and tracebacks in the last user message, or None.

    For an image it reads the header (format, size); for a traceback it names the exception
    and the last frame's line, and offers the cell back as the "corrected" code block.
    """
    user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    content = (user or {}).get("content")
    text = message_text(content)
    urls = [p["image_url"].get("url", "") for p in content if isinstance(p, dict)
            and p.get("type") == "image_url" and isinstance(p.get("image_url"), dict)] \
        if isinstance(content, list) else []
    lines = [_describe_image(url) for url in urls]
    if "Traceback (most recent call last):" in text:
        frames = list(_FRAME.finditer(text))
        raised = list(_RAISED.finditer(text))
        kind = raised[-1].group("type") if raised else "an exception"
        said = (raised[-1].group("text") or "").strip() if raised else ""
        where = ""
        if frames:
            last = frames[-1]
            where = f", raised at line {last.group('line')}: `{last.group('code').strip()}`"
        lines.append(f"The traceback ends in {kind}{f' ({said})' if said else ''}{where}.")
        cell = _CELL.search(text)
        if cell:
            lines.append("A corrected cell would go here; the practice server offers the cell back:\n\n"
                         f"```python\n# practice: check the line named above\n{cell.group('cell')}\n```")
    if not lines:
        return None
    if text.startswith("Context:"):
        lines.insert(0, "I received a context block before the prompt.")
    prompt = next((p.get("text", "") for p in reversed(content) if isinstance(p, dict)
                   and p.get("type") == "text"), "") if isinstance(content, list) else text
    if "Traceback (most recent call last):" not in prompt:
        lines.append(f"You wrote: “{quote(prompt)}”")
    return "\n\n".join(lines) + "\n"


# ---------------------------------------------------------------- chat: the response


def _choice_deltas(body: dict, prompt: str, directives: dict, index: int, n: int,
                   repeat_names: bool = False):
    """(serialized deltas, message content or None, tool_calls or None, finish, tokens) of one choice.

    ``repeat_names``: every tool-call chunk carries the id and the whole name again (llama.cpp).
    """
    planned = plan_tool_calls(body) if body.get("tools") else None
    if planned:
        calls, deltas = [], []
        for j, call in enumerate(planned):
            name = call["name"]
            seen = len(body.get("messages") or ())  # a new id each round, the same for a replay
            call_id = "call_" + hashlib.sha256(f"{seen}|{index}|{j}|{name}".encode()).hexdigest()[:24]
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": call["name"], "arguments": call["arguments"]}})
            first = {"index": j, "id": call_id, "type": "function",
                     "function": {"name": call["name"], "arguments": ""}}
            deltas.append(_dumps({"tool_calls": [first]}).decode())
            again = {"id": call_id, "type": "function"} if repeat_names else {}
            for piece in split_pieces(call["arguments"]):
                function = {"name": name, "arguments": piece} if repeat_names else {
                    "arguments": piece}
                deltas.append(_dumps({"tool_calls": [
                    {"index": j, **again, "function": function}]}).decode())
        return deltas, None, calls, "tool_calls", len(deltas)
    after_tools = tool_results_answer(body["messages"])
    if (body.get("response_format") or {}).get("type") == "json_schema":
        schema = ((body["response_format"].get("json_schema") or {}).get("schema")) or {}
        example = schema_example(schema, schema, prompt, "answer")
        pieces = split_pieces(json.dumps(example, indent=2, ensure_ascii=False))
    elif after_tools is not None:
        pieces = split_pieces(after_tools)
    elif "echo" in directives:
        pieces = split_pieces(prompt)
    elif "tokens" in directives:
        count = int(directives["tokens"])
        if count > MAX_TOKENS_DIRECTIVE:
            raise RequestError(400, f"[[tokens=N]] allows at most {MAX_TOKENS_DIRECTIVE} tokens.")
        if "lang" in directives or "shape" in directives:
            from .corpus import shaped_pieces

            pieces = shaped_pieces(count, str(directives.get("lang", "en")),
                                   str(directives.get("shape", "prose")), index * 7)
        else:
            pieces = long_pieces(count, index * 7)
    elif "json" in directives or (body.get("response_format") or {}).get("type") in (
            "json_object", "json_schema"):
        pieces = split_pieces(_json_answer(prompt, body, index))
    elif context_answer(body["messages"]) is not None:
        pieces = split_pieces(context_answer(body["messages"]))
    else:
        pieces = split_pieces(_default_answer(prompt, body, index, n, Context.of(body["messages"])))
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    pieces, finish = limit_pieces(pieces, body.get("stop"), max_tokens)
    deltas = ['{"content":' + json.dumps(p, ensure_ascii=False) + "}" for p in pieces]
    return deltas, "".join(pieces), None, finish, len(pieces)


def schema_example(schema: dict, root: dict, prompt: str, name: str):
    """A value that validates against ``schema`` (the strict subset), made from the prompt."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return schema_example(target, root, prompt, name)
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "anyOf" in schema:
        members = [m for m in schema["anyOf"] if m.get("type") != "null"] or schema["anyOf"]
        return schema_example(members[0], root, prompt, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {key: schema_example(sub, root, prompt, key)
                for key, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [schema_example(schema.get("items") or {"type": "string"}, root, prompt, name)]
    if kind == "integer":
        return len(prompt.split())
    if kind == "number":
        return len(prompt.split()) / 2
    if kind == "boolean":
        return len(prompt.split()) % 2 == 0
    if kind == "null":
        return None
    return f"{name} from: {quote(prompt, 60)}"


def reasoning_pieces(body: dict, prompt: str) -> List[str]:
    """A short reasoning stream when ``reasoning_effort`` asks for one (not "none")."""
    effort = body.get("reasoning_effort")
    if not effort or effort == "none":
        return []
    words = len(prompt.split())
    return split_pieces(f"The question has {words} word{'s' if words != 1 else ''}. "
                        f"Thinking with {effort} effort, a short answer will do.")


def cache_key(body: dict) -> str:
    return hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()


def chat_reply(body, repeat_tool_call_names: bool = False,
               seen_prompts: Optional[set] = None) -> Reply:
    """A chat.completion, or (``stream: true``) chat.completion.chunk SSE events interleaved by choice.

    ``repeat_tool_call_names`` streams tool calls the way llama.cpp does (see _practice_quirks).
    ``seen_prompts`` (the server's memory): a repeated prompt reports its tokens as cached.
    """
    validate_chat(body)
    messages = body["messages"]
    prompt = next((message_text(m.get("content")) for m in reversed(messages)
                   if m.get("role") == "user"), "")
    prompt, directives = parse_directives(prompt)
    n = body.get("n") or 1
    choices = [_choice_deltas(body, prompt, directives, i, n, repeat_tool_call_names)
               for i in range(n)]
    thoughts = reasoning_pieces(body, prompt)
    if thoughts:
        lead = ['{"reasoning_content":' + json.dumps(p, ensure_ascii=False) + "}" for p in thoughts]
        choices = [(lead + deltas, content, calls, finish, tokens)
                   for deltas, content, calls, finish, tokens in choices]
    prompt_tokens = sum(4 + len(message_text(m.get("content")).split()) for m in messages) + 3
    reasoning_tokens = len(thoughts) * n
    completion_tokens = sum(c[4] for c in choices) + reasoning_tokens
    cached_tokens = 0
    if seen_prompts is not None:
        key = cache_key(body)
        cached_tokens = prompt_tokens if key in seen_prompts else 0
        seen_prompts.add(key)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens,
             "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "audio_tokens": 0,
                                           "accepted_prediction_tokens": 0,
                                           "rejected_prediction_tokens": 0}}
    head = {"id": f"chatcmpl-practice{secrets.token_hex(8)}", "created": int(time.time()),
            "model": body["model"], "service_tier": "default", "system_fingerprint": FINGERPRINT}
    pace = directives["pace"] / 1000 if "pace" in directives else None
    delay = min(directives.get("delay_ms", 0), MAX_DELAY_MS) / 1000
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = _chat_events(head, choices, usage if include_usage else None)
        return Reply(content_type="text/event-stream; charset=utf-8", events=events, pace=pace,
                     delay=delay)
    completion = {"id": head["id"], "object": "chat.completion", **head, "choices": [
        {"index": i, "message": {"role": "assistant", "content": content, "refusal": None,
                                 "annotations": [], **({"tool_calls": calls} if calls else {}),
                                 **({"reasoning_content": "".join(thoughts)} if thoughts else {})},
         "logprobs": None, "finish_reason": finish}
        for i, (_, content, calls, finish, _) in enumerate(choices)], "usage": usage}
    return Reply(body=_dumps(completion), delay=delay)


def _chat_events(head: dict, choices: list, usage: Optional[dict]) -> Iterator[Tuple[bytes, bool]]:
    """Role chunk per choice, content chunks round robin by choice, finish chunks, usage, [DONE]."""
    start = json.dumps({"id": head["id"], "object": "chat.completion.chunk", **head},
                       separators=(",", ":"), ensure_ascii=False)[:-1]
    if usage is not None:
        start += ',"usage":null'
    template = 'data: %s,"choices":[{"index":%d,"delta":%s,"logprobs":null,"finish_reason":%s}]}\n\n'

    def chunk(index: int, delta: str, finish: str = "null") -> bytes:
        return (template % (start, index, delta, finish)).encode()

    for i, (_, content, _, _, _) in enumerate(choices):
        role = '{"role":"assistant","content":"","refusal":null}'
        yield chunk(i, role if content is not None else role.replace('""', "null")), False
    longest = max(len(c[0]) for c in choices)
    for step in range(longest + 1):
        for i, (deltas, _, _, finish, _) in enumerate(choices):
            if step < len(deltas):
                yield chunk(i, deltas[step]), True
            elif step == len(deltas):
                yield chunk(i, "{}", f'"{finish}"'), False
    if usage is not None:
        yield sse_event({"id": head["id"], "object": "chat.completion.chunk", **head,
                         "choices": [], "usage": usage}), False
    yield sse_event("[DONE]"), False
