"""Kernel state: settings and named conversations, one object per IPython shell.

Everything here is plain data. The magics and the chat panel are two faces on the same
:class:`KernelState`, so a turn sent from either shows up in both.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

DEFAULT_BASE_URL = "https://api.openai.com/v1"


# The practice server's out-of-band identification (CONTRACTS 4); practice.py sends it.
PRACTICE_HEADER = "x-oai-practice"


def from_practice_server(headers: Dict[str, str]) -> bool:
    """Did the answering server say it is the practice server (whatever URL reached it)?"""
    return str(headers.get(PRACTICE_HEADER, "")).strip() == "1"


def mask_key(key: Optional[str]) -> str:
    """Show a key as ``sk-…abcd``: enough to recognise it, never enough to use it."""
    if not key:
        return "(not set)"
    prefix = "sk-" if key.startswith("sk-") else ""
    tail = key[-4:] if len(key) >= 12 else ""
    return f"{prefix}…{tail}"


class Secret:
    """A string that never shows itself: repr, str and format all mask it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({mask_key(self._value)!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        raise TypeError("an API key is not pickled")


@dataclass
class Settings:
    """What a request needs from the session; ``None`` means "fall back to the environment"."""

    api_key: Optional[Secret] = None
    organization: Optional[str] = None
    project: Optional[str] = None
    base_url: Optional[str] = None
    model: str = "gpt-4o-mini"
    timeout: float = 600.0
    max_retries: int = 2

    def resolved_key(self) -> Optional[str]:
        if self.api_key is not None:
            return self.api_key.reveal()
        return os.environ.get("OPENAI_API_KEY") or None

    def resolved_organization(self) -> Optional[str]:
        return self.organization or os.environ.get("OPENAI_ORG_ID") or None

    def resolved_project(self) -> Optional[str]:
        return self.project or os.environ.get("OPENAI_PROJECT_ID") or None

    def resolved_base_url(self) -> str:
        url = self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return url.rstrip("/")

    def key_required(self) -> bool:
        """Only OpenAI's own API needs a key; a local server is sent none when none is set."""
        host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", self.resolved_base_url()).split("/")[0]
        host = host.rsplit("@", 1)[-1].split(":")[0].lower()
        return host == "openai.com" or host.endswith(".openai.com")

    def key_source(self) -> str:
        if self.api_key is not None:
            return "session"
        return "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else "none"


@dataclass
class Message:
    """One chat message as kept in history; ``partial`` marks an answer cut short."""

    role: str
    content: Optional[str] = None
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
    def from_dict(cls, data: Dict[str, Any]) -> Message:
        content = data.get("content")
        if content is not None and not isinstance(content, str):
            raise ValueError("message content must be a string")
        role = data.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"unknown role {role!r}")
        return cls(
            role=role,
            content=content,
            partial=bool(data.get("partial", False)),
            tool_calls=data.get("tool_calls"),
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
            alternatives=data.get("alternatives"),
        )


def estimate_tokens(text: Optional[str]) -> int:
    """A cheap size estimate (about four characters a token) for the history budget."""
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


Listener = Callable[[str, Dict[str, Any]], None]


class KernelState:
    """Settings, conversations and what the last response said, for one shell."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        self.settings = settings or Settings()
        self.conversations: Dict[str, Conversation] = {}
        self.last_headers: Dict[str, str] = {}
        self.lock = threading.RLock()
        self._listeners: List[Listener] = []
        self.practice_server: Any = None
        self._said_once: set = set()
        # base URL -> the name its server accepts for --max-tokens, learned from a 400.
        self.max_tokens_fields: Dict[str, str] = {}
        # What answers cost (costs.py): %config OAIMagics.prices, the session budgets, and the
        # session's usage ledger, made on first use. The session is the kernel.
        self.prices: Dict[str, Any] = {}
        self.budget_usd: Optional[float] = None
        self.budget_tokens: Optional[int] = None
        self.usage_ledger: Any = None

    def first_time(self, *what: Any) -> bool:
        """True the first time ``what`` is asked about in this session: warnings said once."""
        with self.lock:
            if what in self._said_once:
                return False
            self._said_once.add(what)
            return True

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.conversations)) or "none"
        return f"<KernelState key={mask_key(self.settings.resolved_key())} conversations: {names}>"

    def conversation(self, name: str = "default") -> Conversation:
        with self.lock:
            if name not in self.conversations:
                self.conversations[name] = Conversation(name)
            return self.conversations[name]

    @property
    def last_request_id(self) -> Optional[str]:
        return self.last_headers.get("x-request-id")

    def remember_headers(self, headers: Dict[str, str]) -> None:
        if headers:
            self.last_headers = dict(headers)
            self.notify("response", {"headers": self.last_headers})

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event, info)`` on every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def notify(self, event: str, info: Optional[Dict[str, Any]] = None) -> None:
        for listener in list(self._listeners):
            listener(event, info or {})


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_state(shell: Any) -> KernelState:
    """The one state of this shell, created on first use."""
    state = _STATES.get(shell)
    if state is None:
        state = _STATES[shell] = KernelState()
    return state
