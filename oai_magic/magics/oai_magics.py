"""IPython wiring: argument parsing, configuration, and one-line errors. No logic of its own.

Configure in ``ipython_config.py`` or with ``%config``::

    c.OAIMagics.model = "gpt-4o-mini"
    c.OAIMagics.base_url = "http://127.0.0.1:8765/v1"
    c.OAIMagics.render_interval = 0.05
"""

from __future__ import annotations

import difflib
import functools
import getpass
import re
import shlex
from typing import Any, Callable, List

from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.formatters import BaseFormatter
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import MagicHelpFormatter, argument, kwds, magic_arguments
from IPython.display import display
from traitlets import (
    Bool,
    CaselessStrEnum,
    Dict,
    Float,
    Int,
    ObjectName,
    TraitError,
    Unicode,
    observe,
    validate,
)

from ..api.request import (
    REASONING_EFFORTS,
    VERBOSITIES,
    ChatOptions,
    parse_logit_bias,
    parse_params,
    validate_chat_options,
)
from ..core import chat as chat_usecase
from ..errors import CellStopped, OAIError
from ..state import KernelState, Secret, get_state, mask_key

SETTING_TRAITS = (
    "model", "base_url", "organization", "project", "timeout", "max_retries", "max_answer_chars",
    "max_line_bytes", "allow_insecure_http",
)
PROMPT_BELOW = "put the prompt on the lines below %%chat (options stay on the first line)"


class LineMagicHelp(MagicHelpFormatter):
    """``%magic?`` starts with "usage: %name", not IPython's reStructuredText ``::`` block."""

    escape = "%"

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any = None) -> None:
        super().add_usage(usage, actions, groups, f"usage: {self.escape}")


class CellMagicHelp(LineMagicHelp):
    """``%%chat?`` names the cell magic (``%%chat``), not the line magic of the same name."""

    escape = "%%"


def parse_line(magic: Callable, line: str) -> Any:
    """Parse magic options shell-style: ``-s 'Be terse.'`` gives ``Be terse.`` without quotes.

    IPython's ``parse_argstring`` splits non-POSIX and keeps the quotes. Words that are not
    options get a hint: the closest option for a misspelt one, or where a %%chat prompt goes.
    """
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Could not read the options: {exc} (check the quotes).") from None
    try:
        return magic.parser.parse_args(words)
    except UsageError as exc:
        raise UsageError(explain_parse_error(magic, str(exc))) from None


def explain_parse_error(magic: Callable, message: str) -> str:
    """argparse's complaint, plus what to do: "did you mean --temperature?" or where prompts go."""
    name = getattr(magic.parser.formatter_class, "escape", "%") + magic.parser.prog
    if not message.startswith("unrecognized arguments:"):
        return f"{name}: {message} (see {name}?)"
    extra = message.split(":", 1)[1].split()
    option = next((word for word in extra if word.startswith("-")), None)
    if option is not None:
        known = [o for o in magic.parser._option_string_actions if o.startswith("--")]
        close = difflib.get_close_matches(option.split("=")[0], known, n=1, cutoff=0.7)
        hint = f": did you mean {close[0]}?" if close else f" (see {name}?)"
        return f"{name}: unknown option {option}{hint}"
    if name == "%%chat":
        return f"{name}: {' '.join(extra)!r} is not an option: {PROMPT_BELOW}."
    return f"{name}: unrecognized arguments: {' '.join(extra)} (see {name}?)"


_CHAT_CELL = re.compile(r"%%chat(\s|$)")


def empty_chat_cell(lines: List[str]) -> List[str]:
    """An input transformer: a ``%%chat`` cell with nothing below its first line says where the
    prompt goes, in our one line.

    Without it IPython stops such a cell before our magic runs, with "cell body is empty. Did
    you mean the line magic %chat?", and ``%chat What is 2+2?`` then fails again. In terminal
    IPython the body is a blank line and the prompt words met the option parser instead.
    """
    if not lines or not _CHAT_CELL.match(lines[0]) or any(line.strip() for line in lines[1:]):
        return lines
    return ["__import__('oai_magic.magics.oai_magics').magics.oai_magics.refuse_empty_chat_cell()\n"]


