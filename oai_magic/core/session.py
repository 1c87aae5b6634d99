"""``oai_magic.Session``: the one owner of state, and the use cases as methods returning runs.

A Session is a ``KernelState`` (the plain data: the settings table, conversations, the usage
ledger, the practice server handle, listeners) that also makes its HTTP client and offers the
use cases: ``chat``, ``map``, ``transcribe``, ``usage``. Each use case returns a lazy
:class:`~oai_magic.core.runs.Run` yielding typed events (``core/events.py``).

The kernel has one session (:func:`session_of`); ``%%chat``, ``%chat``, ``%oai``, ``%transcribe``,
the panel and ``oai_magic.session()`` all use it, so a turn from any of them shows in all. A
script makes its own with ``Session(api_key=..., model=...)``: nothing here imports IPython or
widgets. The Python API never interpolates kernel variables: a prompt is sent as given.
"""

from __future__ import annotations

import dataclasses
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Literal,
    Optional,
    Sequence,
    Union,
    get_args,
    get_origin,
)

from ..errors import InputError
from ..state import (
    SESSIONS,
    KernelState,
    Secret,
    Settings,
    configurable_settings,
    setting_default,
    setting_types,
)
from . import cache_keys as _transport
from .durable import LoggedSession, log_operation

if TYPE_CHECKING:  # imported on first use: %load_ext makes the kernel's session, nothing more
    from .runs import Run
    from .turn_options import HistoryBudget, TurnOptions

__all__ = ["Session", "reset_session", "session_of"]


def http_client(settings: Settings) -> Any:
    """An ``OpenAIClient`` for these settings (the HTTP stack is imported on the first request)."""
    from ..api.client import OpenAIClient

    return OpenAIClient(settings)


def check_setting(name: str, value: Any) -> Any:
    """A setting's value as the table accepts it; the same one line ``%config`` gives."""
    if name not in configurable_settings():
        from .chat_options import check_option_names

        check_option_names([name], configurable_settings())
    kind = setting_types()[name]
    if not _fits(kind, value):
        raise InputError(f"OAIMagics.{name} takes {_kind_text(kind)}, not {value!r}")
    if get_origin(kind) is Literal:
        return value.lower()  # caseless, as the trait is
    if name == "extra_body":
        from ..api.request import parse_params

        parse_params([f"{field}=0" for field in value], "OAIMagics.extra_body:")
        return dict(value)
    if name == "prices":
        from .costs import validate_prices

        return validate_prices(value)
    if name in BUDGET_SETTINGS or name in LIMIT_SETTINGS:
        _check_amount(name, value)
    if name == "mcp_servers":
        from .mcp.config import parse_config

        parse_config(value, "OAIMagics.mcp_servers")  # one line per problem, before any change
        return dict(value)
    return _transport.checked_setting(name, value) if name in _transport.SETTINGS else value


# Numbers checked where they enter (issue 25): NaN would never refuse, infinity bound nothing.
BUDGET_SETTINGS = ("session_budget_usd", "session_budget_tokens", "daily_budget_usd")
LIMIT_SETTINGS = ("max_answer_chars", "max_line_bytes", "max_body_bytes", "max_stream_bytes",
                  "max_event_bytes", "max_reasoning_chars", "max_tool_argument_chars",
                  "max_batch_file_bytes", "max_batch_file_lines", "max_wait_s",
                  "mcp_timeout_s", "panel_dock_wait_s")  # issue 27, issue 30


def _check_amount(name: str, value: Any) -> None:
    """A budget is a finite number >= 0 or None; a limit a finite number > 0 (``max_wait_s``
    may be 0: never wait)."""
    from ..api.limits import finite_amount

    if name in BUDGET_SETTINGS:
        if value is not None and not finite_amount(value):
            raise InputError(f"OAIMagics.{name} must be a finite number >= 0 (or None for no "
                             f"budget), got {value!r:.40}")
    elif not finite_amount(value) or (value <= 0 and name != "max_wait_s"):
        least = ">= 0" if name == "max_wait_s" else "> 0"
        raise InputError(f"OAIMagics.{name} must be a finite number {least}, got {value!r:.40}")


def _fits(kind: Any, value: Any) -> bool:
    """Does ``value`` have the setting's type (what the trait would accept)?"""
    if get_origin(kind) is Union:
        return any(_fits(arg, value) for arg in get_args(kind))
    if get_origin(kind) is Literal:
        return isinstance(value, str) and value.lower() in get_args(kind)
    if kind is type(None):
        return value is None
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, get_origin(kind) or kind)


def _kind_text(kind: Any) -> str:
    if get_origin(kind) is Union:
        return " or ".join(_kind_text(arg) for arg in get_args(kind))
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(get_args(kind))
    return "None" if kind is type(None) else getattr(get_origin(kind) or kind, "__name__", str(kind))


