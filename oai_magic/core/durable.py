"""The session's side of the log (CONTRACTS 9): which ``Log`` it writes, and a turn's row.

The ``Log`` itself (``store/``) never raises into chat; this module decides what goes in it:
a turn's row when the turn starts, the answer so far handed to ``update_answer`` at most once
per flush interval (the per-token path only appends to a list), the commit with what the
server said (model, request id, usage, cost, finish reason, practice flag, host), and the
log's own problem lines, shown once as notices. The ``Log`` is opened on first use, so
``%load_ext`` stays light, and a new one is made when ``log_path`` changes.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .events import View



class LoggedSession:
    """What a Session adds for the log: ``log``, ``resume``, and a fresh log per kernel."""

    def _start_session(self, settings: Any) -> None:
        super()._start_session(settings)  # type: ignore[misc]
        self.durable_log: Any = None  # (log_path, store.Log), opened on first use
        self.cell_turns: Dict[str, Any] = {}  # conversation -> (cell id, row) of its last turn
        self.cell_id: Optional[str] = None  # the cell being run (the pre_run_cell hook sets it)

    @property
    def log(self) -> Any:
        """The durable log (``store.Log``) for the current ``log_path``, opened on first use."""
        return log_of(self)

    def resume(self, conversation: Optional[str] = None, all_notebooks: bool = False,
               notebook: Optional[str] = None) -> List[Any]:
        """Bring back this notebook's conversations (or one, another notebook's, every
        notebook's) as the last kernel left them; returns the ``store.Resumed`` taken."""
        return resume(self, conversation, all_notebooks, notebook)


def log_of(state: Any) -> Any:
    """The session's ``Log`` for its current ``log_path`` (made on first use)."""
    path = state.settings.log_path
    with state.lock:
        held = getattr(state, "durable_log", None)
        if held is not None and held[0] == path:
            return held[1]
        from ..store import Log

        settings = state.settings
        log = Log(path, secret=lambda: state.settings.resolved_key(),
                  busy_timeout_s=settings.log_busy_timeout_s,
                  max_blob_bytes=settings.log_max_blob_bytes)
        if held is not None:
            held[1].close()
        state.durable_log = (path, log)
        return log


def log_problems(state: Any) -> List[str]:
    """The log's problem lines not shown yet (a file set aside, no WAL, the log off)."""
    held = getattr(state, "durable_log", None)
    return held[1].take_notices() if held is not None else []


def log_operation(state: Any, conversation: str, kind: str, **detail: Any) -> None:
    """An operation that changed ``conversation`` (``%chat reset``, ``undo``, ...), for resume."""
    forget_owner(state, conversation)
    with contextlib.suppress(Exception):  # the log never breaks chat (the Log guards itself)
        log_of(state).log_operation(conversation, kind, **detail)


def log_usage(state: Any, result: Any) -> None:
    """One billed request in the ledger that outlives the kernel (daily budget, totals)."""
    with contextlib.suppress(Exception):
        log_of(state).record_usage(result.usage, result.model, result.conversation, result.cost)


class LoggedTurn:
    """One turn's row: started with the turn, committed or failed when it ends."""

    def __init__(self, state: Any, options: Any, prompt: Any) -> None:
        from ..state import Message

        self.state = state
        self.options = options
        self.replaces: Optional[int] = None
        self.replacing = False
        self.interval_s = 1.0
        self.handle: Any = _NoRow()
        try:
            log = log_of(state)
            self.interval_s = log.flush_interval_s
            start = options.start
            self.replacing, self.replaces = replaced_turn(state, options)
            self.handle = log.start_turn(
                options.conversation, [Message("user", prompt)], cell_id=options.cell_id,
                model=options.request.model or state.settings.model,
                server_host=urlsplit(state.settings.resolved_base_url()).hostname,
                practice=state.practice_server is not None,
                starts_new=bool(start.new), system=start.system)
        except Exception:  # the log never breaks chat
            pass
        problems = log_problems(state)
        if problems:  # shown with the request's notices, before the answer
            with state.lock:
                state.context_notices = [*state.context_notices, *problems]

    def watch(self, view: View) -> View:
        from .logging_view import LoggingView  # on first use: the events stay out of %load_ext

        return view if self.handle.id is None else LoggingView(view, self)

    def end(self, recorded: List[Any], result: Any, failure: Optional[BaseException]) -> None:
        """``recorded``: what the turn wrote into its conversation ([user, *replies]) or []."""
        try:
            if not recorded:
                self.handle.fail(str(failure) if failure is not None else
                                 (getattr(result, "error", None) or "nothing arrived"))
                return
            from ..settings import from_practice_server

            self._own(recorded)
            headers = getattr(result, "headers", None) or {}
            self.handle.commit(
                recorded[1:], partial=bool(getattr(result, "partial", False)),
                reasoning=getattr(result, "reasoning", None), model=getattr(result, "model", None),
                request_id=getattr(result, "request_id", None), usage=getattr(result, "usage", None),
                cost_usd=getattr(result, "cost", None),
                finish_reason=getattr(result, "finish_reason", None),
                error=getattr(result, "error", None),
                practice=from_practice_server(headers) or self.state.practice_server is not None,
                replaces=self.replaces)
        except Exception:  # the log never breaks chat
            pass


    def _own(self, recorded: List[Any]) -> None:
        """Remember which cell made the conversation's last turn (a re-run replaces it)."""
        with self.state.lock:
            owners = self.state.__dict__.setdefault("cell_turns", {})
            if self.options.cell_id:
                owners[self.options.conversation] = (self.options.cell_id, self.handle.id)
            else:
                owners.pop(self.options.conversation, None)


