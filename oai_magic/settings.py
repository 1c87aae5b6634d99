"""The settings: one table of everything a session is configured with.

Every ``OAIMagics`` trait, every ``Session(...)`` keyword and ``Session.configure`` read this
one dataclass (type, default, help), so a setting cannot be configured in one place and missed
in another. Plain data, standard library only.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Dict, Literal, Optional, get_type_hints

from .redaction import Secret

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
        0.016, "One frame of a live answer, in seconds: a change is drawn at once when the last "
        "draw is this old, else when it becomes this old (0 draws every token).")
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
    # issue 25: every byte and number read from outside is bounded (api/limits.py)
    max_body_bytes: int = _setting(
        32 * 1024 * 1024, "A whole (not streamed) response body longer than this, once "
        "decompressed, ends the request with an error: gzip and deflate are decoded piece by "
        "piece and stop here.")
    max_stream_bytes: int = _setting(
        512 * 1024 * 1024, "A streamed answer whose bytes, once decompressed, pass this ends "
        "with an error (the part that arrived is kept).")
    max_event_bytes: int = _setting(
        8 * 1024 * 1024, "One streamed event (all its data: lines together) longer than this "
        "ends the answer with an error (the part that arrived is kept).")
    max_reasoning_chars: int = _setting(
        4_000_000, "Reasoning longer than this ends the answer with an error (the part kept).")
    max_tool_argument_chars: int = _setting(
        1_000_000, "Tool-call arguments longer than this (all calls of an answer together) "
        "end the answer with an error.")
    max_batch_file_bytes: int = _setting(
        64 * 1024 * 1024, "A batch output or error file longer than this, once decompressed, "
        "is read up to there; the items after it are missing, with a notice.")
    max_batch_file_lines: int = _setting(
        100_000, "Most lines read from one batch output or error file.")
    max_wait_s: float = _setting(
        60.0, "Longest wait a server may ask for (retry-after, rate-limit resets); a request or "
        "--map item whose server asks for more fails with that reason instead of waiting.")
    # issue 27
    mcp_timeout_s: float = _setting(
        60.0, "The longest an MCP server may take to start or to answer one call; then the call "
        "is stopped and the model is told.")
    mcp_servers: Dict[str, Any] = _setting(
        dict, "MCP servers whose tools --tools mcp:NAME offers, in the mcpServers shape of Claude "
        "Desktop, Cursor and VS Code: {'notes': {'command': 'python', 'args': ['server.py']}}.")
    # issue 25, part b: user objects
    max_tool_output_chars: int = _setting(
        1_000_000, "What a tool function prints is kept up to this many characters (with a note "
        "saying how much more it printed): a tool printing without end cannot fill the kernel.")
    # issue 29
    prompt_cache_key: Optional[str] = _setting(
        "auto", "prompt_cache_key sent with each chat request: \"auto\" a per-conversation hash "
        "of notebook and conversation name (never the name) to api.openai.com only; "
        "\"conversation\" the same to every server; None never.")
    extra_headers: Dict[str, Any] = _setting(
        dict, "Headers sent with every request, e.g. {'api-key': '…'} for Azure OpenAI or a "
        "gateway's own; values that look like secrets are kept masked wherever shown.")
    # issue 28: what the newer transcription models take (--speaker)
    transcribe_max_speakers: int = _setting(
        4, "Most --speaker samples sent with one %transcribe (OpenAI takes up to 4).")
    transcribe_max_speaker_bytes: int = _setting(
        4 * 1024 * 1024, "Largest --speaker sample file, in bytes (sent inline as a data URL; "
        "OpenAI wants 2 to 10 s of speech).")
    # issue 28: the microphone (%transcribe --mic)
    max_recording_s: float = _setting(
        600.0, "The longest a %transcribe --mic recording may run; it stops there and the audio "
        "recorded is kept (16 kHz mono WAV: 10 minutes is 19 MB, under the API's 25 MB).")
    max_recording_chunk_bytes: int = _setting(
        256 * 1024, "The largest piece of a recording the browser may send (it sends half a "
        "second, 16 KB); a bigger one stops the recording, keeping what came before.")
    max_recording_chunks: int = _setting(
        4_000, "The most pieces one recording may come in; past it the recording stops, keeping "
        "what came before.")
    # issue 30
    panel_dock_wait_s: float = _setting(
        10.0, "How long a docked chat panel (%chat_panel --side) waits for the page to show it "
        "beside the notebook before it shows in the cell instead (a frontend without sidecar).")

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
