"""Kernel state: settings and named conversations, one object per IPython shell.

Everything here is plain data. The magics and the chat panel are two faces on the same
:class:`KernelState`, so a turn sent from either shows up in both.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

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


MIN_KEY_RUN = 12


def _key_pieces(key: str) -> Tuple[re.Pattern, int]:
    """A regex finding any run of ``MIN_KEY_RUN`` key characters, and that run length."""
    run = min(MIN_KEY_RUN, len(key))
    grams = {key[i : i + run] for i in range(len(key) - run + 1)}
    pattern = re.compile("|".join(re.escape(g) for g in sorted(grams, key=len, reverse=True)))
    return pattern, run


_PATTERNS: Dict[str, Tuple[re.Pattern, int]] = {}


def _key_matches(text: str, key: str) -> List[Tuple[int, int]]:
    """Spans of ``text`` that are runs of the key (12 or more of its characters), maximal."""
    found = _PATTERNS.get(key)
    if found is None:
        if len(_PATTERNS) > 8:
            _PATTERNS.clear()
        found = _PATTERNS[key] = _key_pieces(key)
    pattern, run = found
    spans: List[Tuple[int, int]] = []
    pos = 0
    while True:
        match = pattern.search(text, pos)
        if match is None:
            return spans
        start, end = match.span()
        # Grow the run while it is still a piece of the key (the key may appear cut anywhere).
        while end < len(text) and text[start : end + 1] in key:
            end += 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        pos = end


def redact(text: str, key: Optional[str]) -> str:
    """The one place a server-derived string loses the key: every run of it becomes ``sk-…abcd``.

    A hostile or careless server can echo the key (in an error, a header, a model id, the
    answer); it must never reach an output, a result, an exception, a conversation or widget
    state. Any run of 12 or more of the key's characters is masked, not only the whole key.
    """
    if not key or not text or not isinstance(text, str) or len(key) < 4:
        return text
    spans = _key_matches(text, key)
    if not spans:
        return text
    masked, last = [], 0
    for start, end in spans:
        masked.append(text[last:start])
        masked.append(mask_key(key))
        last = end
    masked.append(text[last:])
    return "".join(masked)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def redact_data(data: Any, key: Optional[str]) -> Any:
    """``redact`` over every string (keys and values) of decoded JSON.

    Lone surrogates (JSON allows ``"\\ud800"``) become U+FFFD on the way: they cannot be
    encoded as UTF-8, so they would break every display and export later.
    """
    if isinstance(data, str):
        if _LONE_SURROGATE.search(data):
            data = _LONE_SURROGATE.sub("\ufffd", data)
        return redact(data, key)
    if isinstance(data, dict):
        return {redact_data(k, key): redact_data(v, key) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_data(v, key) for v in data]
    return data


class StreamRedactor:
    """Redaction for text that arrives in pieces: a key split across two deltas is still masked.

    ``feed`` returns the part of the text that is safe to show. Of the last ``len(key) - 1``
    characters it holds back only a tail that could still grow into a run of the key (a tail
    that is itself a piece of the key with room to reach 12 characters), so ordinary text is
    not delayed; ``flush`` gives the rest when the stream is over.
    """

    def __init__(self, key: Optional[str]) -> None:
        self.key = key if key and len(key) >= 4 else None
        self._pending = ""

    def feed(self, piece: str) -> str:
        key = self.key
        if key is None:
            return piece
        text = self._pending + piece
        run = min(MIN_KEY_RUN, len(key))
        cut = len(text)
        for start in range(max(0, len(text) - len(key) + 1), len(text)):
            at = key.find(text[start:])
            if at != -1 and len(key) - at >= run:
                cut = start
                break
        for start, end in _key_matches(text, key):
            if start < cut < end:
                cut = start
                break
        self._pending = text[cut:]
        return redact(text[:cut], key)

    def flush(self) -> str:
        """The held-back tail, redacted: the stream is over."""
        text, self._pending = self._pending, ""
        return redact(text, self.key) if self.key else text


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


def _setting(default: Any, help: str) -> Any:
    """A setting that ``c.OAIMagics.<name>`` configures: its default and help live here only."""
    return field(default=default, metadata={"help": help})


@dataclass
class Settings:
    """What a request needs from the session; ``None`` means "fall back to the environment".

    This is the one table of the configurable settings: the magics build their traits from
    these fields (type, default, help), so ``c.OAIMagics.timeout`` and ``Settings.timeout``
    cannot drift apart.
    """

    api_key: Optional[Secret] = None  # never configured in a file: %oai key or OPENAI_API_KEY
    organization: Optional[str] = _setting(None, "OpenAI-Organization header.")
    project: Optional[str] = _setting(None, "OpenAI-Project header.")
    base_url: Optional[str] = _setting(
        None, "API base URL; default OPENAI_BASE_URL or api.openai.com/v1.")
    model: str = _setting("gpt-4o-mini", "Default chat model.")
    timeout: float = _setting(600.0, "Read timeout in seconds (connect timeout is 5 s).")
    max_retries: int = _setting(2, "Retries for 408/409/429/5xx and connection errors.")
    max_answer_chars: int = _setting(
        4_000_000, "An answer longer than this ends with an error (the part kept): a server "
        "could otherwise fill the kernel's memory.")
    max_line_bytes: int = _setting(
        8 * 1024 * 1024, "A single streamed line longer than this ends the answer with an "
        "error (the stream reader buffers a whole line before it can be shown).")
    allow_insecure_http: bool = _setting(
        False, "Do not warn when the base URL is plain http:// to a host that is not this "
        "machine (a classroom server on a LAN).")

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


def configurable_settings() -> Dict[str, Any]:
    """The settings ``c.OAIMagics`` configures, by name: their dataclass fields (type, default,
    help), in the order the traits list them."""
    return {f.name: f for f in fields(Settings) if "help" in f.metadata}


# A user message with context is a list of content parts, recorded exactly as sent.
Content = Union[str, List[Dict[str, Any]], None]
IMAGE_TOKENS = 800  # an image counts this much in the history budget, not its base64 length


def content_text(content: Content) -> str:
    """The text of a message: a string, or its text parts (images as a short mark)."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = [p.get("text", "") for p in content if p.get("type") == "text"]
    images = sum(1 for p in content if p.get("type") == "image_url")
    mark = [f"[{images} image{'s' if images != 1 else ''}]"] if images else []
    return "\n\n".join([*texts, *mark])


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
        raise ValueError("a content part must be text or image_url")
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
        return 1 + len(texts) // 4 + images * IMAGE_TOKENS
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
ClientFactory = Callable[[Settings], Any]  # api.client.OpenAIClient, or a test's own


