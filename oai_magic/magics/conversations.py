"""``%chat`` subcommands: list, history, reset, undo, system, export, load, pick."""

from __future__ import annotations

import argparse
import difflib
import shlex
from typing import Any

from ..core.conversation_files import export_conversation, read_conversation, transcript_markdown
from ..errors import InputError
from ..plain_text import shortened, terminal_safe
from ..render.attachments import parts_html
from ..render.table import Table
from ..state import Conversation, KernelState, content_text
from .arguments import PROMPT_BELOW


class CommandParser(argparse.ArgumentParser):
    """The parser of a ``%chat`` command: a mistake is one line that names the command."""

    def error(self, message: str) -> None:  # one line, no usage dump, no SystemExit
        raise InputError(f"%chat {self.prog}: {message} (see %chat?)")


def _parser(prog: str, *positional: str, all_flag: bool = False) -> CommandParser:
    parser = CommandParser(prog=prog, add_help=False)
    for name in positional:
        parser.add_argument(name, nargs="+" if name == "text" else None)
    parser.add_argument("-c", "--conversation", default="default")
    if all_flag:
        parser.add_argument("--all", action="store_true")
    return parser


LOG_COMMANDS = ("resume", "log", "search", "forget")  # magics/log_commands.py runs them
COMMANDS = {
    "list": (),
    "history": (),
    "reset": (),
    "undo": (),
    "system": ("text",),
    "export": ("path",),
    "load": ("path",),
    "pick": ("k",),
}