def refuse_empty_chat_cell() -> None:
    raise UsageError(f"%%chat: {PROMPT_BELOW}.")


def base_url_hint(exc: OAIError, state: KernelState) -> str:
    """A 404 for the endpoint itself (not for a model) usually means the base URL lacks /v1."""
    from ..errors import APIError

    url = state.settings.resolved_base_url().rstrip("/")
    if (isinstance(exc, APIError) and exc.status_code == 404 and exc.code != "model_not_found"
            and not url.endswith("/v1")):
        return f" — does the base URL need /v1? (it is {url})"
    return ""


def one_line_errors(method: Callable) -> Callable:
    """Our errors become a ``UsageError``: IPython prints its one line, no traceback."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OAIError as exc:
            raise UsageError(str(exc) + base_url_hint(exc, self.state)) from None
        except chat_usecase.StoppedAnswer as stop:
            from ..ui.notebook import stop_line

            raise CellStopped(stop_line(stop.result)) from None
        except KeyboardInterrupt:
            raise UsageError("Interrupted.") from None

    return wrapper


@magics_class
class OAIMagics(Magics):
    """``%%chat``, ``%chat``, ``%oai`` (and ``%transcribe``, ``%chat_panel``)."""

    model = Unicode("gpt-4o-mini", help="Default chat model.").tag(config=True)
    base_url = Unicode(
        None, allow_none=True, help="API base URL; default OPENAI_BASE_URL or api.openai.com/v1."
    ).tag(config=True)
    organization = Unicode(None, allow_none=True, help="OpenAI-Organization header.").tag(
        config=True
    )
    project = Unicode(None, allow_none=True, help="OpenAI-Project header.").tag(config=True)
    timeout = Float(600.0, help="Read timeout in seconds (connect timeout is 5 s).").tag(
        config=True
    )
    max_retries = Int(2, help="Retries for 408/409/429/5xx and connection errors.").tag(
        config=True
    )
    max_answer_chars = Int(
        4_000_000, help="An answer longer than this ends with an error (the part kept): a server "
        "could otherwise fill the kernel's memory."
    ).tag(config=True)
    max_line_bytes = Int(
        8 * 1024 * 1024, help="A single streamed line longer than this ends the answer with an "
        "error (the stream reader buffers a whole line before it can be shown)."
    ).tag(config=True)
    allow_insecure_http = Bool(
        False, help="Do not warn when the base URL is plain http:// to a host that is not this "
        "machine (a classroom server on a LAN)."
    ).tag(config=True)
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
        super().__init__(shell=shell, **kwargs)
        for name in SETTING_TRAITS:
            self._apply_setting(name, getattr(self, name))
        self._apply_costs(None)

    @validate("extra_body")
    def _check_extra_body(self, proposal: Any) -> Any:
        """Refused names fail at %config, in one line, rather than at the next request."""
        from ..errors import InputError

        try:
            parse_params([f"{name}=0" for name in proposal["value"]], "OAIMagics.extra_body:")
        except InputError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

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

    # --- shared helpers -----------------------------------------------------------------

    @property
    def client(self) -> Any:
        return client_for(self.state)

    def rich_display(self) -> bool:
        if self.display_mode != "auto":
            return self.display_mode == "rich"
        return type(self.shell.display_pub) is not DisplayPublisher

    # --- %oai ---------------------------------------------------------------------------

    @line_magic
    @one_line_errors
    def oai(self, line: str) -> None:
        """Settings and status.

        %oai                      status: key (masked), organization, project, base URL, model,
                                  last request id and rate limits
        %oai key [--clear]        set the API key with a hidden prompt (never typed into a cell)
        %oai org ID | --clear     OpenAI-Organization for every later request
        %oai project ID | --clear OpenAI-Project for every later request
        %oai base-url URL | --clear
        %oai model NAME
        %oai context N | --clear  the server's context window in tokens (history is trimmed to fit)
        %oai models               list the models the server offers
        %oai usage [--reset]      this session's requests, tokens and estimated cost, per model
                                  and per conversation (the session is the kernel: a restart
                                  resets it); --reset clears the totals
        %oai practice [--delay S] [--stop]   start the offline practice server and use it
        %oai practice --if-no-key only when no API key is set (notebooks that run anywhere)
        """
        from . import settings_commands

        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"Could not read the %oai command: {exc} (check the quotes).") from None
        if not words:
            display(settings_commands.status(self.state, self.max_tokens_param, self.context_tokens))
            return
        command, rest = words[0], words[1:]
        if command == "key":
            self._set_key(rest)
        elif command == "model" and not rest:  # a question, not a change
            print(settings_commands.describe_change(self.state, "model"))
        elif command in ("org", "organization", "project", "base-url", "model"):
            field = {"org": "organization", "base-url": "base_url"}.get(command, command)
            value = settings_commands.parse_value(command, rest)
            setattr(self, field, value)
            print(settings_commands.describe_change(self.state, field))
            warning = self.state.insecure_http_warning() if field == "base_url" else None
            if warning:
                print(warning)
        elif command == "context":
            self.context_tokens = settings_commands.parse_context(rest)
            print(settings_commands.describe_context(self.context_tokens))
        elif command == "models":
            models = settings_commands.models_table(self.client)
            if isinstance(models, str):
                print(models)
            else:
                display(models)
        elif command == "usage":
            from ..ui import usage as usage_view

            if rest == ["--reset"]:
                print(usage_view.reset(self.state))
            elif rest:
                raise UsageError("%oai usage takes no argument but --reset (see %oai?).")
            else:
                display(usage_view.usage_report(self.state))
        elif command == "practice":
            print(settings_commands.practice(self.state, rest))
            self.base_url = self.state.settings.base_url
        else:
            raise UsageError(
                f"Unknown %oai command {command!r}: use key, org, project, base-url, model, "
                "context, models, usage or practice (see %oai?)."
            )

    def _set_key(self, rest: List[str]) -> None:
        if rest == ["--clear"]:
            self.state.settings.api_key = None
            print("API key cleared for this session (OPENAI_API_KEY still applies if set).")
            return
        if rest:
            raise UsageError(
                "Do not type the key into a cell (it would be saved in history): "
                "run %oai key alone and paste it at the hidden prompt."
            )
        value = getpass.getpass("OpenAI API key (hidden): ").strip()
        if not value:
            raise UsageError("No key entered; nothing changed.")
        self.state.settings.api_key = Secret(value)
        print(f"API key set for this session: {mask_key(value)}")

    # --- %transcribe --------------------------------------------------------------------

    @magic_arguments()
    @kwds(formatter_class=LineMagicHelp)
    @argument("sources", nargs="+", metavar="SOURCE",
              help="Audio file, glob, or variable holding bytes, a path or an Audio object.")
    @argument("-m", "--model", help="whisper-1 (default: %%config OAIMagics.transcribe_model), "
              "gpt-4o-transcribe or gpt-4o-mini-transcribe.")
    @argument("-l", "--language", help="Language of the audio, ISO-639-1 (en, de...).")
    @argument("-p", "--prompt", help="Text to guide the style or spelling.")
    @argument("-t", "--temperature", type=float, help="Sampling temperature 0..1 (0 is sent).")
    @argument("-f", "--format", default="json", choices=["json", "text", "srt", "vtt", "verbose_json"],
              help="Response format (default json).")
    @argument("--timestamps", action="append", default=[], choices=["word", "segment"],
              help="Timestamp granularity, repeatable; needs -f verbose_json.")
    @argument("--translate", action="store_true", help="Translate into English (whisper-1).")
    @argument("--stream", action="store_true", help="Show the text as it comes (gpt-4o models).")
    @argument("-o", "--out", help="Store the result (a list with several sources) in this variable.")
    @argument("-c", "--conversation", help="Append the transcript to this chat conversation.")
    @argument("--org", help="OpenAI-Organization for this request only.")
    @argument("--project", help="OpenAI-Project for this request only.")
    @argument("--param", action="append", default=[], metavar="NAME=VALUE",
              help="Any other form field, repeatable; VALUE is JSON when it parses, a JSON list "
                   "becomes repeated NAME[] parts.")
    @line_magic
    @one_line_errors
    def transcribe(self, line: str) -> None:
        """Speech to text: show a player and the transcript of each SOURCE, one after another."""
        from ..core import transcribe as transcribe_usecase
        from ..core.audio_sources import resolve_sources
        from ..ui.transcript import TranscribeDisplay

        args = parse_line(self.transcribe, line)
        options = transcribe_usecase.checked_options(
            transcribe_usecase.TranscribeOptions(
                model=args.model, language=args.language, prompt=args.prompt,
                temperature=args.temperature, response_format=args.format,
                timestamps=list(args.timestamps), translate=args.translate, stream=args.stream,
                conversation=args.conversation, organization=args.org, project=args.project,
                extra=parse_params(args.param),
            ),
            default_model=self.transcribe_model,
        )
        sources = resolve_sources(args.sources, self.shell.user_ns)
        view = TranscribeDisplay(
            rich=self.rich_display(), streaming=options.stream, render_interval=self.render_interval
        )
        try:
            batch = transcribe_usecase.transcribe_all(self.state, self.client, sources, options, view)
        finally:
            view.close()
        if args.out and len(sources) > 1:
            self.shell.user_ns[args.out] = list(batch.results)
        elif args.out and batch.results:
            self.shell.user_ns[args.out] = batch.results[0]
        problem = batch.problem()
        if problem:
            kept = f" ({len(batch.results)} kept in {args.out})" if args.out and batch.results else ""
            raise UsageError(problem + kept)

    # --- %chat_panel --------------------------------------------------------------------

    @magic_arguments()
    @kwds(formatter_class=LineMagicHelp)
    @argument("-c", "--conversation", default="default", help="Conversation to open.")
    @line_magic
    @one_line_errors
    def chat_panel(self, line: str) -> Any:
        """Open a chat panel (ipywidgets) on the same conversations and settings as %%chat."""
        args = parse_line(self.chat_panel, line)
        if not self.rich_display():
            raise UsageError(
                "%chat_panel needs a notebook (JupyterLab, Jupyter Notebook, VS Code): this "
                "frontend cannot show widgets. Here, ask with %%chat."
            )
        from ..ui.panel.panel import ChatPanel

        return ChatPanel(args.conversation, state=self.state, client=self.client, magics=self)

    # --- %%chat -------------------------------------------------------------------------

    @magic_arguments()
    @kwds(formatter_class=CellMagicHelp)
    @argument("-m", "--model", help="Model for this request (default: %%config OAIMagics.model).")
    @argument("-c", "--conversation", default="default", help="Conversation name.")
    @argument("-n", "--new", action="store_true", help="Start the conversation afresh.")
    @argument("-s", "--system", help="Set the conversation's system prompt.")
    @argument("-t", "--temperature", type=float, help="Sampling temperature 0..2 (0 is sent).")
    @argument("--top-p", type=float, help="Nucleus sampling 0..1.")
    @argument("--max-tokens", type=int, help="Most tokens in the answer.")
    @argument("--seed", type=int, help="Seed for reproducible sampling.")
    @argument("--stop", action="append", default=[], help="Stop sequence (repeatable).")
    @argument("--json", action="store_true", help="Ask for a JSON object; shown pretty-printed.")
    @argument("--presence-penalty", type=float, help="-2..2: favour new topics.")
    @argument("--frequency-penalty", type=float, help="-2..2: discourage repetition.")
    @argument("--logit-bias", help='JSON mapping of token id to bias -100..100, e.g. \'{"50256": -100}\'.')
    @argument("--user", help="End-user id sent as `user`.")
    @argument("-N", "--choices", type=int, help="Number of choices (n), shown side by side.")
    @argument("--tools", help="Comma-separated kernel functions the model may call.")
    @argument("--tool-choice", help="auto, none, required, or a function name.")
    @argument("--auto-tools", action="store_true", help="Run tool calls without asking.")
    @argument("--org", help="OpenAI-Organization for this request only.")
    @argument("--project", help="OpenAI-Project for this request only.")
    @argument("-o", "--out", help="Store the result object in this variable.")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer.")
    @argument("--plain", action="store_true", help="Show the answer as plain text, not Markdown.")
    @argument("--no-footer", action="store_true", help="Hide the footer.")
    @argument("--to-cell", action="store_true", help="Put the last code block in the next cell.")
    @argument("--no-interpolate", action="store_true", help="Send {name} literally.")
    @argument("--image", action="append", default=[], metavar="SPEC",
              help="Image to send (repeatable): a png/jpg/gif/webp file, a variable (bytes, Image, "
              "PIL image, Figure), `figure` for the last matplotlib figure shown, or an https:// URL.")
    @argument("--detail", choices=["low", "high", "auto"], help="Image detail sent with --image.")
    @argument("--context", metavar="A,B", help="Variables attached, summarised, before the prompt.")
    @argument("--param", action="append", default=[], metavar="NAME=VALUE",
              help="Any request field, repeatable (e.g. --param service_tier=flex); VALUE is JSON "
                   "when it parses, else a string. Wins over a field the magic sets, with a "
                   "notice; messages, stream and n are refused. OAIMagics.extra_body adds "
                   "fields to every request.")
    @argument("--schema", metavar="VAR",
              help="Structured output: VAR is a dataclass, TypedDict, JSON-schema dict or "
                   "pydantic model; the answer is checked and kept as result.parsed (with -o).")
    @argument("--reasoning-effort", choices=REASONING_EFFORTS,
              help="How hard a reasoning model thinks; its streamed reasoning is shown "
                   "collapsed above the answer and kept as result.reasoning.")
    @argument("--verbosity", choices=VERBOSITIES, help="How long the answer should be.")
    @argument("--map", metavar="ITEMS", help="Send the cell once per element of the variable ITEMS "
              "(a list, iterable, Series or DataFrame rows): {item} is the element, {item.field} "
              "or {item[key]} one field. Independent non-streamed requests, nothing recorded; "
              "-o stores a MapResult.")
    @argument("--concurrency", type=int, metavar="K", help="--map: requests in parallel (default "
              "4), paced by the server's x-ratelimit-* headers.")
    @argument("--item-timeout", type=float, metavar="S", help="--map: seconds each item may take (default: "
              "the read timeout).")
    @argument("--yes", action="store_true", help="--map: do not ask before more than 100 items "
              "or a cost above OAIMagics.map_confirm_usd.")
    @argument("--resume", action="store_true", help="--map: send only the items of -o OUT that "
              "have no answer (never run, stopped or failed).")
    @argument("--batch", action="store_true", help="--map through the Batch API (half price, "
              "within 24 h): -o gets a BatchJob; see %%chat batch.")
    @cell_magic
    @one_line_errors
    def chat(self, line: str, cell: str) -> None:
        """Send the cell to the chat model and stream the answer as Markdown.

        {name} is replaced by the value of the variable `name`, or by a short summary for data
        (DataFrame, Series, array, a long dict or list); {name!full} sends it whole. {error} is
        the last error of this kernel, {In[3]} and {Out[3]} come from history; every other brace
        is sent as typed.
        """
        args = parse_line(self.chat, line)
        cell = cell.rstrip()
        if args.map is None and (args.concurrency is not None or args.item_timeout is not None
                                 or args.yes or args.resume or args.batch):
            raise UsageError("--concurrency, --item-timeout, --yes, --resume and --batch go with "
                             "--map ITEMS.")
        if args.map is not None:
            if not cell.strip():
                raise UsageError(f"%%chat: {PROMPT_BELOW}.")
            from . import map_command

            return map_command.run(self, args, cell)
        prompt, sent = self._prompt_and_context(args, cell)
        if not prompt.strip():
            raise UsageError(f"%%chat: {PROMPT_BELOW}.")
        content = self._with_context(args, prompt, sent)
        options = self._chat_options(args)
        validate_chat_options(options)
        target = self._schema_target(args)
        if target is not None:
            options.json_schema = target.response_format()
            args.json = True  # --schema replaces --json: streamed as text, pretty at the end
        chat_usecase.check_budget(self.state, options.extra.get("model", options.model
                                                                 or self.state.settings.model))
        # -n and -s are committed with the turn (chat.TurnStart): a refused option, an unknown
        # tool or a request that fails before any answer leaves the conversation as it was.
        if args.tools or args.tool_choice or args.auto_tools or (options.n or 1) > 1:
            from . import chat_extras

            result = chat_extras.run(self, args, content, options)
        else:
            result = self._ask(args, content, options)
        problem = self._parse_structured(target, result) if target is not None else None
        self._after_answer(args, result)
        if problem:
            raise UsageError(problem)

    def _schema_target(self, args: Any) -> Any:
        if not args.schema:
            return None
        from ..core.structured import schema_target

        if args.schema not in self.shell.user_ns:
            raise UsageError(f"--schema {args.schema}: no such variable (define a dataclass, "
                             "TypedDict, JSON-schema dict or pydantic model first).")
        return schema_target(self.shell.user_ns[args.schema], args.schema)

    @staticmethod
    def _parse_structured(target: Any, result: chat_usecase.ChatResult) -> Any:
        """Every choice's answer as the object asked for; the first problem as one line."""
        from ..core.structured import StructuredAnswerError, parse_answer

        if result.partial:
            return None
        problem = None
        for choice in result.choices:
            try:
                choice.parsed = parse_answer(choice.text, target, choice.refusal)
            except StructuredAnswerError as exc:
                label = f"choice {choice.index + 1}: " if len(result.choices) > 1 else ""
                problem = problem or (f"--schema: {label}{exc} (the raw text is kept in "
                                      f"'{result.conversation}' and in result.text)")
        result.parsed = result.choices[0].parsed if result.choices else None
        return problem

    def _prompt_and_context(self, args: Any, cell: str) -> Any:
        """The interpolated prompt and what goes with it: summaries, {error}, images."""
        from ..core.context import Sent, SentPart, resolve_image, summary

        sent = Sent()
        if args.no_interpolate:
            prompt = cell
        else:
            from ..core.interpolate import NO_ERROR_YET, interpolate_context

            last = self.state.last_error
            error_text = last.text(self.state.settings.resolved_key()) if last else None
            prompt, parts = interpolate_context(
                cell, self.shell.user_ns, summarise=summary, error_text=error_text)
            if any(label == NO_ERROR_YET for label, _, _ in parts):
                raise UsageError("{error}: there has been no error in this kernel yet (our own "
                                 "one-line messages do not count); nothing sent.")
            sent.parts = [SentPart(*part) for part in parts]
        watcher = getattr(self, "figure_watcher", None)
        for spec in args.image:
            sent.images.append(resolve_image(
                spec, self.shell.user_ns, watcher.last_figure if watcher else None))
        if args.detail and not args.image:
            raise UsageError("--detail goes with --image: it says how closely to look at the images.")
        return prompt, sent

    def _with_context(self, args: Any, prompt: str, sent: Any) -> Any:
        """Check the cap, queue the sent-line, and build the user content (text or parts)."""
        from ..core.context import context_block, parse_names, user_content

        block = None
        if args.context:
            block, parts = context_block(parse_names(args.context), self.shell.user_ns)
            sent.parts = parts + sent.parts
        sent.check_cap(self.max_context_chars)
        notice = sent.notice()
        with self.state.lock:
            self.state.context_notices = [notice] if notice else []
        return user_content(prompt, block, sent.images, args.detail)

    def _chat_options(self, args: Any) -> ChatOptions:
        params = parse_params(args.param)
        return ChatOptions(
            model=args.model,
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            max_tokens_field=self.max_tokens_param,
            seed=args.seed,
            stop=list(args.stop),
            json_mode=args.json,
            stream=not args.no_stream,
            n=args.choices,
            presence_penalty=args.presence_penalty,
            frequency_penalty=args.frequency_penalty,
            logit_bias=parse_logit_bias(args.logit_bias) if args.logit_bias else None,
            user=args.user,
            organization=args.org,
            project=args.project,
            reasoning_effort=args.reasoning_effort,
            verbosity=args.verbosity,
            extra={**self.extra_body, **params},
            param_names=list(params),
        )

    def history_budget(self) -> chat_usecase.HistoryBudget:
        return chat_usecase.HistoryBudget(
            self.history_max_messages, self.history_max_tokens, self.context_tokens
        )

    def chat_view(self, args: Any) -> Any:
        from ..ui.notebook import NotebookChatView, TerminalChatView

        if self.rich_display():
            return NotebookChatView(
                plain=args.plain,
                footer=not args.no_footer,
                json_mode=args.json,
                render_interval=self.render_interval,
            )
        return TerminalChatView(footer=not args.no_footer)

    def _ask(self, args: Any, prompt: Any, options: ChatOptions) -> chat_usecase.ChatResult:
        view = self.chat_view(args)
        try:
            return chat_usecase.ask(
                self.state,
                self.client,
                prompt,
                view,
                options=options,
                conversation=args.conversation,
                budget=self.history_budget(),
                start=chat_usecase.TurnStart(args.new, args.system),
            )
        except chat_usecase.StoppedAnswer as stop:
            if args.out:
                self.shell.user_ns[args.out] = stop.result  # the partial result, as -o promises
            raise

    def _after_answer(self, args: Any, result: chat_usecase.ChatResult) -> None:
        if args.out:
            self.shell.user_ns[args.out] = result
        if args.to_cell:
            from .conversations import last_code_block

            code = last_code_block(result.text)
            if code is not None:
                self.shell.set_next_input(code, replace=False)
        if result.error:
            from ..ui.notebook import cut_off_line, one_line

            if result.nothing_arrived:  # e.g. a tool round's follow-up failed: nothing to undo
                raise UsageError(one_line(result.error))
            raise UsageError(cut_off_line(args.conversation))

    # --- %chat (conversation management) -------------------------------------------------

    @line_magic("chat")
    @one_line_errors
    def chat_line(self, line: str) -> Any:
        """Manage conversations.

        %chat list
        %chat history [-c NAME]
        %chat reset [-c NAME | --all]
        %chat undo [-c NAME]
        %chat system TEXT [-c NAME]
        %chat export PATH [-c NAME]      .md or .json by extension
        %chat load PATH [-c NAME]
        %chat pick K [-c NAME]           record choice K of the last -N answer
        %chat fix [-c NAME] [-m MODEL]   ask about the last error; the fix is offered as next cell
        %chat batch status|wait|results|cancel [ID]   a %%chat --map --batch job (the last one
                                         when no ID is given); results returns a MapResult
        """
        from . import conversations

        if line.split()[:1] == ["batch"]:
            from . import map_command

            return map_command.batch_command(self, line)
        if line.split()[:1] == ["fix"]:
            return self._fix(line.split(None, 1)[1] if len(line.split()) > 1 else "")
        return conversations.run_command(self.state, line)

    def _fix(self, line: str) -> None:
        """``%chat fix``: the failing cell and its traceback, asking for a corrected cell."""
        import types

        from ..core.context import FIX_REQUEST, Sent, SentPart

        words = shlex.split(line)
        parser = fix_parser()
        args, extra = parser.parse_known_args(words)
        if extra:
            raise UsageError(f"%chat fix takes options only (-c NAME, -m MODEL), not "
                             f"{' '.join(extra)!r}: it asks about the last error.")
        last = self.state.last_error
        if last is None:
            raise UsageError("%chat fix: there has been no error in this kernel yet, so there is "
                             "nothing to fix.")
        text = last.text(self.state.settings.resolved_key())
        sent = Sent([SentPart("traceback", text)])
        sent.check_cap(self.max_context_chars)
        with self.state.lock:
            self.state.context_notices = [sent.notice()]
        content = [{"type": "text", "text": FIX_REQUEST}, {"type": "text", "text": text}]
        view_args = types.SimpleNamespace(
            conversation=args.conversation, plain=False, no_footer=False, json=False, out=None,
            to_cell=True, new=False, system=None,
        )
        options = ChatOptions(model=args.model, max_tokens_field=self.max_tokens_param)
        result = self._ask(view_args, content, options)
        self._after_answer(view_args, result)


