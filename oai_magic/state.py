"""``KernelState``, the plain data of one session (its settings table is ``settings.Settings``).

Everything here is plain data. Chat history lives in ``history`` and the key's redaction in
``redaction``; their names are re-exported here, where the rest of the package imports them.
``core.session.Session`` is a ``KernelState`` with the client and the use cases: the kernel's
session is the one the magics, the panel and ``oai_magic.session()`` share, so a turn sent from
any of them shows up in all.
"""

from __future__ import annotations

import logging
import threading
import weakref
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Mapping, Optional

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

# Re-exported: the settings table has its own module; state's importers keep working.
from .settings import (  # noqa: E402, F401
    DEFAULT_BASE_URL,
    PRACTICE_HEADER,
    PRACTICE_KEY,
    Settings,
    configurable_settings,
    from_practice_server,
    setting_default,
    setting_types,
)

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
        self.last_headers_from: Optional[str] = None  # the base URL that sent last_headers
        self.turn_locks: Dict[str, Any] = {}  # conversation -> the RLock its turns take in turn
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
        self.docked_panels: Dict[str, Any] = {}  # conversation -> its ChatPanel beside the notebook

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
            self.last_headers_from = self.settings.resolved_base_url()
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