class Session(LoggedSession, KernelState):
    """Settings, client, conversations, usage, tools and the practice server of one session.

    ``Session(api_key=..., base_url=..., model=..., organization=..., project=...)``; any other
    setting of the table (``Settings``) may be given by name too (``render_interval=...``).
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        model: Optional[str] = None,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        *,
        settings: Optional[Settings] = None,
        client_factory: Optional[Callable[[Settings], Any]] = None,
        **more_settings: Any,
    ) -> None:
        super().__init__(settings, client_factory or http_client)
        given = {"base_url": base_url, "model": model, "organization": organization,
                 "project": project, **more_settings}
        self.configure(**{name: value for name, value in given.items() if value is not None})
        if api_key is not None:
            self.settings.api_key = Secret(api_key)

    def _start_session(self, settings: Optional[Settings]) -> None:
        previous = getattr(self, "_mcp", None)  # a reset stops the servers the session started
        if previous is not None:
            previous.close()
        super()._start_session(settings)
        self._open_runs: Dict[str, Run] = {}  # conversation -> its run that may still be going
        self._mcp: Any = None

    @property
    def mcp(self) -> Any:
        """The session's MCP servers (``core.mcp.McpServers``: ``add_stdio``, ``add_http``, ``load``,
        ``remove``, ``describe``), with ``OAIMagics.mcp_servers``; nothing starts before a tool
        is used (``tools=["mcp:NAME"]``)."""
        from .mcp.servers import McpServers

        with self.lock:
            if self._mcp is None:
                self._mcp = McpServers(timeout_s=lambda: self.settings.mcp_timeout_s,
                                       key=lambda: self.settings.resolved_key())
            self._mcp.configure(self.settings.mcp_servers)  # %config may have changed it
            return self._mcp

    def __repr__(self) -> str:
        return super().__repr__().replace("<KernelState", "<Session", 1)

    # --- settings ---------------------------------------------------------------------

    def configure(self, **values: Any) -> None:
        """Change settings by name, all checked before any is changed (``%config`` does the same
        through the traits). Listeners hear ``settings`` with what changed."""
        checked = {name: check_setting(name, value) for name, value in values.items()}
        with self.lock:
            for name, value in checked.items():
                setattr(self.settings, name, value)
        if checked:
            self.notify("settings", checked)

    def reset_setting(self, name: str) -> None:
        self.configure(**{name: setting_default(name)})

    def audio_client(self) -> Any:
        """The client ``%transcribe`` (and the panel's dictation) uses: the chat client, or one
        for ``audio_base_url`` when speech runs on a server of its own. Made again only when the
        settings change, so its connections are reused."""
        if not self.settings.audio_base_url:
            return self.client()
        with self.lock:
            wanted = dataclasses.replace(self.settings,
                                         base_url=self.settings.resolved_audio_base_url())
            cached = self.audio_client_cache
            if cached is None or cached[0] != wanted:
                if cached is not None and hasattr(cached[1], "close"):
                    cached[1].close()
                cached = self.audio_client_cache = (wanted, self.client_factory(wanted))
            return cached[1]

    # --- use cases --------------------------------------------------------------------

    def chat(
        self,
        prompt: Any,
        conversation: str = "default",
        model: Optional[str] = None,
        system: Optional[str] = None,
        new: bool = False,
        tools: Sequence[Any] = (),
        auto_tools: bool = False,
        schema: Any = None,
        n: int = 1,
        images: Iterable[Any] = (),
        **options: Any,
    ) -> Run:
        """One turn of ``conversation``: a lazy run whose result is the ChatResult ``-o`` gives.

        ``options`` are the long ``%%chat`` options (``temperature``, ``max_tokens``, ``param``,
        ``reasoning_effort``...), checked by the same code with the same messages; a refused one
        raises here, before anything is sent or changed. ``tools`` are Python functions (a string
        is an MCP reference, ``"mcp:NAME/TOOL"``); ``schema`` a dataclass, TypedDict, JSON-schema
        dict or pydantic model (``result.parsed``).
        """
        from .chat_setup import prepare_chat

        content, turn, target = prepare_chat(
            self, prompt, conversation=conversation, model=model, system=system, new=new,
            tools=list(tools), auto_tools=auto_tools, schema=schema, n=n, images=list(images),
            options=options)
        return self.start_turn(content, turn, target)

    def fix(self, conversation: str = "default", model: Optional[str] = None) -> Run:
        """Ask about the kernel's last error (the failing cell and its traceback, key masked):
        ``%chat fix`` and the panel's button. The last error is known in a kernel only."""
        from .chat_options import request_options
        from .context import fix_request
        from .exchange import check_budget
        from .turn_options import HistoryBudget, TurnOptions

        content, notice, _ = fix_request(self, self.settings.max_context_chars)
        request = request_options(self.settings, model=model)
        check_budget(self, request.model or self.settings.model)
        turn = TurnOptions(request, conversation=conversation, budget=HistoryBudget.of(self.settings))
        return self.start_turn(content, turn, notice=notice)

    def start_turn(self, content: Any, turn: TurnOptions, target: Any = None,
                   notice: Optional[str] = None, client: Any = None) -> Run:
        """The run of one prepared turn (the magics and the panel build ``turn`` themselves);
        ``notice`` is the sent-line its request shows (what went with the prompt), ``client``
        another client than the session's (a panel given one)."""
        from .chat_setup import parse_structured
        from .runs import Run
        from .tool_loop import ToolTurn
        from .turn import ChatTurn

        cancellation = turn.cancellation
        if cancellation is None:
            from .results import Cancellation

            cancellation = Cancellation()
            turn = dataclasses.replace(turn, cancellation=cancellation)

        def work(view: Any) -> Any:
            if notice is not None:
                with self.lock:
                    self.context_notices = [notice]
            kind = ToolTurn if turn.tools else ChatTurn
            result = kind(self, client or self.client(), turn).run(content, view)
            if target is not None:
                result.schema_problem = parse_structured(target, result)
            return result

        return Run(work, cancellation, on_start=lambda run: self._starting(turn.conversation, run))

    def map(self, template: str, items: Any, concurrency: int = 4,
            item_timeout: Optional[float] = None, system: Optional[str] = None,
            schema: Any = None, model: Optional[str] = None, **options: Any) -> Run:
        """Send ``template`` once per element of ``items`` (``{item}``, ``{item.field}``,
        ``{item[key]}``); the run's result is the MapResult. Nothing else is interpolated."""
        from .map_plan import plan_map, run_plan
        from .mapping import ItemTemplate
        from .runs import Run

        plan = plan_map(self, ItemTemplate(template), items, "items", concurrency=concurrency,
                        item_timeout=item_timeout, system=system, schema=schema, model=model,
                        options=options)
        return Run(lambda view: run_plan(self, plan, view), plan.cancellation)

    def batch(self, template: str, items: Any, system: Optional[str] = None, schema: Any = None,
              model: Optional[str] = None, **options: Any) -> Any:
        """``map`` through the Batch API (half price, within 24 h): submits at once and returns
        the ``BatchJob`` (``wait()``, ``results()`` gives the MapResult), as ``--map --batch``."""
        from .batch import submit
        from .map_plan import plan_map
        from .mapping import ItemTemplate

        plan = plan_map(self, ItemTemplate(template), items, "items", system=system, schema=schema,
                        model=model, options=options, batch=True)
        return submit(self, self.client(), plan.payloads, len(plan.result), plan.options,
                      model=plan.model, index=plan.result.index)

    def transcribe(self, *sources: Any, **options: Any) -> Run:
        """Transcribe audio files (paths, globs, bytes, Audio objects); the run's result is the
        TranscriptResult (a list with several sources). Options are ``%transcribe``'s long ones."""
        from .transcribe_setup import prepare_transcription

        return prepare_transcription(self, list(sources), options)

    def export(self, path: str, conversation: str = "default") -> int:
        """Write a conversation to ``path`` (.md or .json, as ``%chat export``); returns how many
        images were written beside a Markdown file."""
        from .conversation_files import export_conversation

        if conversation not in self.conversations:
            raise InputError(f"No conversation named {conversation!r}.")
        return export_conversation(self.conversations[conversation], path)

    def load(self, path: str, conversation: str = "default") -> None:
        """Replace a conversation with a ``%chat export`` JSON file (checked before any change)."""
        from .conversation_files import read_conversation
        messages, system = read_conversation(path)
        with self.lock:
            thread = self.conversation(conversation)
            thread.messages, thread.system = messages, system
        log_operation(self, conversation, "load", snapshot=thread)
        self.notify("conversation", {"name": conversation, "command": "load"})

    def start_practice(self, delay_s: float = 0.02) -> str:
        """Start the offline practice server and point this session at it; returns its URL."""
        from .practice_control import start_practice

        start_practice(self, delay_s)
        return self.practice_server.base_url

    def stop_practice(self) -> str:
        """Stop the practice server; requests go to the configured base URL again."""
        from .practice_control import stop_practice

        return stop_practice(self)

    def usage(self) -> Any:
        """The session's totals, as ``%oai usage`` shows them (a ``costs.UsageLedger``)."""
        from .costs import ledger_of

        return ledger_of(self)

    # --- inside -----------------------------------------------------------------------

    def _starting(self, conversation: str, run: Run) -> None:
        """A run left half-read on this conversation is stopped and recorded first (CONTRACTS 8).

        Only runs read by a loop can be left half-read: a run played by the panel's thread or
        a cell goes on, and both commit in the order they end."""
        with self.lock:
            previous = self._open_runs.get(conversation)
            self._open_runs[conversation] = run
        if (previous is not None and previous is not run and previous.read_by_a_loop
                and not previous.finished):
            previous.stop()

    @property
    def history_budget(self) -> HistoryBudget:
        from .turn_options import HistoryBudget

        return HistoryBudget.of(self.settings)


def session_of(shell: Any) -> Session:
    """The one session of this shell (an IPython shell), made on first use."""
    session = SESSIONS.get(shell)
    if session is None:
        session = SESSIONS[shell] = Session()
    return session


def reset_session(shell: Any) -> Session:
    """Start this shell's session over, as a kernel restart would (the test fixture does).

    Settings, conversations, usage and errors start fresh; the object and its client factory
    stay, so the magics and panels keep their wiring. Re-apply configured values afterwards
    (``OAIMagics.apply_configuration``).
    """
    session = session_of(shell)
    session.start_session()
    return session