class Note:
    """Text a %chat command shows as its result (``%chat`` alone, an empty list)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return terminal_safe(self.text)


def read_command_words(line: str) -> list:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise InputError(f"Could not read %chat {line}: {exc} (check the quotes).") from None


def run_command(state: KernelState, line: str) -> Any:
    words = read_command_words(line)
    if not words:
        from .chat_help import USAGE

        return Note(USAGE)
    if words[0] not in COMMANDS:
        close = difflib.get_close_matches(words[0], [*COMMANDS, *LOG_COMMANDS, "fix", "batch"],
                                          n=1, cutoff=0.7)
        if close and (len(words) == 1 or words[1].startswith("-")):  # a typo, not a question
            raise InputError(f"%chat: unknown command {words[0]}: did you mean {close[0]}?")
        if words[0].startswith("-"):
            raise InputError(
                f"Unknown %chat command {words[0]!r}: use {', '.join(COMMANDS)} (%chat lists them)."
            )
        # Most often a question typed after %chat: say where a prompt goes.
        raise InputError(f"{words[0]!r} is not a %chat command: to ask the model, {PROMPT_BELOW}.")
    command, rest = words[0], words[1:]
    args = _parser(command, *COMMANDS[command], all_flag=command == "reset").parse_args(rest)
    handler = globals()[f"_{command}"]
    names = sorted(state.conversations) if command == "reset" and args.all else []
    with state.lock:  # a panel thread may be recording a turn at this moment
        result = handler(state, args)
    _log_operation(state, command, args, names)
    if command not in ("list", "history"):
        state.notify("conversation", {"name": args.conversation, "command": command})
    return result


def _log_operation(state: KernelState, command: str, args: Any, names: list) -> None:
    """What changed a conversation goes into the log, so a resume rebuilds it exactly."""
    from ..core.durable import log_operation

    name = args.conversation
    if command == "reset":
        for each in names:  # --all: gone, system prompts too
            log_operation(state, each, "load", snapshot={"messages": [], "system": None})
        if not names:
            log_operation(state, name, "reset")
    elif command == "undo":
        log_operation(state, name, "undo")
    elif command == "system":
        log_operation(state, name, "system", text=state.conversation(name).system)
    elif command == "pick":
        log_operation(state, name, "pick", k=int(args.k))
    elif command == "load":
        log_operation(state, name, "load", snapshot=state.conversation(name))


def _existing(state: KernelState, name: str) -> Conversation:
    if name not in state.conversations:
        known = ", ".join(sorted(state.conversations)) or "none yet"
        raise InputError(f"No conversation named {name!r} (known: {known}).")
    return state.conversation(name)


def _list(state: KernelState, args: Any) -> Any:
    from ..core.costs import ledger_of

    used = ledger_of(state).by_conversation
    rows = []
    for name in sorted(state.conversations):
        thread = state.conversations[name]
        last = next((content_text(m.content) for m in reversed(thread.messages) if m.content), "")
        preview = shortened(last, 50)
        tokens = used[name].tokens if name in used else 0
        rows.append((name, len(thread.turns()), f"{tokens:,}", thread.system or "",
                     preview.replace("\n", " ")))
    if not rows:
        return Note("No conversations yet: the first %%chat cell starts 'default' (-c NAME names another).")
    return Table(["conversation", "exchanges", "tokens", "system prompt", "last message"], rows)


def _history(state: KernelState, args: Any) -> Any:
    thread = _existing(state, args.conversation)
    return Transcript(thread)


def _reset(state: KernelState, args: Any) -> None:
    if args.all:
        count = state.forget_conversations()
        print(f"All {count} conversations removed.")
        return
    _existing(state, args.conversation).reset()
    print(f"Conversation {args.conversation!r} is empty (its system prompt is kept).")


def _undo(state: KernelState, args: Any) -> None:
    removed = _existing(state, args.conversation).undo()
    if not removed:
        print(f"Nothing to undo in {args.conversation!r}.")
        return
    print(f"Removed the last exchange from {args.conversation!r} ({len(removed)} messages).")


def _system(state: KernelState, args: Any) -> None:
    state.conversation(args.conversation).system = " ".join(args.text)
    print(f"System prompt of {args.conversation!r} set.")


def _export(state: KernelState, args: Any) -> None:
    thread = _existing(state, args.conversation)
    written = export_conversation(thread, args.path)
    also = f" and {written} image{'s' if written != 1 else ''} to images/" if written else ""
    print(f"Exported {args.conversation!r} ({len(thread.messages)} messages) to {args.path}{also}.")


def _load(state: KernelState, args: Any) -> None:
    messages, system = read_conversation(args.path)
    with state.lock:
        thread = state.conversation(args.conversation)
        thread.messages = messages
        thread.system = system
    print(f"Loaded {len(messages)} messages into {args.conversation!r}.")


def _pick(state: KernelState, args: Any) -> None:
    thread = _existing(state, args.conversation)
    try:
        k = int(args.k)
    except ValueError:
        raise InputError(f"%chat pick takes a choice number, got {args.k!r}") from None
    last = next((m for m in reversed(thread.messages) if m.role == "assistant"), None)
    if last is None:
        raise InputError(f"There is no answer in {args.conversation!r} to pick from.")
    if not last.alternatives:
        raise InputError(f"The last answer in {args.conversation!r} has 1 choice, so there is "
                         "nothing to pick (servers that ignore n return 1 choice).")
    count = len(last.alternatives)
    if not 1 <= k <= count:
        raise InputError(f"The last answer in {args.conversation!r} has {count} choices: "
                         f"choose between 1 and {count}, got {k}.")
    last.content = last.alternatives[k - 1]
    print(f"Recorded choice {k} as the answer in {args.conversation!r}.")


class Transcript:
    """A rendered transcript: escaped Markdown HTML in a notebook, Markdown as text.

    Messages with context (content parts) are drawn by our own chrome: the context block
    collapsed, images as thumbnails. The model-Markdown path would refuse their ``data:`` URLs.
    """

    def __init__(self, thread: Conversation) -> None:
        self.thread = thread
        self.markdown = transcript_markdown(thread)

    def __repr__(self) -> str:
        return terminal_safe(self.markdown)

    def _repr_html_(self) -> str:
        from ..render.markdown import IGNORE_MATH, render_markdown

        if not any(isinstance(m.content, list) for m in self.thread.messages):
            # Our renderer marks the math it found; everything else ("$5 and $10") stays text.
            return f'<div class="oai-transcript {IGNORE_MATH}">{render_markdown(self.markdown)}</div>'
        return f'<div class="oai-transcript {IGNORE_MATH}">{transcript_html(self.thread)}</div>'


def transcript_html(thread: Conversation) -> str:
    """Each message rendered alone; content parts through :func:`parts_html`."""
    from ..render.markdown import render_markdown

    html = [render_markdown(f"# Conversation: {thread.name}\n")]
    if thread.system:
        html.append(render_markdown(f"**system:** {thread.system}\n"))
    for message in thread.messages:
        label = message.role + (" (partial)" if message.partial else "")
        if isinstance(message.content, list):
            html.append(render_markdown(f"### {label}\n"))
            html.append(parts_html(message.content))
        else:
            single = Conversation(thread.name, messages=[message])
            html.append(render_markdown(transcript_markdown(single).split("\n", 1)[1]))
    return "".join(html)
