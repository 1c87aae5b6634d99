"""IPython wiring: the configurable ``OAIMagics``, one module per magic family behind it.

Configure in ``ipython_config.py`` or with ``%config``::

    c.OAIMagics.model = "gpt-4o-mini"
    c.OAIMagics.base_url = "http://127.0.0.1:8765/v1"
    c.OAIMagics.render_interval = 0.05

Each magic method parses nothing itself: ``arguments`` declares the options, and the family's
module (``oai``, ``chat``, ``transcribe``, ``map_command``) parses, validates everything, then
changes state and picks a use case and a view.
"""

from __future__ import annotations

from typing import Any

from IPython.core.displaypub import DisplayPublisher
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import (
    Bool,
    CaselessStrEnum,
    Dict,
    Float,
    Int,
    TraitError,
    Unicode,
    observe,
    validate,
)

from ..api.request import parse_params
from ..core.clients import http_client
from ..core.exchange import HistoryBudget
from ..state import KernelState, configurable_settings, get_state
from . import chat as chat_family
from . import chat_help
from . import oai as oai_family
from . import transcribe as transcribe_family
from .arguments import (
    CHAT_ARGUMENTS,
    CHAT_PANEL_ARGUMENTS,
    TRANSCRIBE_ARGUMENTS,
    CellMagicHelp,
    LineMagicHelp,
    command_words,
    empty_chat_cell,
    magic_parser,
)
from .kernel_hooks import watch_the_kernel
from .one_line import one_line_errors

SETTING_TRAITS = tuple(configurable_settings())
_TRAIT_FOR_TYPE = {"str": Unicode, "float": Float, "int": Int, "bool": Bool}


def setting_trait(name: str) -> Any:
    """The configurable trait of one ``Settings`` field, built from the field itself."""
    declared = configurable_settings()[name]
    kind = str(declared.type)
    optional = kind.startswith("Optional[")
    trait = _TRAIT_FOR_TYPE[kind[len("Optional["):-1] if optional else kind]
    return trait(declared.default, allow_none=optional, help=declared.metadata["help"]).tag(
        config=True)