class KernelState:
    """Settings, conversations and what the last response said, for one shell."""

    def __init__(
        self,
        settings: Optional[Settings] = None,
        client_factory: Optional[ClientFactory] = None,
    ) -> None:
        # Wiring, not session: who makes the HTTP client (the magics hand it in, since the state
        # may not import the api layer). A reset keeps it.
        self.client_factory = client_factory
        self.start_session(settings)

    def start_session(self, settings: Optional[Settings] = None) -> None:
        """Everything a session holds, fresh: settings, conversations, usage, errors, listeners.

        The object stays the same, so the magics and panels that hold it stay wired to it.
        """
        self.settings = settings or Settings()
        self._client: Any = None  # made by client_factory for _client_settings, on first use
        self._client_settings: Optional[Settings] = None
        self.conversations: Dict[str, Conversation] = {}
        self.last_headers: Dict[str, str] = {}
        self.lock = threading.RLock()
        self._listeners: List[Listener] = []
        self._failed_listeners: set = set()
        self._warned_insecure: set = set()
        self.practice_server: Any = None
        self._said_once: set = set()
        # base URL -> the name its server accepts for --max-tokens, learned from a 400.
        self.max_tokens_fields: Dict[str, str] = {}
        self.last_error: Any = None  # context.LastError: the kernel's last exception
        # The sent-line of the cell being run; the next request shows it (then it is cleared).
        self.context_notices: List[str] = []
        # What answers cost (costs.py): %config OAIMagics.prices, the session budgets, and the
        # session's usage ledger, made on first use. The session is the kernel.
        self.prices: Dict[str, Any] = {}
        self.budget_usd: Optional[float] = None
        self.budget_tokens: Optional[int] = None
        self.usage_ledger: Any = None
        self.last_map: Any = None  # mapping.MapResult of the last %%chat --map
        self.batches: Dict[str, Any] = {}  # batch id -> batch.BatchJob, newest last

    def client(self) -> Any:
        """The HTTP client for the current settings: one (one connection pool) per settings
        object, made by the factory the wiring handed in."""
        with self.lock:
            if self._client is None or self._client_settings is not self.settings:
                if self.client_factory is None:
                    raise RuntimeError("this KernelState has no client factory: load the "
                                       "extension (%load_ext oai_magic) or pass client_factory=")
                self._client = self.client_factory(self.settings)
                self._client_settings = self.settings
            return self._client

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

    def insecure_http_warning(self) -> Optional[str]:
        """A one-line warning, once per base URL per session, when the key would travel in clear.

        Plain ``http://`` to a host that is not this machine sends the key and every prompt
        readable on the network. Classrooms on a LAN do this on purpose, so it is a warning,
        silenced by ``OAIMagics.allow_insecure_http = True``.
        """
        url = self.settings.resolved_base_url()
        if self.settings.allow_insecure_http or not url.lower().startswith("http://"):
            return None
        host = url[len("http://") :].split("/")[0].rsplit("@", 1)[-1]
        host = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
        if host.lower() in ("localhost", "::1") or host.startswith("127."):
            return None
        with self.lock:
            if url in self._warned_insecure:
                return None
            self._warned_insecure.add(url)
        return (
            f"Warning: {url} is plain http to another machine: the API key and the conversation "
            "travel unencrypted (OAIMagics.allow_insecure_http = True silences this)."
        )

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
        """Tell every listener; a failing one is logged once and never breaks the caller.

        A listener (the panel) runs inside whatever request notified it: its bug must not turn
        every ``%%chat`` into a traceback, nor stop the turn from being recorded.
        """
        for listener in list(self._listeners):
            try:
                listener(event, info or {})
            except Exception:
                if id(listener) not in self._failed_listeners:
                    self._failed_listeners.add(id(listener))
                    logging.getLogger("oai_magic").exception(
                        "a state listener failed (ignored from now on)"
                    )


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_state(shell: Any) -> KernelState:
    """The one state of this shell, created on first use."""
    state = _STATES.get(shell)
    if state is None:
        state = _STATES[shell] = KernelState()
    return state


def reset_state(shell: Any) -> KernelState:
    """Start this shell's session over, as a kernel restart would (the test fixture does).

    Settings, conversations, usage and errors start fresh; the state object and its client
    factory stay, so the magics keep their wiring. Re-apply configured values afterwards
    (``OAIMagics.apply_configuration``).
    """
    state = get_state(shell)
    state.start_session()
    return state
