"""The one guarded parser of the magics: shell-style words, one-line errors, generated help.

Every magic reads its line through :func:`read_words` (a quote left open is one line, not a
traceback); the magics with options declare them here with IPython's ``magic_arguments``, so
``%%chat?``, ``%transcribe?`` and ``%chat_panel?`` are generated from the options themselves.
"""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Any, Callable, List, Optional, Tuple

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicHelpFormatter, argument, kwds, magic_arguments

from ..api.request import REASONING_EFFORTS, SERVICE_TIERS, VERBOSITIES

PROMPT_BELOW = "put the prompt on the lines below %%chat (options stay on the first line)"


class LineMagicHelp(MagicHelpFormatter):
    """``%magic?`` starts with "usage: %name", not IPython's reStructuredText ``::`` block."""

    escape = "%"

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any = None) -> None:
        super().add_usage(usage, actions, groups, f"usage: {self.escape}")


class CellMagicHelp(LineMagicHelp):
    """``%%chat?`` names the cell magic (``%%chat``), not the line magic of the same name."""

    escape = "%%"


def magic_parser(description: str, formatter: type, *arguments: argument, name: str = "") -> Callable:
    """Give a magic method its parser and its help: "usage: ..." + ``description`` + options.
    ``name`` is the magic's name where the method's differs (``chat_line`` is ``%chat``)."""

    def decorate(func: Callable) -> Callable:
        func.__doc__ = description
        if name:
            func.argcmd_name = name  # what IPython's magic_arguments calls the magic
        for declared in reversed(arguments):
            func = declared(func)
        return magic_arguments()(kwds(formatter_class=formatter)(func))

    return decorate


def command_words(commands: str) -> tuple:
    """The two declared arguments of a command magic (``%oai``, ``%chat``): a command and its
    words. Only the help is generated from them; each command reads its words itself, through
    :func:`read_words`, since each takes different ones."""
    return (
        argument("command", nargs="?", metavar="COMMAND", help=f"one of: {commands}."),
        argument("words", nargs="*", metavar="WORD", help="the command's own words (see above)."),
    )


