"""The text of a practice chat answer: directives, the default answer, long and JSON answers,
and answers about the context sent (images, tracebacks). Deterministic: the same request always
gets the same text, which is what demos and tests need.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .wire import QUOTE_LIMIT, split_pieces


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


def default_answer(prompt: str, body: dict, index: int, n: int,
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


def json_answer(prompt: str, body: dict, index: int) -> str:
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


_FILE_KINDS = {"application/pdf": "PDF", "text/plain": "text file", "text/csv": "CSV file",
               "application/json": "JSON file", "text/markdown": "Markdown file"}


def _describe_file(file: object) -> str:
    """"I received a PDF, 12.3 KiB." for a ``file`` part (its data URL decoded)."""
    import base64
    import binascii

    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:") or ";base64," not in data:
        return "I received a file I could not read (file_data must be a base64 data URL)."
    mime, encoded = data[5:].split(";base64,", 1)
    try:
        size = len(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return "I received a file whose base64 does not decode."
    kind = _FILE_KINDS.get(mime, f"{mime} file")
    shown = f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else (
        f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} bytes")
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"I received {article} {kind}, {shown}."


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
    lines += [_describe_file(p.get("file")) for p in content if isinstance(p, dict)
              and p.get("type") == "file"] if isinstance(content, list) else []
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