def fix_parser() -> Any:
    from .conversations import _Parser

    parser = _Parser(prog="fix", add_help=False)
    parser.add_argument("-c", "--conversation", default="default")
    parser.add_argument("-m", "--model")
    return parser


def client_for(state: KernelState) -> Any:
    """One HTTP client (one requests.Session) per kernel state, made on first use."""
    client = getattr(state, "_client", None)
    if client is None:
        from ..api.client import OpenAIClient

        client = state._client = OpenAIClient(state.settings)  # type: ignore[attr-defined]
    return client


def remember_error(state: Any, result: Any) -> None:
    """A ``post_run_cell`` hook: keep the last exception that is not our own ``UsageError``."""
    from IPython.core.error import UsageError

    from ..core.context import LastError
    from ..errors import CellStopped

    exc = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    if exc is None or isinstance(exc, (UsageError, CellStopped)):
        return
    info = getattr(result, "info", None)
    state.last_error = LastError(getattr(info, "raw_cell", "") or "", exc)


def register(ipython: Any) -> None:
    """Register the magics once per shell: autoload plus ``%load_ext`` (or a reload) keep the
    same magics object, with its configuration and state."""
    if empty_chat_cell not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(empty_chat_cell)
    if "OAIMagics" in ipython.magics_manager.registry:
        return
    ipython.register_magics(OAIMagics)
    watch_the_kernel(ipython)