@magics_class
class OAIMagics(Magics):
    """``%%chat``, ``%chat``, ``%oai`` (and ``%transcribe``, ``%chat_panel``)."""

    figure_watcher: Any = None  # context.FigureWatcher, set when the magics are registered

    # The settings a request needs: type, default and help come from state.Settings.
    model = setting_trait("model")
    base_url = setting_trait("base_url")
    organization = setting_trait("organization")
    project = setting_trait("project")
    timeout = setting_trait("timeout")
    max_retries = setting_trait("max_retries")
    max_answer_chars = setting_trait("max_answer_chars")
    max_line_bytes = setting_trait("max_line_bytes")
    allow_insecure_http = setting_trait("allow_insecure_http")
    audio_base_url = setting_trait("audio_base_url")
    # issue 24: the log (the Session will generate every setting's trait)
    log_path = setting_trait("log_path")
    daily_budget_usd = setting_trait("daily_budget_usd")
    resume_hint = setting_trait("resume_hint")
    log_busy_timeout_s = setting_trait("log_busy_timeout_s")
    log_max_blob_bytes = setting_trait("log_max_blob_bytes")
    # issue 29
    prompt_cache_key = setting_trait("prompt_cache_key")
    extra_headers = Dict(
        help="Headers sent with every request, e.g. {'api-key': '…'} for Azure OpenAI or a "
             "gateway's own; values that look like secrets are shown masked.",
    ).tag(config=True)
    # How the magics show and send things: theirs alone.
    render_interval = Float(
        0.05, help="Seconds between redraws of a streaming answer (the first token shows at once)."
    ).tag(config=True)
    max_tokens_param = CaselessStrEnum(
        ["max_completion_tokens", "max_tokens"],
        default_value="max_completion_tokens",
        help="Field --max-tokens is sent as; some compatible servers only know max_tokens.",
    ).tag(config=True)
    history_max_messages = Int(
        200, allow_none=True, help="Most history messages sent with a prompt."
    ).tag(config=True)
    history_max_tokens = Int(
        24000, allow_none=True, help="Approximate token budget for the history sent."
    ).tag(config=True)
    context_tokens = Int(
        None, allow_none=True,
        help="The server's context window in tokens (%oai context N): history is trimmed to fit.",
    ).tag(config=True)
    transcribe_model = Unicode("whisper-1", help="Default %transcribe model.").tag(config=True)
    max_tool_rounds = Int(5, help="Most tool-call rounds in one %%chat.").tag(config=True)
    max_tool_calls_per_round = Int(
        8, help="Most tool calls run in one round; the rest are refused with a note to the model."
    ).tag(config=True)
    max_context_chars = Int(
        24000, allow_none=True,
        help="Most characters of context (summaries, tracebacks, --context) sent with a prompt; "
        "images and plain values typed on purpose are not counted.",
    ).tag(config=True)
    map_confirm_usd = Float(
        1.0, help="%%chat --map asks before sending a job estimated above this many dollars "
        "(when prices are known), as it does above 100 items; --yes skips the question.",
    ).tag(config=True)
    display_mode = CaselessStrEnum(
        ["auto", "rich", "plain"],
        default_value="auto",
        help="rich: live Markdown; plain: tokens as text (terminal); auto: by frontend.",
    ).tag(config=True)

    extra_body = Dict(
        help="Fields added to every chat request as given, e.g. {'service_tier': 'flex'}; "
             "--param wins over them.",
    ).tag(config=True)
    prices = Dict(
        help="Prices in USD per million tokens that override or extend the shipped table, "
             "e.g. {'my-model': {'input': 0.1, 'cached_input': 0.05, 'output': 0.4}}.",
    ).tag(config=True)
    session_budget_usd = Float(
        None, allow_none=True,
        help="Refuse requests once this session's estimated cost passes this many USD.",
    ).tag(config=True)
    session_budget_tokens = Int(
        None, allow_none=True,
        help="Refuse requests once this session has used this many tokens.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # The state first: configured traits fire their observers inside super().__init__.
        self.state: KernelState = get_state(shell)
        self.state.client_factory = http_client
        super().__init__(shell=shell, **kwargs)
        self.apply_configuration()

    def apply_configuration(self) -> None:
        """Write every configured value into the state (at start, and after ``reset_state``)."""
        for name in SETTING_TRAITS:
            self._apply_setting(name, getattr(self, name))
        self._apply_costs(None)
        self._apply_extra_headers(None)

    @validate("extra_body")
    def _check_extra_body(self, proposal: Any) -> Any:
        """Refused names fail at %config, in one line, rather than at the next request."""
        from ..errors import InputError

        try:
            parse_params([f"{name}=0" for name in proposal["value"]], "OAIMagics.extra_body:")
        except InputError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate("extra_headers")
    def _check_extra_headers(self, proposal: Any) -> Any:
        from ..redaction import HeaderError, checked_extra_headers

        try:
            return checked_extra_headers(proposal["value"])
        except HeaderError as exc:
            raise TraitError(str(exc)) from None

    @validate("prompt_cache_key")
    def _check_prompt_cache_key(self, proposal: Any) -> Any:
        if proposal["value"] not in ("auto", "conversation", None):
            raise TraitError('OAIMagics.prompt_cache_key takes "auto", "conversation" or None, '
                             f"not {proposal['value']!r}")
        return proposal["value"]

    @observe("extra_headers")
    def _apply_extra_headers(self, change: Any) -> None:
        self.state.settings.extra_headers = dict(self.extra_headers)

    @validate("prices")
    def _check_prices(self, proposal: Any) -> Any:
        from ..core.costs import validate_prices
        from ..errors import InputError

        try:
            return validate_prices(proposal["value"])
        except InputError as exc:
            raise TraitError(str(exc)) from None

    @observe("prices", "session_budget_usd", "session_budget_tokens")
    def _apply_costs(self, change: Any) -> None:
        self.state.prices = dict(self.prices)
        self.state.budget_usd = self.session_budget_usd
        self.state.budget_tokens = self.session_budget_tokens

    @observe(*SETTING_TRAITS)
    def _setting_changed(self, change: Any) -> None:
        self._apply_setting(change["name"], change["new"])

    def _apply_setting(self, name: str, value: Any) -> None:
        setattr(self.state.settings, name, value)
        if name in ("organization", "project"):
            self.state.notify("settings", {name: value})

    # --- what every family uses ---------------------------------------------------------

    @property
    def client(self) -> Any:
        return self.state.client()

    def rich_display(self) -> bool:
        if self.display_mode != "auto":
            return self.display_mode == "rich"
        return type(self.shell.display_pub) is not DisplayPublisher

    def history_budget(self) -> HistoryBudget:
        return HistoryBudget(
            self.history_max_messages, self.history_max_tokens, self.context_tokens
        )

    def chat_view(self, args: Any) -> Any:
        """The view a ``%%chat`` answer streams into (a seam: tests wrap it)."""
        return chat_family.chat_view(self, args)

    # --- the magics: each hands its line to its family's module ----------------------------

    @magic_parser(oai_family.HELP, LineMagicHelp, *command_words(oai_family.COMMANDS))
    @line_magic
    @one_line_errors
    def oai(self, line: str) -> None:
        return oai_family.run(self, line)

    @magic_parser(transcribe_family.HELP, LineMagicHelp, *TRANSCRIBE_ARGUMENTS)
    @line_magic
    @one_line_errors
    def transcribe(self, line: str) -> None:
        return transcribe_family.run(self, line)

    @magic_parser(transcribe_family.PANEL_HELP, LineMagicHelp, *CHAT_PANEL_ARGUMENTS)
    @line_magic
    @one_line_errors
    def chat_panel(self, line: str) -> Any:
        return transcribe_family.open_panel(self, line)

    @magic_parser(chat_family.HELP, CellMagicHelp, *CHAT_ARGUMENTS)
    @cell_magic
    @one_line_errors
    def chat(self, line: str, cell: str) -> None:
        return chat_family.run(self, line, cell)

    @magic_parser(chat_help.COMMANDS_HELP, LineMagicHelp, *command_words(chat_help.command_names()),
                  name="chat")
    @line_magic("chat")
    @one_line_errors
    def chat_line(self, line: str) -> Any:
        return chat_family.run_command(self, line)


def register(ipython: Any) -> None:
    """Register the magics once per shell: autoload plus ``%load_ext`` (or a reload) keep the
    same magics object, with its configuration and state."""
    if empty_chat_cell not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(empty_chat_cell)
    if "OAIMagics" in ipython.magics_manager.registry:
        return
    ipython.register_magics(OAIMagics)
    watch_the_kernel(ipython)
