"""What every practice endpoint shares: the model list, the error and reply shapes, SSE framing.

Pure data and formatting, no sockets; the chat, audio and batch answers build on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

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
    "gpt-4o-transcribe-diarize": (1760000000, "system"),
    "practice-1": (1700000000, "oai-magic-practice"),
}
TRANSCRIBE_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe",
                     "gpt-4o-transcribe-diarize")
STREAMING_TRANSCRIBE_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe",
                               "gpt-4o-transcribe-diarize")
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
        return Reply(body=json_bytes({"object": "list", "data": [card(m) for m in MODELS]}))
    if model_id not in MODELS:
        raise no_such_model(model_id)
    return Reply(body=json_bytes(card(model_id)))


def json_bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def no_such_model(model: str) -> RequestError:
    return RequestError(404, f"The model `{model}` does not exist or you do not have access to "
                        f"it. The practice server knows: {', '.join(MODELS)}.",
                        code="model_not_found", param="model")
