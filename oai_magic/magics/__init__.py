"""IPython wiring: the configurable ``OAIMagics``, one module per magic family behind it.

Configure in ``ipython_config.py`` or with ``%config``::

    c.OAIMagics.model = "gpt-4o-mini"
    c.OAIMagics.base_url = "http://127.0.0.1:8765/v1"
    c.OAIMagics.render_interval = 0.016

Each magic method parses nothing itself: ``arguments`` declares the options, and the family's
module (``oai``, ``chat``, ``transcribe``, ``map_command``) parses, validates everything, then
changes state and picks a use case and a view.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

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

from ..core.session import BUDGET_SETTINGS, LIMIT_SETTINGS, Session, check_setting, session_of
from ..state import Settings, configurable_settings, setting_types
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
_TRAIT_FOR_TYPE = {str: Unicode, float: Float, int: Int, bool: Bool}


def setting_trait(name: str) -> Any:
    """The configurable trait of one ``Settings`` field, built from the field itself: its type
    (``Optional[...]`` allows None, ``Literal[...]`` is a caseless enum, a dict is a Dict), its
    default and its help."""
    declared = configurable_settings()[name]
    kind = setting_types()[name]
    optional = type(None) in get_args(kind) and get_origin(kind) is not Literal
    if optional:
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    help = declared.metadata["help"]
    if get_origin(kind) is Literal:
        trait = CaselessStrEnum(list(get_args(kind)), default_value=declared.default, help=help)
    elif kind is dict or get_origin(kind) is dict:
        trait = Dict(help=help)
    else:
        trait = _TRAIT_FOR_TYPE[kind](declared.default, allow_none=optional, help=help)
    return trait.tag(config=True)


@magics_class
class OAIMagics(Magics):
    """``%%chat``, ``%chat``, ``%oai`` (and ``%transcribe``, ``%chat_panel``).

    Every configurable trait is a field of ``state.Settings`` (one table): the traits below are
    generated from it, and a change (``%config``, ``c.OAIMagics``) is written into the session's
    settings, where the magics, the panel and the Python API read it.
    """

    figure_watcher: Any = None  # context.FigureWatcher, set when the magics are registered

    locals().update({name: setting_trait(name) for name in SETTING_TRAITS})

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # The state first: configured traits fire their observers inside super().__init__.
        self.state: Session = session_of(shell)
        super().__init__(shell=shell, **kwargs)
        self.apply_configuration()

    def apply_configuration(self) -> None:
        """Write every configured value into the state (at start, and after ``reset_session``)."""
        for name in SETTING_TRAITS:
            self._apply_setting(name, getattr(self, name))
        self.state.subscribe(self._setting_changed_elsewhere)  # a fresh session has no listeners

    @property
    def settings(self) -> Settings:
        """The session's settings: what every family reads (the traits write into them)."""
        return self.state.settings

    @validate("extra_body", "prices", *BUDGET_SETTINGS, *LIMIT_SETTINGS, "prompt_cache_key",
              "extra_headers")
    def _check_setting(self, proposal: Any) -> Any:
        """Refused values fail at %config, in one line, rather than at the next request."""
        from ..errors import InputError

        try:
            return check_setting(proposal["trait"].name, proposal["value"])
        except InputError as exc:
            raise TraitError(str(exc)) from None

    def _setting_changed_elsewhere(self, event: str, info: Any) -> None:
        """A setting changed through the session (the panel, ``Session.configure``): the trait
        follows, so ``%config`` shows what is in force."""
        if event != "settings":
            return
        for name, value in info.items():
            if name in SETTING_TRAITS and getattr(self, name) != value:
                self.set_trait(name, value)

    @observe(*SETTING_TRAITS)
    def _setting_changed(self, change: Any) -> None:
        self._apply_setting(change["name"], change["new"])

    def _apply_setting(self, name: str, value: Any) -> None:
        setattr(self.state.settings, name, dict(value) if isinstance(value, dict) else value)
        if name in ("organization", "project"):
            self.state.notify("settings", {name: value})
        elif name == "model":  # the panel's model box follows (issue 30); the traits need not
            self.state.notify("model", {name: value})

    # --- what every family uses ---------------------------------------------------------

    @property
    def client(self) -> Any:
        return self.state.client()

    def rich_display(self) -> bool:
        mode = self.settings.display_mode
        if mode != "auto":
            return mode == "rich"
        return type(self.shell.display_pub) is not DisplayPublisher

    def history_budget(self) -> Any:
        from ..core.turn_options import HistoryBudget

        return HistoryBudget.of(self.settings)

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
