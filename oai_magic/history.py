"""Chat history: messages as the API takes them, and named conversations recorded turn by turn.

Plain data, checked when loaded from an export; the kernel state keeps one ``Conversation`` per
name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

# A user message with context is a list of content parts, recorded exactly as sent.
Content = Union[str, List[Dict[str, Any]], None]
IMAGE_TOKENS = 800  # an image counts this much in the history budget, not its base64 length
FILE_CHARS_PER_TOKEN = 16  # a file's base64 counts this many characters a token (a guess)


def content_text(content: Content) -> str:
    """The text of a message: a string, or its text parts (images as a short mark)."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = [p.get("text", "") for p in content if p.get("type") == "text"]
    images = sum(1 for p in content if p.get("type") == "image_url")
    mark = [f"[{images} image{'s' if images != 1 else ''}]"] if images else []
    mark += [f"[file {name}]" for name in content_files(content)]
    return "\n\n".join([*texts, *mark])


def content_files(content: Content) -> List[str]:
    """The file names of a message's ``file`` parts (issue 29: ``--file``)."""
    if not isinstance(content, list):
        return []
    return [str((p.get("file") or {}).get("filename") or "file") for p in content
            if p.get("type") == "file"]


def content_images(content: Content) -> List[str]:
    """The image URLs (data: or https:) in a message's content parts."""
    if not isinstance(content, list):
        return []
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


def _checked_parts(content: Any) -> Content:
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError("message content must be a string or a list of parts")
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        if kind == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
            continue
        if kind == "file" and isinstance(part.get("file"), dict) and all(
                isinstance(v, str) for v in part["file"].values()):
            continue
        raise ValueError("a content part must be text, image_url or file")
    return [dict(p) for p in content]