class _NoRow:
    """The row of a turn the log could not start: every call does nothing."""

    id = None

    def update_answer(self, *args: Any) -> None:
        pass

    def commit(self, *args: Any, **kwargs: Any) -> None:
        pass

    def fail(self, *args: Any) -> None:
        pass


def replaced_turn(state: Any, options: Any) -> Tuple[bool, Optional[int]]:
    """Does this turn replace its conversation's last one (the same cell made it), and that
    turn's row. Without a cell id, or when the cell's turn is not the last: no."""
    if not options.cell_id or options.new:
        return False, None
    with state.lock:
        owner = state.__dict__.get("cell_turns", {}).get(options.conversation)
    if owner is None or owner[0] != options.cell_id:
        return False, None
    return True, owner[1]


def forget_owner(state: Any, conversation: Optional[str] = None) -> None:
    """An operation changed ``conversation`` (None: all): its last turn is no cell's any more."""
    with state.lock:
        owners = state.__dict__.get("cell_turns", {})
        if conversation is None:
            owners.clear()
        else:
            owners.pop(conversation, None)


def resume(state: Any, conversation: Optional[str], all_notebooks: bool,
           notebook: Optional[str]) -> List[Any]:
    """Conversations brought back from the log into the session (each logged as a ``resume``
    snapshot, so a later kernel replays from here); nothing is restored unless asked."""
    log = log_of(state)
    found = log.rebuild(conversation=conversation, notebook=notebook, all_notebooks=all_notebooks)
    with state.lock:
        for item in found:
            thread = state.conversation(item.conversation.name)
            thread.messages = list(item.conversation.messages)
            thread.system = item.conversation.system
    for item in found:
        log_operation(state, item.conversation.name, "resume", snapshot=item.conversation)
        state.notify("conversation", {"name": item.conversation.name, "command": "resume"})
    return found


RESUME_HINT = "this notebook has {count} saved conversation{s}: %chat resume brings them back"


def saved_conversation_count(state: Any) -> int:
    """How many of this notebook's conversations a resume would bring back (0 when the log is
    off or unreadable: the hint and the panel's Resume are never an error)."""
    try:
        log = log_of(state)
        return log.saved_conversations() if log.enabled else 0
    except Exception:
        return 0


def resume_hint(state: Any) -> Optional[str]:
    """The muted line the first ``%%chat`` of a kernel shows when its notebook has saved
    conversations (once per kernel; ``OAIMagics.resume_hint = False`` silences it)."""
    if not state.settings.resume_hint or not state.first_time("resume hint"):
        return None
    count = saved_conversation_count(state)
    if not count:
        return None
    return RESUME_HINT.format(count=count, s="s" if count != 1 else "")


def daily_refusal(state: Any) -> Optional[str]:
    """Why no request may start: today's spend by every kernel of this user, as the log counts
    it, reached ``daily_budget_usd`` (a restart and ``%oai usage --reset`` do not lift it)."""
    daily = state.settings.daily_budget_usd
    if daily is None:
        return None
    try:
        log = log_of(state)
        spent = log.spent_today() if log.enabled else 0.0
    except Exception:
        return None
    if spent < daily:
        return None
    from .costs import format_cost

    return (f"Daily budget reached: {format_cost(spent)} spent today by every kernel, as the log "
            f"counts it (OAIMagics.daily_budget_usd = ${daily:g}); %oai budget --daily USD "
            "changes it.")


def logged_totals(state: Any) -> Optional[str]:
    """``%oai usage``'s line from the log: today by every kernel, and this notebook."""
    try:
        log = log_of(state)
        if not log.enabled:
            return None
        today, notebook = log.spent_today(), log.spent_in_notebook()
    except Exception:
        return None
    from .costs import format_cost

    daily = state.settings.daily_budget_usd
    limit = f" (daily budget ${daily:g})" if daily is not None else ""
    return (f"From the log: {format_cost(today)} today by every kernel{limit}; "
            f"{format_cost(notebook)} in this notebook ({log.notebook}) so far.")


def describe_daily(state: Any) -> str:
    daily = state.settings.daily_budget_usd
    if daily is None:
        return "Daily budget: none (%oai budget --daily USD sets one)"
    try:
        spent = log_of(state).spent_today()
    except Exception:
        spent = 0.0
    from .costs import format_cost

    return (f"Daily budget: ${daily:g} ({format_cost(spent)} spent today by every kernel, as the "
            "log counts it; a guard-rail: deleting the log lifts it)")


def provenance(result: Any) -> Dict[str, Any]:
    """``metadata["oai_magic"]`` of an answer's final display: how it was made, never the key
    (model, request id and usage were redacted as they arrived)."""
    import datetime
    import sys

    from ..settings import from_practice_server

    usage = getattr(result, "usage", None)
    return {"oai_magic": {
        "model": getattr(result, "model", None),
        "request_id": getattr(result, "request_id", None),
        "conversation": getattr(result, "conversation", None),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "usage": {k: v for k, v in usage.items() if isinstance(v, (int, float))} if usage else None,
        "finish_reason": getattr(result, "finish_reason", None),
        "partial": bool(getattr(result, "partial", False)),
        "practice": from_practice_server(getattr(result, "headers", None) or {}),
        "version": getattr(sys.modules.get(__name__.split(".")[0]), "__version__", None),
    }}

