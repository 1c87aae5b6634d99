"""The practice chat completion, as a pure function of the request (no sockets, no sleeping).

``chat_reply`` validates the body (``validation``), picks each choice's text (``answer_text``)
or tool calls (``tools``), and frames it as one completion or as SSE chunks (``wire``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Iterator, List, Optional, Tuple

from .answer_text import (
    MAX_DELAY_MS,
    Context,
    context_answer,
    default_answer,
    json_answer,
    limit_pieces,
    long_pieces,
    message_text,
    parse_directives,
    quote,
)
from .extras import citations, served_tier, token_logprobs
from .tools import plan_tool_calls, tool_results_answer
from .validation import validate_chat
from .wire import (
    FINGERPRINT,
    MAX_TOKENS_DIRECTIVE,
    Reply,
    RequestError,
    json_bytes,
    split_pieces,
    sse_event,
)


def _choice_deltas(body: dict, prompt: str, directives: dict, index: int, n: int,
                   repeat_names: bool = False, thinking: int = 0):
    """(serialized deltas, message content or None, tool_calls or None, finish, tokens) of one choice.

    ``repeat_names``: every tool-call chunk carries the id and the whole name again (llama.cpp).
    ``thinking``: reasoning tokens spent first, out of the same token limit (as reasoning models
    count them), so a small limit leaves an answer that is all reasoning.
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
            deltas.append(json_bytes({"tool_calls": [first]}).decode())
            again = {"id": call_id, "type": "function"} if repeat_names else {}
            for piece in split_pieces(call["arguments"]):
                function = {"name": name, "arguments": piece} if repeat_names else {
                    "arguments": piece}
                deltas.append(json_bytes({"tool_calls": [
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
        pieces = split_pieces(json_answer(prompt, body, index))
    elif context_answer(body["messages"]) is not None:
        pieces = split_pieces(context_answer(body["messages"]))
    else:
        pieces = split_pieces(default_answer(prompt, body, index, n, Context.of(body["messages"])))
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None and thinking:
        max_tokens = max(0, max_tokens - thinking)
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

    ``repeat_tool_call_names`` streams tool calls the way llama.cpp does (see quirks.py).
    ``seen_prompts`` (the server's memory): a repeated prompt reports its tokens as cached.
    """
    validate_chat(body)
    messages = body["messages"]
    prompt = next((message_text(m.get("content")) for m in reversed(messages)
                   if m.get("role") == "user"), "")
    prompt, directives = parse_directives(prompt)
    n = body.get("n") or 1
    thoughts = reasoning_pieces(body, prompt)
    choices = [_choice_deltas(body, prompt, directives, i, n, repeat_tool_call_names, len(thoughts))
               for i in range(n)]
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
            "model": body["model"], "service_tier": served_tier(body),
            "system_fingerprint": FINGERPRINT}
    pace = directives["pace"] / 1000 if "pace" in directives else None
    delay = min(directives.get("delay_ms", 0), MAX_DELAY_MS) / 1000
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = _chat_events(head, choices, usage if include_usage else None, body)
        return Reply(content_type="text/event-stream; charset=utf-8", events=events, pace=pace,
                     delay=delay)
    completion = {"id": head["id"], "object": "chat.completion", **head, "choices": [
        {"index": i, "message": {"role": "assistant", "content": content, "refusal": None,
                                 "annotations": citations(body, content),
                                 **({"tool_calls": calls} if calls else {}),
                                 **({"reasoning_content": "".join(thoughts)} if thoughts else {})},
         "logprobs": token_logprobs(body, content or ""), "finish_reason": finish}
        for i, (_, content, calls, finish, _) in enumerate(choices)], "usage": usage}
    return Reply(body=json_bytes(completion), delay=delay)


def _chat_events(head: dict, choices: list, usage: Optional[dict],
                 body: Optional[dict] = None) -> Iterator[Tuple[bytes, bool]]:
    """Role chunk per choice, content chunks round robin by choice, finish chunks, usage, [DONE].

    Asked for them, each content chunk carries its logprobs, and citations come in a last
    delta with no text before the finish chunk, as OpenAI's search models send them."""
    body = body or {}
    start = json.dumps({"id": head["id"], "object": "chat.completion.chunk", **head},
                       separators=(",", ":"), ensure_ascii=False)[:-1]
    if usage is not None:
        start += ',"usage":null'
    template = 'data: %s,"choices":[{"index":%d,"delta":%s,"logprobs":%s,"finish_reason":%s}]}\n\n'

    def chunk(index: int, delta: str, finish: str = "null") -> bytes:
        logprobs = None
        if body.get("logprobs") is True and delta.startswith('{"content":'):
            logprobs = token_logprobs(body, json.loads(delta).get("content") or "")
        return (template % (start, index, delta, json.dumps(logprobs), finish)).encode()

    for i, (_, content, _, _, _) in enumerate(choices):
        role = '{"role":"assistant","content":"","refusal":null}'
        yield chunk(i, role if content is not None else role.replace('""', "null")), False
    longest = max(len(c[0]) for c in choices)
    for step in range(longest + 1):
        for i, (deltas, content, _, finish, _) in enumerate(choices):
            if step < len(deltas):
                yield chunk(i, deltas[step]), True
            elif step == len(deltas):
                cited = citations(body, content)
                if cited:
                    yield chunk(i, json.dumps({"annotations": cited})), False
                yield chunk(i, "{}", f'"{finish}"'), False
    if usage is not None:
        yield sse_event({"id": head["id"], "object": "chat.completion.chunk", **head,
                         "choices": [], "usage": usage}), False
    yield sse_event("[DONE]"), False