class FiguresShown(BaseFormatter):
    """A display formatter that shows nothing: it notes each matplotlib Figure displayed.

    It goes by the class's module and name, so matplotlib is never imported, and not by the
    formatter's type registry, which the inline backend clears of Figure when it starts. It
    returns None, so no output is added.
    """

    format_type = Unicode("application/x-oai-figure-shown")
    print_method = ObjectName("_repr_oai_figure_shown_")
    watcher: Any = None

    def __call__(self, obj: Any) -> None:
        kind = type(obj)
        if self.watcher is not None and kind.__name__ == "Figure" and kind.__module__ == "matplotlib.figure":
            self.watcher.saw(obj)


def watch_the_kernel(ipython: Any) -> None:
    """Hooks that keep the last error and the last figure shown, for %chat fix, {error} and
    --image figure. The figure hook runs before the inline backend closes the cell's figures."""
    from ..core.context import FigureWatcher

    magics = ipython.magics_manager.registry["OAIMagics"]
    watcher = magics.figure_watcher = FigureWatcher()
    ipython.events.callbacks["post_execute"].insert(0, watcher)
    formatters = getattr(getattr(ipython, "display_formatter", None), "formatters", None)
    if formatters is not None:  # the inline backend's plt.show() displays, then closes
        seen = FiguresShown(parent=ipython.display_formatter)
        seen.watcher = watcher
        formatters[seen.format_type] = seen
    ipython.events.register(
        "post_run_cell", lambda result=None: remember_error(get_state(ipython), result))
