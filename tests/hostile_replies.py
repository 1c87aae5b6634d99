"""More hostile modes (issue 25, part b): registered into ``hostile_server.MORE_MODES``.

Families: bodies that kill a ``--map`` worker, batch files that mix good and bad lines, text
full of terminal control sequences on every plain-text surface, and the key in encodings a
renderer or a browser decodes. Each reply is a function of (endpoint, key, body).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from .hostile_server import MORE_MODES, Reply, _error, _json, _stream, chunk, sse

# --- --map: malformed bodies ------------------------------------------------------------------

MORE_MODES["map_list_body"] = lambda endpoint, key, body: _json([{"choices": []}])
MORE_MODES["map_choices_string"] = lambda endpoint, key, body: _json(
    {"object": "chat.completion", "choices": "none today", "usage": [1, 2]})


# --- batches: good lines among bad ones ---------------------------------------------------------


def completion(text: str, usage: Any = None) -> Dict[str, Any]:
    return {"object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": usage if usage is not None else {"prompt_tokens": 3, "completion_tokens": 2,
                                                      "total_tokens": 5}}


def batch_line(custom_id: Any, response: Any) -> str:
    return json.dumps({"id": "r", "custom_id": custom_id, "response": response, "error": None})


def ok(text: str, usage: Any = None) -> Dict[str, Any]:
    return {"status_code": 200, "request_id": "req_b", "body": completion(text, usage)}


MIXED_OUTPUT: List[str] = [
    batch_line("0", ok("answer zero")),
    "this line is not JSON {",
    batch_line("1.9", ok("not item one")),
    batch_line(True, ok("not item one either")),
    batch_line("true", ok("nor this")),
    batch_line(" 2 ", ok("not item two")),
    batch_line("01", ok("not item one again")),
    batch_line("-1", ok("no negative items")),
    batch_line("3", "a string where the response object goes"),
    batch_line("4", {"status_code": 200, "body": {"choices": "x", "usage": "many"}}),
    batch_line("5", ok("answer five", usage=[1, 2, 3])),
    batch_line("2", ok("answer two")),
    json.dumps([1, 2, 3]),
]


def _batch(total: Any, status: str = "completed") -> Dict[str, Any]:
    return {"id": "batch_h", "object": "batch", "status": status, "output_file_id": "file-out",
            "error_file_id": "file-err",
            "request_counts": {"total": total, "completed": 5, "failed": 1}}


def _batch_mode(total: Any):
    def reply(endpoint: str, key: str, body: bytes) -> Reply:
        if endpoint.startswith("batches/"):
            return _json(_batch(total))
        if endpoint == "files/file-out/content":
            return Reply(200, {"content-type": "application/octet-stream"},
                         ("\n".join(MIXED_OUTPUT) + "\n").encode())
        return _error(404, "No such File object: file-err")
    return reply


MORE_MODES["batch_mixed"] = _batch_mode(6)
MORE_MODES["batch_huge_total"] = _batch_mode(10**9)
MORE_MODES["batch_counts_list"] = lambda endpoint, key, body: (
    _json({**_batch(6), "request_counts": [6, 5, 1]}) if endpoint.startswith("batches/")
    else _batch_mode(6)(endpoint, key, body))
MORE_MODES["batch_is_list"] = lambda endpoint, key, body: _json([_batch(6)])
MORE_MODES["batch_is_html"] = lambda endpoint, key, body: Reply(
    200, {"content-type": "text/html"}, b"<html><body>Sign in</body></html>")


# --- plain text: control sequences on every surface --------------------------------------------

OSC52 = "\x1b]52;c;ZXZpbA==\x07"
TITLE = "\x1b]0;owned\x07"
CSI = "\x1b[2J\x1b[31m"
BIDI = "\u202e"
HOSTILE_TEXT = f"{OSC52}clip {TITLE}title {CSI}red{BIDI}txt.exe\x07bell\x9b31m"


def _terminal_hostile(endpoint: str, key: str, body: bytes) -> Reply:
    headers = {"x-request-id": f"req_{TITLE}", "openai-organization": f"org-{OSC52}",
               "x-ratelimit-remaining-requests": f"7{CSI}",
               "x-ratelimit-reset-requests": f"1s{TITLE}"}
    if endpoint == "models":
        return _json({"object": "list", "data": [
            {"id": f"gpt-{OSC52}x", "object": "model", "created": 1700000000,
             "owned_by": f"me{TITLE}"}]})
    if endpoint.startswith("audio/"):
        return _json({"text": f"heard {HOSTILE_TEXT}"}, headers)
    model = f"gpt-{TITLE}mini"
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    return _stream([sse(chunk(None, model=model, reasoning_content=f"think {HOSTILE_TEXT}")),
                    sse(chunk(f"answer {HOSTILE_TEXT}", model=model)),
                    sse({**chunk(None, "stop", model=model), "usage": usage}),
                    sse("[DONE]")], headers)


MORE_MODES["terminal_hostile"] = _terminal_hostile
MORE_MODES["error_hostile"] = lambda endpoint, key, body: _error(
    400, f"bad request {HOSTILE_TEXT}", {"x-request-id": f"req_{OSC52}"})


# --- the key in encodings a renderer or a browser decodes -----------------------------------------

_NAMED = {value: name for name, value in __import__("html.entities").entities.html5.items()
          if len(value) == 1 and value.isascii()}


def encode_char(char: str, how: int, rng: Any) -> str:
    """One character as plain text, a decimal or hex reference (any case, leading zeros, with
    or without ";"), a named reference, or a percent-escape."""
    zeros = "0" * rng.randrange(0, 4)
    end = rng.choice([";", ";", ""])
    if how == 1:
        return f"&#{zeros}{ord(char)}{end}"
    if how == 2:
        digits = "".join(rng.choice([d.lower(), d.upper()]) for d in f"{ord(char):x}")
        return f"&#{rng.choice('xX')}{zeros}{digits}{end}"
    if how == 3 and char in _NAMED:
        return f"&{_NAMED[char]}"
    if how == 4:
        return "%" + "".join(rng.choice([d.lower(), d.upper()]) for d in f"{ord(char):02x}")
    return char


def encode_key(key: str, seed: int) -> str:
    """``key`` with each character encoded its own way, some of them twice (``&amp;#115;``)."""
    import random

    rng = random.Random(seed)
    out = []
    for char in key:
        text = encode_char(char, rng.randrange(0, 5), rng)
        if rng.random() < 0.2:  # a second layer over the first one's "&" or "%"
            text = "".join(encode_char(c, rng.choice([1, 2, 4]), rng) if c in "&%" else c
                           for c in text)
        out.append(text)
    return "".join(out)


def _encoded_key(mode: str):
    _, seed, split = mode.split("-")

    def reply(endpoint: str, key: str, body: bytes) -> Reply:
        encoded = encode_key(key, int(seed))
        size = max(1, int(split))
        pieces = [encoded[i:i + size] for i in range(0, len(encoded), size)]
        headers = {f"x-ratelimit-{key}": "1", "x-request-id": f"req_{encoded}"}
        model = f"gpt-{encoded}"
        chunks = [sse(chunk(None, model=model, reasoning_content=p)) for p in pieces]
        chunks += [sse(chunk(p, model=model)) for p in ["Here: ", *pieces, " and a link "]]
        chunks += [sse(chunk(f"[x](https://example.com/?k={encoded}) <https://example.com/{encoded}>"
                             " `" + encoded + "`", "stop", model=model)), sse("[DONE]")]
        return _stream(chunks, headers)
    return reply


MORE_MODES["enc-"] = _encoded_key  # enc-<seed>-<split>: the key encoded by encode_key(key, seed),
# streamed in pieces of <split> characters as reasoning and answer, in a link, an autolink and a
# code span, and in the model id, the request id and a header's name
