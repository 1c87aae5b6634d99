"""``%chat resume``, ``%chat log``, ``%chat search`` and ``%chat forget``: the log, from a cell.

They parse and validate, then call the Session (``resume``) or its ``Log``. What they show is
logged server text: a ``Table`` (escaped in HTML, no links) of cells cleaned of terminal
control characters and folded to one line.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, List

from ..errors import InputError
from ..plain_text import shortened
from ..render.chrome import terminal_safe
from ..render.table import Table


def _parser(prog: str) -> Any:
    from .conversations import CommandParser

    return CommandParser(prog=prog, add_help=False)


def run(state: Any, command: str, words: List[str]) -> Any:
    from .conversations import Note

    if not state.log.enabled:
        raise InputError(f"%chat {command}: the log is off (OAIMagics.log_path = \"\"), so there "
                         "is nothing to read or forget.")
    return globals()[f"_{command}"](state, words, Note)


def _resume(state: Any, words: List[str], note: Any) -> Any:
    parser = _parser("resume")
    parser.add_argument("-c", "--conversation")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--from", dest="notebook")
    args = parser.parse_args(words)
    if args.all and args.notebook:
        raise InputError("%chat resume: --all and --from go alone (--all takes every notebook's).")
    found = state.resume(args.conversation, args.all, args.notebook)
    if not found:
        where = "any notebook" if args.all else repr(args.notebook or state.log.notebook)
        return note(f"Nothing to resume: the log has no conversations of {where}"
                    + (f" named {args.conversation!r}." if args.conversation else "."))
    lines = []
    for item in found:
        partial = f", {item.partial} partial" if item.partial else ""
        lines.append(f"  {_clean(item.conversation.name)}: {item.exchanges} exchanges{partial}")
    return note(f"Resumed {len(found)} conversation{'s' if len(found) != 1 else ''}:\n"
                + "\n".join(lines))


def _log(state: Any, words: List[str], note: Any) -> Any:
    parser = _parser("log")
    parser.add_argument("-n", type=_count, default=20)
    parser.add_argument("-c", "--conversation")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args(words)
    turns = state.log.recent(args.n, conversation=args.conversation, all_notebooks=args.all)
    if not turns:
        return note("The log has no turns of this notebook yet." if not args.all
                    else "The log has no turns yet.")
    return _table(turns, args.all, "recent turns, newest first")


def _search(state: Any, words: List[str], note: Any) -> Any:
    parser = _parser("search")
    parser.add_argument("text", nargs="+")
    parser.add_argument("-n", type=_count, default=20)
    args = parser.parse_args(words)
    text = " ".join(args.text)
    turns = state.log.search(text, args.n)
    if not turns:
        return note(f"No logged turn contains {_clean(text)!r}.")
    return _table(turns, True, f"turns containing {_clean(text)!r}, newest first")


def _forget(state: Any, words: List[str], note: Any) -> Any:
    parser = _parser("forget")
    parser.add_argument("-c", "--conversation")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--before", type=_date)
    args = parser.parse_args(words)
    if not (args.conversation or args.all or args.before is not None):
        raise InputError("%chat forget: say what to erase: -c NAME, --all or --before DATE "
                         "(YYYY-MM-DD).")
    done = state.log.forget(conversation=args.conversation, all_notebooks=args.all,
                            before=args.before)
    tail = "" if done.complete else (" (another kernel is reading the log: its write-ahead file "
                                      "is emptied when that read ends)")
    return note(f"Erased {done.turns} turn{'s' if done.turns != 1 else ''} from the log "
                f"{state.log.path}{tail}. Usage amounts stay, so a daily budget still counts.")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"-n takes a number of turns, got {text!r}") from None
    if not 1 <= value <= 10_000:
        raise InputError(f"-n takes 1 to 10000 turns, got {value}")
    return value


def _date(text: str) -> float:
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--before takes a date as YYYY-MM-DD, got {text!r}") from None
    return time.mktime(day.timetuple())


def _clean(text: Any, limit: int = 80) -> str:
    """Logged text as one short line with no control characters."""
    line = " ".join(terminal_safe(str(text or "")).split())
    return shortened(line, limit, "…")


def _table(turns: List[Any], with_notebook: bool, title: str) -> Table:
    headers = ["when", *(["notebook"] if with_notebook else []), "conversation", "cell",
               "status", "model", "prompt", "answer"]
    rows = []
    for turn in turns:
        when = datetime.datetime.fromtimestamp(turn.started_at).strftime("%Y-%m-%d %H:%M")
        status = turn.status + (" (partial)" if turn.partial else "")
        rows.append([when, *([_clean(turn.notebook, 40)] if with_notebook else []),
                     _clean(turn.conversation, 30), _clean(turn.cell_id or "", 12), status,
                     _clean(turn.model or "", 30), _clean(turn.prompt, 60),
                     _clean(turn.answer, 80)])
    return Table(headers, rows, title)