def read_words(line: str, what: str = "the options") -> List[str]:
    """The line split shell-style: ``-s 'Be terse.'`` gives ``Be terse.`` without quotes."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Could not read {what}: {exc} (check the quotes).") from None


def parse_line(magic: Callable, line: str) -> Any:
    """Parse magic options shell-style, as declared with :func:`magic_parser`.

    IPython's ``parse_argstring`` splits non-POSIX and keeps the quotes. Words that are not
    options get a hint: the closest option for a misspelt one, or where a %%chat prompt goes.
    """
    words = read_words(line)
    _refuse_long_options_with_one_dash(magic, words)
    try:
        return magic.parser.parse_args(words)
    except UsageError as exc:
        raise UsageError(explain_parse_error(magic, str(exc))) from None


def _refuse_long_options_with_one_dash(magic: Callable, words: List[str]) -> None:
    """``-temperature 0.2`` is ``-t emperature`` to argparse ("invalid float value:
    'emperature'"): a word that is a long option with one dash gets the option it meant."""
    known = [o for o in magic.parser._option_string_actions if o.startswith("--")]
    for word in words:
        if word.startswith("-") and not word.startswith("--") and len(word.split("=")[0]) > 2:
            close = difflib.get_close_matches("-" + word.split("=")[0], known, n=1, cutoff=0.8)
            if close and word not in magic.parser._option_string_actions:
                name = getattr(magic.parser.formatter_class, "escape", "%") + magic.parser.prog
                raise UsageError(f"{name}: unknown option {word}: did you mean {close[0]}?")


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


_MAP_OPTION = re.compile(r"(?:^|(?<=\s))--map(?:=|\s+)")
_CLOSING = {"[": "]", "(": ")", "{": "}"}


def split_off_map_items(line: str) -> Tuple[str, Optional[str]]:
    """``--map``'s argument as typed, and the line with a plain word in its place.

    ``--map ITEMS`` takes a Python expression (``df["region"]``, ``df.region``,
    ``df[df.sales > 4]``). Split shell-style it would lose its quotes (``df[region]``) or its
    spaces, so it is read from the raw line: up to the first space outside brackets and quotes.
    A whole expression in shell quotes (``--map 'df["a b"]'``) is unquoted once.
    """
    found = _MAP_OPTION.search(line)
    if found is None or not any(w == "--map" or w.startswith("--map=") for w in read_words(line)):
        return line, None
    start = found.end()
    end = _expression_end(line, start)
    raw = line[start:end]
    if not raw:
        return line, None
    if raw[0] in "'\"" and raw[-1] == raw[0] and len(raw) > 1:
        words = read_words(raw, "--map's argument")
        raw = words[0] if len(words) == 1 else raw
    return line[:start] + "ITEMS" + line[end:], raw


def _expression_end(line: str, start: int) -> int:
    """Where an expression typed from ``start`` ends: the first space outside brackets and
    quotes (unbalanced: the first space, and Python says what is wrong)."""
    expected: List[str] = []
    quote = ""
    index = start
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in _CLOSING:
            expected.append(_CLOSING[char])
        elif expected and char == expected[-1]:
            expected.pop()
        elif char.isspace() and not expected:
            return index
        index += 1
    if expected or quote:
        gap = re.search(r"\s", line[start:])
        return start + gap.start() if gap else len(line)
    return index


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
    return [f"__import__({__name__!r}).{__name__.split('.', 1)[1]}.refuse_empty_chat_cell()\n"]


# IPython's check_complete runs every cleanup transformer without side effects while it decides
# whether a typed cell is finished. Ours would turn the first line of every ``%%chat`` cell into
# a complete statement, so terminal IPython ran the cell before its prompt could be typed. It
# only rewrites whole cells, at run time: IPython then leaves it out of the check (as
# ``%%timeit`` waits for its body, ``%%chat`` does).
empty_chat_cell.has_side_effects = True  # type: ignore[attr-defined]


def refuse_empty_chat_cell() -> None:
    raise UsageError(f"%%chat: {PROMPT_BELOW}.")


# --- the options of each magic --------------------------------------------------------------

CHAT_ARGUMENTS = (
    argument("-m", "--model", help="Model for this request (default: %%config OAIMagics.model)."),
    argument("-c", "--conversation", default="default", help="Conversation name."),
    argument("-n", "--new", action="store_true", help="Start the conversation afresh."),
    argument("-s", "--system", help="Set the conversation's system prompt."),
    argument("-t", "--temperature", type=float, help="Sampling temperature 0..2 (0 is sent)."),
    argument("--top-p", type=float, help="Nucleus sampling 0..1."),
    argument("--max-tokens", type=int, help="Most tokens in the answer."),
    argument("--seed", type=int, help="Seed for reproducible sampling."),
    argument("--stop", action="append", default=[], help="Stop sequence (repeatable)."),
    argument("--json", action="store_true", help="Ask for a JSON object; shown pretty-printed."),
    argument("--presence-penalty", type=float, help="-2..2: favour new topics."),
    argument("--frequency-penalty", type=float, help="-2..2: discourage repetition."),
    argument("--logit-bias", help='JSON mapping of token id to bias -100..100, e.g. \'{"50256": -100}\'.'),
    argument("--user", help="End-user id, sent as `safety_identifier` (hash it first if it is "
             "an email or a name)."),
    argument("-N", "--choices", type=int, help="Number of choices (n), shown side by side."),
    argument("--tools", help="Comma-separated kernel functions the model may call, and MCP tools: "
             "mcp:SERVER (all its tools) or mcp:SERVER/TOOL (%%oai mcp add SERVER ...)."),
    argument("--tool-choice", help="auto (the default), none, required, or a function name."),
    argument("--auto-tools", action="store_true", help="Run tool calls without asking."),
    argument("--org", help="OpenAI-Organization for this request only."),
    argument("--project", help="OpenAI-Project for this request only."),
    argument("-o", "--out", help="Store the result object in this variable."),
    argument("--no-stream", action="store_true", help="Wait for the whole answer."),
    argument("--plain", action="store_true", help="Show the answer as plain text, not Markdown."),
    argument("--no-footer", action="store_true", help="Hide the footer."),
    argument("--to-cell", action="store_true", help="Put the last code block in the next cell."),
    argument("--no-interpolate", action="store_true", help="Send {name} literally."),
    argument("--image", action="append", default=[], metavar="SPEC",
             help="Image to send (repeatable): a png/jpg/gif/webp file, a variable (bytes, Image, "
             "PIL image, Figure), `figure` for the last matplotlib figure shown, or an https:// URL."),
    argument("--detail", choices=["low", "high", "auto"], help="Image detail sent with --image."),
    argument("--context", metavar="A,B", help="Variables attached, summarised, before the prompt."),
    argument("--param", action="append", default=[], metavar="NAME=VALUE",
             help="Any request field, repeatable (e.g. --param service_tier=flex); VALUE is JSON "
                  "when it parses, else a string. Wins over a field the magic sets, with a "
                  "notice; messages, stream and n are refused. OAIMagics.extra_body adds "
                  "fields to every request."),
    argument("--schema", metavar="VAR",
             help="Structured output: VAR is a dataclass, TypedDict, JSON-schema dict or "
                  "pydantic model; the answer is checked and kept as result.parsed (with -o)."),
    argument("--reasoning-effort", choices=REASONING_EFFORTS,
             help="How hard a reasoning model thinks; its streamed reasoning is shown "
                  "collapsed above the answer and kept as result.reasoning."),
    argument("--verbosity", choices=VERBOSITIES, help="How long the answer should be."),
    argument("--map", metavar="ITEMS", help="Send the cell once per element of ITEMS, a variable "
             "or an expression such as df[\"region\"] (a list, iterable, Series or DataFrame rows): "
             "{item} is the element, {item.field} "
             "or {item[key]} one field. Independent non-streamed requests, nothing recorded; "
             "-o stores a MapResult."),
    argument("--concurrency", type=int, metavar="K", help="--map: requests in parallel (default "
             "4), paced by the server's x-ratelimit-* headers."),
    argument("--item-timeout", type=float, metavar="S", help="--map: seconds each item may take (default: "
             "the read timeout)."),
    argument("--yes", action="store_true", help="--map: do not ask before more than 100 items "
             "or a cost above OAIMagics.map_confirm_usd."),
    argument("--resume", action="store_true", help="--map: send only the items of -o OUT that "
             "have no answer (never run, stopped or failed)."),
    argument("--batch", action="store_true", help="--map through the Batch API (half price, "
             "within 24 h): -o gets a BatchJob; see %%chat batch."),
    # issue 29: what the API returns, shown
    argument("--web-search", nargs="?", const="", metavar="SIZE",
             help="Search the web (search models, e.g. gpt-4o-mini-search-preview): sends "
                  "web_search_options, with search_context_size low, medium or high if given; "
                  "the sources cited are listed under the answer and kept in result.citations."),
    argument("--logprobs", nargs="?", const=3, type=int, metavar="K",
             help="Ask for each token's log probability and its K most likely alternatives "
                  "(0..20, default 3): result.logprobs."),
    argument("--confidence", action="store_true",
             help="Show the answer with each token tinted by its probability, the alternatives "
                  "in its tooltip (asks for --logprobs)."),
    argument("--service-tier", choices=SERVICE_TIERS,
             help="Processing tier to ask for (flex is cheaper and slower); the tier that served "
                  "the answer is shown in the footer and priced."),
    argument("--file", action="append", default=[], metavar="PATH",
             help="A file sent with the prompt (repeatable), e.g. a PDF, as a `file` content part; "
                  "at most 20 MB, like images."),
)

TRANSCRIBE_ARGUMENTS = (
    argument("sources", nargs="*", metavar="SOURCE",
             help="Audio file, glob, or variable holding bytes, a path, an Audio object or a "
                  "--mic recording (to transcribe it again)."),
    argument("-m", "--model", help="whisper-1 (default: %%config OAIMagics.transcribe_model), "
             "gpt-4o-transcribe, gpt-4o-mini-transcribe or gpt-4o-transcribe-diarize (chosen "
             "for -f diarized_json and --speaker when -m is not given)."),
    argument("-l", "--language", help="Language of the audio, ISO-639-1 (en, de...)."),
    argument("-p", "--prompt", help="Text to guide the style or spelling."),
    argument("-t", "--temperature", type=float, help="Sampling temperature 0..1 (0 is sent)."),
    argument("-f", "--format", default="json",
             choices=["json", "text", "srt", "vtt", "verbose_json", "diarized_json"],
             help="Response format (default json); diarized_json shows who said each segment "
                  "(a speaker column; result.segments[i].speaker)."),
    argument("--timestamps", action="append", default=[], choices=["word", "segment"],
             help="Timestamp granularity, repeatable; needs -f verbose_json."),
    argument("--translate", action="store_true", help="Translate into English (whisper-1)."),
    argument("--stream", action="store_true", help="Show the text as it comes (gpt-4o models)."),
    argument("-o", "--out", help="Store the result (a list with several sources) in this variable."),
    argument("-c", "--conversation", help="Append the transcript to this chat conversation."),
    argument("--org", help="OpenAI-Organization for this request only."),
    argument("--project", help="OpenAI-Project for this request only."),
    argument("--param", action="append", default=[], metavar="NAME=VALUE",
             help="Any other form field, repeatable; VALUE is JSON when it parses, a JSON list "
                  "becomes repeated NAME[] parts."),
    # issue 28: what the newer models take
    argument("--speaker", action="append", default=[], metavar="NAME=FILE",
             help="A known speaker and 2-10 s of their voice, repeatable (up to 4, %%config "
                  "OAIMagics.transcribe_max_speakers); segments are labelled NAME. Needs -f "
                  "diarized_json; sent as known_speaker_names[] and known_speaker_references[]."),
    argument("--logprobs", action="store_true",
             help="Ask for each token's log probability (include[]=logprobs; gpt-4o-transcribe "
                  "and gpt-4o-mini-transcribe, -f json): result.logprobs."),
    argument("--chunking", metavar="auto|JSON",
             help="chunking_strategy: auto, or a server_vad object such as "
                  "'{\"type\": \"server_vad\", \"threshold\": 0.5}'. Diarizing more than 30 s "
                  "needs it (checked for WAV and FLAC before sending)."),
    argument("--mic", action="store_true",
             help="Record from the microphone instead of SOURCE: shows a recorder (Record / Stop "
                  "recording, a level meter, the time) and returns at once. The result (-o VAR, "
                  "default `recording`) fills in later: VAR.audio (WAV bytes, 16 kHz mono), "
                  "VAR.text; `await VAR` in a later cell waits for the transcript, VAR.wait() "
                  "once the recording has stopped. At most %%config OAIMagics.max_recording_s "
                  "(600 s). A failed transcription keeps the audio: %%transcribe VAR retries."),
    argument("--save", metavar="PATH",
             help="With --mic: also write the recording to PATH (a .wav file)."),
)

CHAT_PANEL_ARGUMENTS = (
    argument("-c", "--conversation", default="default", help="Conversation to open."),
    argument("--side", action="store_true",
             help="Dock the panel beside the notebook (JupyterLab with sidecar, the lab extra); "
                  "asked again, the docked panel of that conversation is focused."),
)
