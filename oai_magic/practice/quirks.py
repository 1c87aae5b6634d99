"""The practice server's compatibility modes: how servers that are not OpenAI differ from it.

``python -m oai_magic.practice --quirks llamacpp`` (or ``PracticeServer(quirks=...)``, or the
request header ``x-practice-quirks`` for one request) answers the way llama-cpp-python's server
did when the extension was run against it, so every difference the client must absorb can be
tested offline:

- ``llamacpp``: every streamed tool-call chunk repeats the function name and id; an assistant
  message with ``"content": null`` is a 500 carrying a multi-line pydantic dump; other refusals
  are FastAPI ``{"detail": ...}`` bodies; ``n``, ``stream_options.include_usage`` and
  ``max_completion_tokens`` are ignored (``max_tokens`` is honoured while streaming only); a
  prompt longer than the small context gets a 200 event stream with no events when streamed and
  a 400 ``context_length_exceeded`` when not; no key is needed and no ``openai-*`` headers are
  sent. ``tools`` without ``tool_choice`` are ignored (a missing ``tool_choice`` means "none");
  ``response_format: json_schema`` is a 500 pydantic validation error, while
  ``{"type": "json_object", "schema": ...}`` is answered in that schema.
- ``faster-whisper``: audio answers only ``json`` and ``verbose_json`` (others are a
  ``{"detail": ...}`` 400), any model name is accepted, ``verbose_json`` has no ``words``, and
  there is no ``/v1/models`` (404 ``{"detail": "Not Found"}``).
- ``speech-only``: a speech server that serves one model, whatever ``model`` asks for, and says
  which in its JSON answers (``"model"``); it has ``/v1/audio/transcriptions`` and nothing else
  (no translations, no chat, no model list: 404 ``{"detail": "Not Found"}``).

Standard library only, imports nothing of ours but the other practice modules.
"""

from __future__ import annotations

import json
from typing import List, Optional

from .answer_text import message_text
from .answers import chat_reply
from .wire import FormPart, Reply, RequestError

QUIRKS = ("llamacpp", "faster-whisper", "speech-only")
SPEECH_ONLY_MODEL = "whisper-base"
LLAMACPP_CONTEXT_TOKENS = 2048


def check_quirks(name: Optional[str]) -> Optional[str]:
    """The mode's name, or ValueError naming the modes there are (``none`` means no mode)."""
    if name in (None, "", "none"):
        return None
    if name not in QUIRKS:
        raise ValueError(f"unknown quirks mode {name!r}: use one of {', '.join(QUIRKS)}")
    return name


def detail_reply(status: int, detail) -> Reply:
    """A FastAPI-style error body: ``{"detail": "..."}`` (or a list of validation errors)."""
    return Reply(status, body=json.dumps({"detail": detail}).encode())


def prompt_tokens(messages: list) -> int:
    """The size llama.cpp would measure, estimated at about four characters a token."""
    return sum(4 + len(message_text(m.get("content")) if isinstance(m, dict) else 0) // 4
               for m in messages) + 3


def _pydantic_dump(index: int) -> str:
    return (
        "2 validation errors for ChatCompletionRequestAssistantMessage\n"
        f"messages.{index}.content\n"
        "  Input should be a valid string [type=string_type, input_value=None, "
        "input_type=NoneType]\n"
        "    For further information visit https://errors.pydantic.dev/2.9/v/string_type\n"
        f"messages.{index}.tool_calls.0.function\n"
        "  Field required [type=missing, input_value={...}, input_type=dict]\n"
        '  File "/usr/lib/python3/site-packages/llama_cpp/server/app.py", line 412, in '
        "create_chat_completion"
    )


def _schema_refusal(response_format) -> str:
    return (
        "1 validation error for CreateChatCompletionRequest\n"
        "response_format.type\n"
        "  Input should be 'text' or 'json_object' [type=literal_error, "
        f"input_value={response_format.get('type')!r}, input_type=str]\n"
        "    For further information visit https://errors.pydantic.dev/2.9/v/literal_error"
    )


