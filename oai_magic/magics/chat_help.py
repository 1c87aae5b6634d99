"""The one list of ``%chat`` commands: ``%chat`` alone, ``%chat?`` and its COMMAND argument are
all generated from it, so a new command cannot be missing from one of them (``batch`` was)."""

from __future__ import annotations

# (command, its words, what it does): in the order the help lists them.
CHAT_COMMANDS = (
    ("list", "", "every conversation, its exchanges, tokens and last message"),
    ("history", "[-c NAME]", "the messages of one conversation"),
    ("reset", "[-c NAME | --all]", "forget a conversation (or all)"),
    ("undo", "[-c NAME]", "remove the last exchange"),
    ("system", "TEXT [-c NAME]", "set the system prompt"),
    ("export", "PATH [-c NAME]", "save as .md or .json (by the extension)"),
    ("load", "PATH [-c NAME]", "load a .json export"),
    ("pick", "K [-c NAME]", "record choice K of the last -N answer"),
    ("fix", "[-c NAME] [-m MODEL]", "ask about the last error (the fix is offered as next cell)"),
    ("batch", "status|wait|results|cancel [ID]",
     "a %%chat --map --batch job (the last one by default)"),
    ("resume", "[-c NAME | --all | --from NOTEBOOK]",
     "bring back this notebook's conversations from the log (after a restart)"),
    ("log", "[-n N] [-c NAME] [--all]", "the latest turns in the log (this notebook's)"),
    ("search", "TEXT", "logged turns whose prompt or answer contains TEXT"),
    ("forget", "[-c NAME | --all | --before DATE]", "erase turns from the log for real"),
)


def command_names() -> str:
    """``list, history, …, fix or batch``."""
    names = [name for name, _, _ in CHAT_COMMANDS]
    return ", ".join(names[:-1]) + " or " + names[-1]


def command_lines(indent: str = "  ") -> str:
    """One aligned line per command: ``%chat undo [-c NAME]   remove the last exchange``."""
    synopses = [f"%chat {name} {words}".rstrip() for name, words, _ in CHAT_COMMANDS]
    width = max(len(s) for s in synopses) + 3
    return "\n".join(f"{indent}{synopsis.ljust(width)}{what}"
                     for synopsis, (_, _, what) in zip(synopses, CHAT_COMMANDS))


# What ``%chat`` alone shows, and the description of ``%chat?`` (a docstring, so indented).
USAGE = ("%chat manages conversations (to ask the model, use the cell magic %%chat):\n"
         + command_lines())
COMMANDS_HELP = "Manage conversations.\n\n" + command_lines(" " * 8) + "\n        "
