"""The practice server's tool calls: deterministic plans from the offered ``tools`` and the prompt.

When tools are offered (and ``tool_choice`` is not ``"none"``) the practice model calls one:
the one ``tool_choice`` names, else the first (every tool with ``[[all-tools]]``). Required
arguments come from the prompt (numbers in order, quoted or capitalised words for strings),
else example values. Once tool results are in, it answers in text quoting them.

Directives in the prompt: ``[[tool-rounds=K]]`` keeps calling for K rounds; ``[[bad-tool-args]]``
sends arguments that are not JSON; ``[[unknown-tool]]`` calls a tool that was not offered.
Standard library only, imports nothing of ours.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

UNKNOWN_TOOL = "no_such_tool"
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']+)'")
_CAPITALISED = re.compile(r"(?<=[a-z,;:] )([A-Z][\w-]+)")
_TOOL_DIRECTIVE = re.compile(r"\[\[(all-tools|bad-tool-args|unknown-tool|tool-rounds=\d+)\]\]")


def tool_directives(text: str) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for match in _TOOL_DIRECTIVE.finditer(text):
        name, _, value = match.group(1).partition("=")
        found[name] = int(value) if value else True
    return found


def strip_tool_directives(text: str) -> str:
    return re.sub(r" ?" + _TOOL_DIRECTIVE.pattern + r" ?", " ", text).strip()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _since_last_user(messages: List[dict]) -> List[dict]:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], dict) and messages[i].get("role") == "user":
            return messages[i + 1:]
    return list(messages)


def _last_prompt(messages: List[dict]) -> str:
    return next((_text(m.get("content")) for m in reversed(messages)
                 if isinstance(m, dict) and m.get("role") == "user"), "")


def _function(tool: Any) -> Dict[str, Any]:
    return (tool.get("function") or {}) if isinstance(tool, dict) else {}


def plan_tool_calls(body: dict) -> Optional[List[Dict[str, str]]]:
    """``[{"name", "arguments"}]`` to call now, or None to answer in text."""
    tools = [t for t in body.get("tools") or [] if _function(t).get("name")]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    messages = body.get("messages") or []
    prompt = _last_prompt(messages)
    directives = tool_directives(prompt)
    rounds_done = sum(1 for m in _since_last_user(messages)
                      if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls"))
    if rounds_done >= directives.get("tool-rounds", 1):
        return None
    named = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if named:
        chosen = [t for t in tools if _function(t)["name"] == named] or tools[:1]
    elif directives.get("all-tools"):
        chosen = tools
    else:
        chosen = tools[:1]
    text = strip_tool_directives(prompt)
    calls = [{"name": _function(t)["name"],
              "arguments": json.dumps(example_arguments(_function(t).get("parameters") or {}, text))}
             for t in chosen]
    if directives.get("bad-tool-args"):
        calls[0]["arguments"] = calls[0]["arguments"][:-1] + ", oops"
    if directives.get("unknown-tool"):
        calls[0]["name"] = UNKNOWN_TOOL
    return calls


def example_arguments(parameters: Dict[str, Any], prompt: str) -> Dict[str, Any]:
    """Values for the required parameters (the prompt's, else examples), then for optional
    numbers and strings while the prompt has unused ones."""
    numbers = [float(n) if "." in n else int(n) for n in _NUMBER.findall(prompt)]
    words = [next(g for g in m if g) for m in _QUOTED.findall(prompt)]
    words += _CAPITALISED.findall(prompt)
    properties = parameters.get("properties") or {}
    required = [n for n in parameters.get("required") or [] if n in properties]
    arguments: Dict[str, Any] = {}
    for name in required:
        arguments[name] = _example(properties[name], numbers, words)
    for name, schema in properties.items():  # optional ones only while the prompt has values left
        kind = schema.get("type") if isinstance(schema, dict) else None
        if name in arguments or "enum" in schema:
            continue
        if (kind in ("integer", "number") and numbers) or (kind == "string" and words):
            arguments[name] = _example(schema, numbers, words)
    return arguments


def _example(schema: Dict[str, Any], numbers: List[Any], words: List[str]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind in ("integer", "number"):
        if numbers:
            value = numbers.pop(0)
            return int(value) if kind == "integer" else value
        return 3 if kind == "integer" else 2.5
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items") or {}
        if items.get("type") in ("integer", "number") and numbers:
            taken, numbers[:] = list(numbers), []
            return taken
        return [_example(items, numbers, words)]
    if kind == "object":
        return {}
    return words.pop(0) if words else "example"


def tool_results_answer(messages: List[dict]) -> Optional[str]:
    """The text answer once tool results are the last messages: each result quoted."""
    recent = _since_last_user(messages)
    if not recent or recent[-1].get("role") != "tool":
        return None
    names: Dict[str, str] = {}
    for message in recent:
        for call in message.get("tool_calls") or []:
            names[call.get("id") or ""] = (call.get("function") or {}).get("name") or "?"
    trailing: List[dict] = []
    for message in reversed(recent):
        if message.get("role") != "tool":
            break
        trailing.insert(0, message)
    parts = ["Built from the tool results:"]
    for message in trailing:
        content = _text(message.get("content"))
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", content)), default=0))
        name = names.get(message.get("tool_call_id") or "", "?")
        parts.append(f"**{name}** returned:\n\n{fence}\n{content}\n{fence}")
    return "\n\n".join(parts) + "\n"