def _llamacpp_options(body: dict) -> dict:
    """The request as llama-cpp-python reads it: no tool_choice means no tools; a schema given
    with ``json_object`` constrains the answer; ``max_tokens`` only binds a stream."""
    body = dict(body)
    if body.get("tools") and body.get("tool_choice") is None:
        body.pop("tools")
    response_format = body.get("response_format")
    if (isinstance(response_format, dict) and response_format.get("type") == "json_object"
            and isinstance(response_format.get("schema"), dict)):
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "schema", "schema": response_format["schema"]}}
    if not body.get("stream"):
        body.pop("max_tokens", None)
    return body


def llamacpp_chat(body) -> Reply:
    """Answer a chat request the way llama-cpp-python's server does (see the module docstring)."""
    if not isinstance(body, dict):
        return detail_reply(422, [{"type": "model_attributes_type", "loc": ["body"],
                                   "msg": "Input should be a valid dictionary", "input": body}])
    messages = body.get("messages") or []
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if (isinstance(message, dict) and message.get("role") == "assistant"
                and message.get("tool_calls") and message.get("content") is None):
            error = {"message": _pydantic_dump(index), "type": "internal_server_error",
                     "param": None, "code": None}
            return Reply(500, body=json.dumps({"error": error}).encode())
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        error = {"message": _schema_refusal(response_format), "type": "internal_server_error",
                 "param": None, "code": None}
        return Reply(500, body=json.dumps({"error": error}).encode())
    size = prompt_tokens(messages if isinstance(messages, list) else [])
    if size > LLAMACPP_CONTEXT_TOKENS:
        if body.get("stream"):
            return Reply(content_type="text/event-stream; charset=utf-8", events=iter(()))
        error = {"message": f"Requested tokens ({size}) exceed context window of "
                            f"{LLAMACPP_CONTEXT_TOKENS}", "type": "invalid_request_error",
                 "param": "messages", "code": "context_length_exceeded"}
        return Reply(400, body=json.dumps({"error": error}).encode())
    body = _llamacpp_options(body)
    body.pop("n", None)
    body.pop("max_completion_tokens", None)
    if body.get("stream"):
        body["stream_options"] = {"include_usage": False}
    else:
        body.pop("stream_options", None)
    try:
        return chat_reply(body, repeat_tool_call_names=True)
    except RequestError as exc:
        return detail_reply(exc.status, exc.message)


def faster_whisper_audio(parts: List[FormPart], task: str, audio_reply) -> Reply:
    """Audio the way faster-whisper-server answers it: json/verbose_json only, no words."""
    fields = {p.name: p.value for p in parts if p.filename is None}
    fmt = fields.get("response_format") or "json"
    if fmt not in ("json", "verbose_json"):
        return detail_reply(400, f"Unsupported response_format: {fmt}")
    renamed = [FormPart(p.name, "whisper-1", None, p.content_type, b"whisper-1")
               if p.name == "model" and p.filename is None else p for p in parts]
    try:
        reply = audio_reply(renamed, task)
    except RequestError as exc:
        return detail_reply(exc.status, exc.message)
    if fmt == "verbose_json" and reply.status == 200:
        data = json.loads(reply.body)
        data.pop("words", None)
        data.pop("usage", None)
        reply.body = json.dumps(data, ensure_ascii=False).encode()
    return reply


def speech_only_audio(parts: List[FormPart], audio_reply) -> Reply:
    """A transcription by the one model there is, whatever was asked, named in JSON answers."""
    served = [FormPart(p.name, "whisper-1", None, p.content_type, b"whisper-1")
              if p.name == "model" and p.filename is None else p for p in parts]
    try:
        reply = audio_reply(served, "transcribe")
    except RequestError as exc:
        return detail_reply(exc.status, exc.message)
    if reply.status == 200 and reply.events is None and "json" in reply.content_type:
        data = json.loads(reply.body)
        data["model"] = SPEECH_ONLY_MODEL
        reply.body = json.dumps(data, ensure_ascii=False).encode()
    return reply
