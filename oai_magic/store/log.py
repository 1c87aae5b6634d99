"""The log: one SQLite file that keeps turns, conversation operations, usage, batches and maps.

A ``Log`` opens its file on first use (``%load_ext`` stays light) and never breaks chat: any
fault (an unwritable folder, a full disk, a lock held past the timeout, a newer schema) turns
it off for this kernel with one problem line, and every call after that is a cheap no-op. A
damaged file is moved aside and a new one started. ``take_notices`` hands those lines to the
caller once. Calls may come from a cell and the panel's thread at once: one lock serializes them.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar, Union

from . import browse, resume, schema
from .connection import Connect, classify, open_database, resolve_log_path, set_aside
from .records import Cleaner, amount, token_count
from .turns import TurnHandle, insert_turn

T = TypeVar("T")


def this_notebook() -> str:
    """The notebook's path as Jupyter Server tells its kernel, else "terminal"."""
    return os.environ.get("JPY_SESSION_NAME") or "terminal"


class Log:
    """The durable log of one kernel (``kernel``) in one notebook (``notebook``).

    ``path``: a file, None for the default place, "" for no log at all. ``secret`` returns the
    API key as it is now: every string is redacted with it before it is written.
    """

    def __init__(self, path: Union[str, Path, None] = None, *, notebook: Optional[str] = None,
                 kernel: Optional[str] = None, secret: Optional[Callable[[], Optional[str]]] = None,
                 busy_timeout_s: float = 5.0, flush_interval_s: float = 1.0,
                 max_blob_bytes: int = 5_000_000, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time, connect: Connect = sqlite3.connect) -> None:
        self.path = resolve_log_path(None if path is None else str(path))
        self._notebook = notebook or this_notebook()
        self._kernel = kernel or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.cleaner = Cleaner(secret)
        self.busy_timeout_s = busy_timeout_s
        self.flush_interval_s = flush_interval_s
        self.max_blob_bytes = max_blob_bytes
        self.clock, self.now = clock, now
        self._connect = connect
        self._lock = threading.RLock()
        self._db: Optional[sqlite3.Connection] = None
        self._off = self.path is None
        self.problem: Optional[str] = None  # the line that turned the log off, if one did
        self._notices: List[str] = []
        self.full_text = False  # FTS5 with trigrams, else search uses LIKE
        self.wal = True

    def __repr__(self) -> str:
        state = "off" if self._off else ("open" if self._db is not None else "not opened yet")
        return f"<Log {self.path or '(none)'} notebook={self.notebook!r} {state}>"

    @property
    def notebook(self) -> str:
        """The notebook as written and looked up: redacted like every string (a path can hold
        anything)."""
        return self.cleaner.text(self._notebook) or ""

    @property
    def kernel(self) -> str:
        return self.cleaner.text(self._kernel) or ""

    def _named(self, name: Optional[str]) -> Optional[str]:
        """A name a caller looks up (conversation, notebook), as it was written."""
        return self.cleaner.text(name)

    @property
    def enabled(self) -> bool:
        return not self._off

    def take_notices(self) -> List[str]:
        """Lines to show once (a problem, a file set aside, no WAL); each is handed out once."""
        with self._lock:
            lines, self._notices = self._notices, []
            return lines

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                try:
                    self._db.close()
                finally:
                    self._db = None

    # The guard: every call goes through here, and nothing escapes it.

    def _database(self) -> sqlite3.Connection:
        if self._db is None:
            assert self.path is not None
            opened = open_database(self.path, self.busy_timeout_s, self._connect)
            self._db, self.wal = opened.db, opened.wal
            self._notices.extend(opened.notices)
            self.full_text = schema.has_full_text(opened.db)
        return self._db

    def guarded(self, action: Callable[[sqlite3.Connection], T], default: T) -> T:
        """``action(db)``, or ``default`` when the log is off or fails (it then turns off, with
        one problem line; a damaged file is set aside and the action tried once on a new one)."""
        if self._off:
            return default
        with self._lock:
            for attempt in (1, 2):
                if self._off:
                    return default
                try:
                    return action(self._database())
                except (sqlite3.Error, OSError, UnicodeDecodeError, schema.NewerSchema) as exc:
                    assert self.path is not None
                    kind, line = classify(exc, self.path, self.busy_timeout_s)
                    if kind == "corrupt" and attempt == 1 and self._set_aside(line):
                        continue
                    self._turn_off(line if kind != "corrupt" else
                                   f"the log {self.path} is damaged ({line}) and could not be "
                                   "replaced; the log is off in this kernel and chat goes on")
                except Exception as exc:  # a bug of ours must not break chat either
                    logging.getLogger("oai_magic").debug("the log failed", exc_info=True)
                    self._turn_off(f"the log {self.path} failed ({type(exc).__name__}); the log is "
                                   "off in this kernel and chat goes on")
            return default

    def write(self, change: Callable[[sqlite3.Connection], T], default: Any = None) -> T:
        """``change(db)`` in one write transaction (taken at once, so two kernels queue)."""

        def transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = change(db)
                db.execute("COMMIT")
                return result
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

        return self.guarded(transaction, default)

    def _set_aside(self, reason: str) -> bool:
        self.close()
        assert self.path is not None
        try:
            aside = set_aside(self.path, self.now())
        except OSError:
            return False
        self._notices.append(f"the log {self.path} was damaged ({reason}): it is kept as {aside} "
                             "and a new log was started")
        return True

    def _turn_off(self, line: str) -> None:
        self._off = True
        self.problem = line
        self._notices.append(line)
        try:
            self.close()
        except sqlite3.Error:
            self._db = None

    # Turns and what changes conversations.

    def start_turn(self, conversation: str, sent: Sequence[Any], *, cell_id: Optional[str] = None,
                   model: Optional[str] = None, server_host: Optional[str] = None,
                   practice: bool = False, starts_new: bool = False,
                   system: Optional[str] = None) -> TurnHandle:
        """A turn's row, written now (status "streaming"). ``sent``: the messages this turn adds
        (``Message`` or dicts), as sent; ``starts_new``/``system``: the cell's -n and -s, which
        take effect when the turn commits (CONTRACTS 2)."""
        turn_id = self.write(lambda db: insert_turn(
            self, db, conversation, sent, cell_id=cell_id, model=model, server_host=server_host,
            practice=practice, starts_new=starts_new, system=system))
        return TurnHandle(self, turn_id)

    def log_operation(self, conversation: str, kind: str, *, text: Optional[str] = None,
                      k: Optional[int] = None, snapshot: Any = None) -> None:
        """An operation that changes ``conversation``, so a resume replays it exactly: ``new``,
        ``reset``, ``undo``, ``pick`` (``k``), ``system`` (``text``), and ``load`` or ``resume``
        (``snapshot``: the whole ``Conversation`` as it now is, or its ``to_dict()``)."""
        if kind not in schema.OPERATIONS:
            raise ValueError(f"unknown operation {kind!r}: one of {', '.join(schema.OPERATIONS)}")
        detail = {name: value for name, value in (("text", text), ("k", k)) if value is not None}
        if snapshot is not None and hasattr(snapshot, "to_dict"):
            snapshot = snapshot.to_dict()
        self.write(lambda db: resume.insert_operation(self, db, conversation, kind, detail, snapshot))

    # Usage: amounts only, kept when content is forgotten.

    def record_usage(self, usage: Optional[Dict[str, Any]], model: Optional[str],
                     conversation: Optional[str], cost_usd: Optional[float], *,
                     turn: Optional[TurnHandle] = None) -> None:
        """One billed request, as ``UsageLedger.record`` counts it in the kernel."""
        clean = self.cleaner
        at = self.now()
        day = datetime.date.fromtimestamp(at).isoformat()
        row = (at, day, self.notebook, self.kernel, clean.text(conversation),
               turn.id if turn is not None else None, clean.text(model),
               token_count(usage, "prompt_tokens", "input_tokens"),
               token_count(usage, "completion_tokens", "output_tokens"), amount(cost_usd))
        self.write(lambda db: db.execute(
            "INSERT INTO usage (at, day, notebook, kernel, conversation, turn_id, model,"
            " input_tokens, output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row))

    def spent_today(self) -> float:
        """Dollars spent today (local date) by every kernel of this user, as logged."""
        day = datetime.date.fromtimestamp(self.now()).isoformat()
        return self.guarded(lambda db: db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE day = ?", (day,)).fetchone()[0], 0.0)

    def spent_in_notebook(self, notebook: Optional[str] = None) -> float:
        return self.guarded(lambda db: db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE notebook = ?",
            (self._named(notebook) or self.notebook,)).fetchone()[0], 0.0)

    # Resume, browse, forget.

    def rebuild(self, *, conversation: Optional[str] = None, notebook: Optional[str] = None,
                all_notebooks: bool = False) -> List[resume.Resumed]:
        """Conversations as the last kernel before this one left them (this notebook's, or
        ``notebook``'s, or every notebook's): system prompts, turns, partial turns marked partial.
        Reading only; log a ``resume`` operation for each one the session takes."""
        where = None if all_notebooks else (self._named(notebook) or self.notebook)
        name = self._named(conversation)
        return self.guarded(lambda db: resume.rebuild(db, where, name, self.kernel), [])

    def saved_conversations(self) -> int:
        """How many conversations of this notebook a resume would bring back (for the hint)."""
        return len(self.rebuild())

    def recent(self, limit: int = 20, *, conversation: Optional[str] = None,
               all_notebooks: bool = False) -> List[browse.LoggedTurn]:
        """The latest turns, newest first (``%chat log``)."""
        where = None if all_notebooks else self.notebook
        name = self._named(conversation)
        return self.guarded(lambda db: browse.recent(db, limit, where, name), [])

    def search(self, text: str, limit: int = 20, *, all_notebooks: bool = True
               ) -> List[browse.LoggedTurn]:
        """Turns whose prompt or answer contains ``text``, newest first (``%chat search``)."""
        where = None if all_notebooks else self.notebook
        return self.guarded(lambda db: browse.search(db, text, limit, where, self.full_text), [])

    def forget(self, *, conversation: Optional[str] = None, all_notebooks: bool = False,
               before: Optional[float] = None) -> browse.Forgotten:
        """Erase for real: the rows, their attachments, the full-text index, the WAL and free
        pages. The usage ledger keeps its amounts, without content, so a daily budget stays."""
        where = None if all_notebooks else self.notebook
        name = self._named(conversation)
        done = self.write(lambda db: browse.erase(db, where, name, before, self.full_text), None)
        if done is None:
            return browse.Forgotten(0, False)
        return self.guarded(lambda db: browse.compact(db, done), browse.Forgotten(done, False))

    # Batches and --map items.

    def log_batch(self, batch_ids: Sequence[str], count: int, *, model: Optional[str] = None,
                  server_host: Optional[str] = None, organization: Optional[str] = None,
                  project: Optional[str] = None, labels: Optional[List[Any]] = None,
                  status: Optional[str] = None) -> None:
        clean, now = self.cleaner, self.now()
        row = (self.notebook, self.kernel, clean.json([str(i) for i in batch_ids]), int(count),
               clean.text(model), clean.text(server_host), clean.text(organization),
               clean.text(project), clean.json(labels), clean.text(status), now, now)
        self.write(lambda db: db.execute(
            "INSERT INTO batches (notebook, kernel, batch_ids, count, model, server_host,"
            " organization, project, labels, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row))

    def update_batch(self, first_id: str, status: str) -> None:
        clean = self.cleaner
        self.write(lambda db: db.execute(
            "UPDATE batches SET status = ?, updated_at = ? WHERE id = (SELECT id FROM batches"
            " WHERE notebook = ? AND json_extract(batch_ids, '$[0]') = ? ORDER BY id DESC LIMIT 1)",
            (clean.text(status), self.now(), self.notebook, clean.text(first_id))))

    def last_batch(self, notebook: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """This notebook's last batch job (``%chat batch status`` without an id)."""
        def read(db: sqlite3.Connection) -> Optional[Dict[str, Any]]:
            db.row_factory = sqlite3.Row
            try:
                row = db.execute("SELECT * FROM batches WHERE notebook = ? ORDER BY id DESC LIMIT 1",
                                 (self._named(notebook) or self.notebook,)).fetchone()
            finally:
                db.row_factory = None
            if row is None:
                return None
            job = dict(row)
            job["batch_ids"] = json.loads(job["batch_ids"])
            job["labels"] = json.loads(job["labels"]) if job["labels"] else None
            return job

        return self.guarded(read, None)

    def start_map(self, target: str, fingerprint: str, count: int, *, model: Optional[str] = None,
                  cell_id: Optional[str] = None) -> Optional[int]:
        """A ``--map`` job whose items are logged as they finish; its id (None: not logged)."""
        clean, now = self.cleaner, self.now()
        row = (self.notebook, self.kernel, clean.text(cell_id), clean.text(target), clean.text(fingerprint),
               int(count), clean.text(model), now)
        return self.write(lambda db: db.execute(
            "INSERT INTO map_jobs (notebook, kernel, cell_id, target, fingerprint, count, model,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid)

    def record_map_item(self, job_id: Optional[int], item: Dict[str, Any]) -> None:
        """One finished item (``ItemResult.to_dict()``); a later result for it replaces it."""
        if job_id is None:
            return
        row = (job_id, int(item["index"]), self.cleaner.json(item), self.now())
        self.write(lambda db: db.execute(
            "INSERT OR REPLACE INTO map_items (job_id, idx, result, at) VALUES (?, ?, ?, ?)", row))

    def finished_map_items(self, target: str, fingerprint: str) -> Dict[int, Dict[str, Any]]:
        """The items of this notebook's latest job for ``target`` with this fingerprint that have
        an answer, by index (``--resume`` when OUT is gone sends only the rest)."""
        def read(db: sqlite3.Connection) -> Dict[int, Dict[str, Any]]:
            rows = db.execute(
                "SELECT idx, result FROM map_items WHERE job_id IN (SELECT id FROM map_jobs"
                " WHERE notebook = ? AND target = ? AND fingerprint = ?) ORDER BY job_id, at",
                (self.notebook, self.cleaner.text(target), self.cleaner.text(fingerprint))).fetchall()
            done: Dict[int, Dict[str, Any]] = {}
            for index, result in rows:
                item = json.loads(result)
                if item.get("error") is None:
                    done[int(index)] = item
            return done

        return self.guarded(read, {})


def fingerprint(*parts: Any) -> str:
    """A stable id for what a ``--map`` job asks (template, model, items): equal asks, equal ids."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