@dataclass
class Message:
    """One chat message as kept in history; ``partial`` marks an answer cut short."""

    role: str
    content: Content = None
    partial: bool = False
    tool_calls: Optional[List[Dict[str, Any]]] = None
    tool_call_id: Optional[str] = None
    name: Optional[str] = None
    alternatives: Optional[List[str]] = None

    def to_api(self) -> Dict[str, Any]:
        """The message as the API takes it; ``tool_calls`` go with ``content: ""``, not null.

        llama.cpp refuses ``null`` there with a 500 (the OpenAI API takes both), and histories
        recorded or loaded earlier hold ``None``: both are sent the same, accepted way.
        """
        content = self.content
        if content is None and self.tool_calls:
            content = ""
        message: Dict[str, Any] = {"role": self.role, "content": content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        if self.name is not None and self.role != "tool":
            message["name"] = self.name
        return message

    def to_dict(self) -> Dict[str, Any]:
        data = self.to_api()
        if self.partial:
            data["partial"] = True
        if self.alternatives:
            data["alternatives"] = list(self.alternatives)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "message") -> Message:
        """A message from an export, checked field by field; ValueError names the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not an object")
        try:
            content = _checked_parts(data.get("content"))
        except ValueError as exc:
            raise ValueError(f"{where}.content: {exc}") from None
        role = data.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"{where}.role is {role!r}, not system, user, assistant or tool")
        for name in ("tool_call_id", "name"):  # content: text or parts, checked above
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"{where}.{name} must be text")
        if not isinstance(data.get("partial", False), bool):
            raise ValueError(f"{where}.partial must be true or false")
        alternatives = data.get("alternatives")
        if alternatives is not None and not (
            isinstance(alternatives, list) and all(isinstance(a, str) for a in alternatives)
        ):
            raise ValueError(f"{where}.alternatives must be a list of texts")
        tool_calls = data.get("tool_calls")
        if tool_calls is not None:
            _check_tool_calls(tool_calls, f"{where}.tool_calls")
        if role == "tool" and not data.get("tool_call_id"):
            raise ValueError(f"{where}.tool_call_id is missing (a tool message answers a call)")
        return cls(
            role=role,
            content=content,
            partial=data.get("partial", False),
            tool_calls=tool_calls or None,
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
            alternatives=alternatives,
        )


def _check_tool_calls(tool_calls: Any, where: str) -> None:
    if not isinstance(tool_calls, list):
        raise ValueError(f"{where} must be a list")
    for i, call in enumerate(tool_calls):
        at = f"{where}[{i}]"
        if not isinstance(call, dict):
            raise ValueError(f"{at} is not an object")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise ValueError(f"{at}.id must be text")
        if call.get("type", "function") != "function":
            raise ValueError(f"{at}.type must be \"function\"")
        function = call.get("function")
        if not isinstance(function, dict):
            raise ValueError(f"{at}.function must be an object")
        for name in ("name", "arguments"):
            if not isinstance(function.get(name), str):
                raise ValueError(f"{at}.function.{name} must be text")


def estimate_tokens(text: Content) -> int:
    """A cheap size estimate (about four characters a token) for the history budget; an image
    counts a fixed amount, so its base64 does not push the whole history out."""
    if isinstance(text, list):
        images = len(content_images(text))
        texts = "".join(p.get("text", "") for p in text if p.get("type") == "text")
        files = sum(len((p.get("file") or {}).get("file_data") or "") for p in text
                    if p.get("type") == "file")
        return 1 + len(texts) // 4 + images * IMAGE_TOKENS + files // FILE_CHARS_PER_TOKEN
    return 1 + len(text or "") // 4


@dataclass
class Conversation:
    """A named thread. Turns are recorded whole, when the answer is over."""

    name: str
    system: Optional[str] = None
    messages: List[Message] = field(default_factory=list)

    def record_turn(self, user: Message, replies: List[Message]) -> None:
        self.messages.append(user)
        self.messages.extend(replies)

    def turns(self) -> List[List[Message]]:
        """Messages grouped by exchange: each starts with a user message."""
        groups: List[List[Message]] = []
        for message in self.messages:
            if message.role == "user" or not groups:
                groups.append([message])
            else:
                groups[-1].append(message)
        return groups

    def undo(self) -> List[Message]:
        """Drop the last exchange and return it (empty when there is none)."""
        groups = self.turns()
        if not groups:
            return []
        last = groups[-1]
        del self.messages[len(self.messages) - len(last) :]
        return last

    def reset(self) -> None:
        self.messages.clear()

    def api_messages(
        self,
        new_messages: List[Message],
        *,
        max_messages: Optional[int] = None,
        max_tokens: Optional[int] = None,
    ) -> Tuple[List[Dict[str, Any]], int]:
        """History plus ``new_messages`` within budget; returns (messages, exchanges dropped).

        The oldest exchanges go first; the system prompt and the new messages are always kept.
        """
        groups = self.turns()
        fixed = [Message("system", self.system)] if self.system else []
        fixed_tokens = sum(estimate_tokens(m.content) for m in fixed + new_messages)
        fixed_count = len(fixed) + len(new_messages)
        kept: List[List[Message]] = []
        count, tokens = fixed_count, fixed_tokens
        for group in reversed(groups):
            group_tokens = sum(estimate_tokens(m.content) for m in group)
            if max_messages is not None and count + len(group) > max_messages:
                break
            if max_tokens is not None and tokens + group_tokens > max_tokens:
                break
            kept.append(group)
            count += len(group)
            tokens += group_tokens
        dropped = len(groups) - len(kept)
        ordered = [m for group in reversed(kept) for m in group]
        return [m.to_api() for m in fixed + ordered + new_messages], dropped

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "system": self.system,
            "messages": [m.to_dict() for m in self.messages],
        }


class ConversationView:
    """A conversation as callers see it (``session.conversations[name]``): read-only.

    ``messages`` are copies, so changing one changes nothing recorded; every change goes through
    the session (a turn, ``%chat undo``, ``load``...), under its lock, where listeners hear it.
    """

    __slots__ = ("_thread",)

    def __init__(self, thread: Conversation) -> None:
        self._thread = thread

    @property
    def name(self) -> str:
        return self._thread.name

    @property
    def system(self) -> Optional[str]:
        return self._thread.system

    @property
    def messages(self) -> List[Message]:
        return [dataclasses.replace(m) for m in self._thread.messages]

    def turns(self) -> List[List[Message]]:
        return self._thread.turns()

    def to_dict(self) -> Dict[str, Any]:
        return self._thread.to_dict()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ConversationView):
            other = other._thread
        return self._thread == other

    def __repr__(self) -> str:
        return f"<Conversation {self.name!r}: {len(self._thread.messages)} messages>"

