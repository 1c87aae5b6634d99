"""The settings (one table) and ``KernelState``, the plain data of one session.

Everything here is plain data. Chat history lives in ``history`` and the key's redaction in
``redaction``; their names are re-exported here, where the rest of the package imports them.
``core.session.Session`` is a ``KernelState`` with the client and the use cases: the kernel's
session is the one the magics, the panel and ``oai_magic.session()`` share, so a turn sent from
any of them shows up in all.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import weakref
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, get_type_hints

# Re-exported: every module that imported these from state keeps working.
from .history import (  # noqa: F401
    IMAGE_TOKENS,
    Content,
    Conversation,
    ConversationView,
    Message,
    content_images,
    content_text,
    estimate_tokens,
)
from .redaction import (  # noqa: F401
    MIN_KEY_RUN,
    Secret,
    StreamRedactor,
    mask_key,
    redact,
    redact_data,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


# The practice server's out-of-band identification (CONTRACTS 4); practice.py sends it.
PRACTICE_HEADER = "x-oai-practice"
# The key ``%oai practice`` sets when none is: the practice server takes any key.
PRACTICE_KEY = "sk-practice-offline-0000"


def from_practice_server(headers: Dict[str, str]) -> bool:
    """Did the answering server say it is the practice server (whatever URL reached it)?"""
    return str(headers.get(PRACTICE_HEADER, "")).strip() == "1"


def _setting(default: Any, help: str) -> Any:
    """A setting that ``c.OAIMagics.<name>`` configures: its default and help live here only.
    A ``dict`` default means a fresh empty dict for each Settings."""
    if default is dict:
        return field(default_factory=dict, metadata={"help": help})
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
    # issue 23: every other configurable setting, once the magics' own traits (one table).
    render_interval: float = _setting(
        0.05, "Seconds between redraws of a streaming answer (the first token shows at once).")
    max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = _setting(
        "max_completion_tokens",
        "Field --max-tokens is sent as; some compatible servers only know max_tokens.")
    history_max_messages: Optional[int] = _setting(200, "Most history messages sent with a prompt.")
    history_max_tokens: Optional[int] = _setting(
        24000, "Approximate token budget for the history sent.")
    context_tokens: Optional[int] = _setting(
        None, "The server's context window in tokens (%oai context N): history is trimmed to fit.")
    transcribe_model: str = _setting("whisper-1", "Default %transcribe model.")
    max_tool_rounds: int = _setting(5, "Most tool-call rounds in one %%chat.")
    max_tool_calls_per_round: int = _setting(
        8, "Most tool calls run in one round; the rest are refused with a note to the model.")
    max_context_chars: Optional[int] = _setting(
        24000, "Most characters of context (summaries, tracebacks, --context) sent with a prompt; "
        "images and plain values typed on purpose are not counted.")
    map_confirm_usd: float = _setting(
        1.0, "%%chat --map asks before sending a job estimated above this many dollars "
        "(when prices are known), as it does above 100 items; --yes skips the question.")
    display_mode: Literal["auto", "rich", "plain"] = _setting(
        "auto", "rich: live Markdown; plain: tokens as text (terminal); auto: by frontend.")
    extra_body: Dict[str, Any] = _setting(
        dict, "Fields added to every chat request as given, e.g. {'service_tier': 'flex'}; "
        "--param wins over them.")
    prices: Dict[str, Any] = _setting(
        dict, "Prices in USD per million tokens that override or extend genai-prices' data, "
        "e.g. {'my-model': {'input': 0.1, 'cached_input': 0.05, 'output': 0.4}}.")
    session_budget_usd: Optional[float] = _setting(
        None, "Refuse requests once this session's estimated cost passes this many USD.")
    session_budget_tokens: Optional[int] = _setting(
        None, "Refuse requests once this session has used this many tokens.")
    # issue 32
    audio_base_url: Optional[str] = _setting(
        None, "Base URL for %transcribe when speech runs on another server than chat (a "
        "Whisper server); default: the chat base URL.")
    # issue 24
    log_path: Optional[str] = _setting(
        None, "The log file (SQLite): default $XDG_DATA_HOME/oai_magic/history.db (XDG_DATA_HOME "
        "defaults to ~/.local/share); \"\" turns the log off, so nothing is written.")
    daily_budget_usd: Optional[float] = _setting(
        None, "Refuse requests once today's spend by every kernel of this user, as the log counts "
        "it, reaches this many dollars (a guard-rail: deleting the log lifts it).")
    resume_hint: bool = _setting(
        True, "Say once per kernel when this notebook has saved conversations that %chat resume "
        "brings back.")
    log_busy_timeout_s: float = _setting(
        5.0, "How long a write waits for another kernel holding the log; past it the log turns "
        "itself off for this kernel (with one notice) and chat goes on.")
    log_max_blob_bytes: int = _setting(
        5_000_000, "Images and files sent with a prompt are kept in the log up to this size each; "
        "a larger one is noted by its size only.")
    # issue 29
    prompt_cache_key: Optional[str] = _setting(
        "auto", "prompt_cache_key sent with each chat request: \"auto\" a per-conversation hash "
        "of notebook and conversation name (never the name) to api.openai.com only; "
        "\"conversation\" the same to every server; None never.")
    extra_headers: Dict[str, Any] = _setting(
        dict, "Headers sent with every request, e.g. {'api-key': '…'} for Azure OpenAI or a "
        "gateway's own; values that look like secrets are kept masked wherever shown.")

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

    def resolved_audio_base_url(self) -> str:
        """Where ``%transcribe`` goes: ``audio_base_url``, else the chat base URL."""
        return (self.audio_base_url or "").rstrip("/") or self.resolved_base_url()

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


@functools.cache
def setting_types() -> Dict[str, Any]:
    """Each setting's type as an object (``Optional[int]``, ``Literal[...]``), not a string
    (evaluated once: the traits are built from it while ``%load_ext`` runs)."""
    return get_type_hints(Settings)


def setting_default(name: str) -> Any:
    """The default of one setting (a fresh dict for the dict ones)."""
    declared = configurable_settings()[name]
    return declared.default_factory() if declared.default_factory is not MISSING else declared.default


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
        self.lock = threading.RLock()  # kept across sessions: a panel thread may hold it
        self.start_session(settings)

    def start_session(self, settings: Optional[Settings] = None) -> None:
        """Everything a session holds, fresh: settings, conversations, usage, errors, listeners.

        The object stays the same, so the magics and panels that hold it stay wired to it.
        """
        with self.lock:
            self._start_session(settings)

    def _start_session(self, settings: Optional[Settings]) -> None:
        self.settings = settings or Settings()
        self._client: Any = None  # made by client_factory for _client_settings, on first use
        self._client_settings: Optional[Settings] = None
        self._conversations: Dict[str, Conversation] = {}
        self.last_headers: Dict[str, str] = {}
        self._listeners: List[Listener] = []
        self._failed_listeners: set = set()
        self._warned_insecure: set = set()
        self.practice_server: Any = None
        self.base_url_before_practice: Optional[str] = None  # back in place at --stop
        self._said_once: set = set()
        # base URL -> the name its server accepts for --max-tokens, learned from a 400.
        self.max_tokens_fields: Dict[str, str] = {}
        # base URLs whose server refused response_format json_schema: --schema goes as
        # json_object with the schema there (llama-cpp-python).
        self.json_schema_refused: set = set()
        # issue 29: base URLs whose server refused prompt_cache_key with a 400 (not sent again)
        self.prompt_cache_key_refused: set = set()
        self.audio_client_cache: Any = None  # Session.audio_client: (settings, client)
        self.last_error: Any = None  # context.LastError: the kernel's last exception
        # The sent-line of the cell being run; the next request shows it (then it is cleared).
        self.context_notices: List[str] = []
        # The session's usage ledger (costs.py), made on first use. The session is the kernel.
        self.usage_ledger: Any = None
        self.batches: Dict[str, Any] = {}  # batch id -> batch.BatchJob, newest last

    # What answers cost: read from the one settings table (%config OAIMagics.prices, ...).
    @property
    def prices(self) -> Dict[str, Any]:
        return self.settings.prices

    @property
    def budget_usd(self) -> Optional[float]:
        return self.settings.session_budget_usd

    @property
    def budget_tokens(self) -> Optional[int]:
        return self.settings.session_budget_tokens

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
            if name not in self._conversations:
                self._conversations[name] = Conversation(name)
            return self._conversations[name]

    @property
    def conversations(self) -> Mapping[str, ConversationView]:
        """The conversations by name, read-only (copies of their messages): changes go through
        methods (``conversation`` creates or returns one to record in, ``forget_conversations``
        removes them all), under the lock."""
        with self.lock:
            return MappingProxyType({name: ConversationView(thread)
                                     for name, thread in self._conversations.items()})

    def forget_conversations(self) -> int:
        """Remove every conversation (``%chat reset --all``); returns how many there were."""
        with self.lock:
            count = len(self._conversations)
            self._conversations.clear()
            return count

    def insecure_http_warning(self, url: Optional[str] = None) -> Optional[str]:
        """A one-line warning, once per base URL per session, when the key would travel in clear.

        Plain ``http://`` to a host that is not this machine sends the key and every prompt
        readable on the network. Classrooms on a LAN do this on purpose, so it is a warning,
        silenced by ``OAIMagics.allow_insecure_http = True``.
        """
        url = url or self.settings.resolved_base_url()  # or the audio base URL
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
        if listener not in self._listeners:
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


# The session of each IPython shell: ``core.session.session_of`` makes it (a ``Session``) and keeps
# it here, so code that reaches it by its older names (``get_state``) finds the same object.
SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_state(shell: Any) -> KernelState:
    """The session of this shell (``oai_magic.core.session.session_of`` made it at ``%load_ext``)."""
    session = SESSIONS.get(shell)
    if session is None:
        raise RuntimeError("this shell has no oai_magic session yet: %load_ext oai_magic (or "
                           "oai_magic.session()) makes it")
    return session


def reset_state(shell: Any) -> KernelState:
    """Start this shell's session over, as a kernel restart would (``core.session.reset_session``)."""
    session = get_state(shell)
    session.start_session()
    return session

