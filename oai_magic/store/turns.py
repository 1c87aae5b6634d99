"""One turn's row, from the moment it starts to its commit: the answer flushed at most once a second.

The caller hands the answer so far as often as it likes (a clock read is all it costs); the
handle writes when a second has passed since its last write, so a kernel killed mid-answer
leaves at most a second of text unwritten, and the per-token path never waits on the disk.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from ..history import Message, content_text
from .records import amount, blob_refs, split_attachments, usage_amounts

if TYPE_CHECKING:
    from .log import Log


def _dicts(messages: Sequence[Any]) -> List[Dict[str, Any]]:
    return [m.to_dict() if isinstance(m, Message) else dict(m) for m in messages]


def insert_turn(log: Log, db: sqlite3.Connection, conversation: str, sent: Sequence[Any],
                **fields: Any) -> int:
    """The row of a turn that starts now (status "streaming"), with its attachments."""
    clean = log.cleaner
    messages, attachments = split_attachments(_dicts(sent), log.max_blob_bytes, clean)
    users = [m for m in messages if m.get("role") == "user"]
    prompt = content_text(users[-1].get("content")) if users else ""
    now = log.now()
    cursor = db.execute(
        "INSERT INTO turns (notebook, kernel, conversation, cell_id, starts_new, system, prompt,"
        " sent, model, server_host, practice, started_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (log.notebook, log.kernel, clean.text(conversation), clean.text(fields.get("cell_id")),
         int(bool(fields.get("starts_new"))), clean.text(fields.get("system")), clean.text(prompt),
         clean.json(messages), clean.text(fields.get("model")),
         clean.text(fields.get("server_host")), int(bool(fields.get("practice"))), now, now))
    turn_id = int(cursor.lastrowid)
    store_blobs(db, attachments.blobs, blob_refs(messages), turn_id=turn_id)
    return turn_id


def store_blobs(db: sqlite3.Connection, blobs: Dict[str, Any], refs: List[str], *,
                turn_id: Optional[int] = None, entry_id: Optional[int] = None) -> None:
    for sha in refs:
        if sha in blobs:
            mime, data = blobs[sha]
            db.execute("INSERT OR IGNORE INTO blobs (sha256, mime, size, data) VALUES (?, ?, ?, ?)",
                       (sha, mime, len(data), data))
        db.execute("INSERT INTO blob_refs (sha256, turn_id, entry_id) VALUES (?, ?, ?)",
                   (sha, turn_id, entry_id))


class TurnHandle:
    """A turn being answered: ``update_answer`` while it streams, then exactly one of
    ``commit`` (complete or partial) or ``fail`` (nothing arrived). Later calls do nothing."""

    def __init__(self, log: Log, turn_id: Optional[int]) -> None:
        self._log = log
        self.id = turn_id  # None when the log is off or failed: every call is then a no-op
        self._pending: Optional[tuple] = None
        self._last_write = log.clock()
        self.ended = turn_id is None

    def __repr__(self) -> str:
        return f"<TurnHandle {self.id} {'ended' if self.ended else 'streaming'}>"

    def update_answer(self, text: str, reasoning: Optional[str] = None) -> None:
        """The answer so far (and reasoning); written when a second has passed since the last
        write (``flush_interval_s``), so calling this per token costs a clock read."""
        if self.ended:
            return
        self._pending = (text, reasoning)
        now = self._log.clock()
        if now - self._last_write >= self._log.flush_interval_s:
            self._last_write = now
            self.flush()

    def flush(self) -> None:
        """Write the answer handed last, now (the stream stalled, or the caller is about to
        wait): a kill after this loses nothing."""
        if self.ended or self._pending is None:
            return
        (text, reasoning), self._pending = self._pending, None
        clean = self._log.cleaner

        def write(db: sqlite3.Connection) -> None:
            db.execute("UPDATE turns SET answer = ?, reasoning = ?, updated_at = ? WHERE id = ?",
                       (clean.text(text) or "", clean.text(reasoning), self._log.now(), self.id))

        self._log.write(write)

    def commit(self, replies: Sequence[Any] = (), *, partial: bool = False,
               answer: Optional[str] = None, reasoning: Optional[str] = None,
               model: Optional[str] = None, request_id: Optional[str] = None,
               usage: Optional[Dict[str, Any]] = None, cost_usd: Optional[float] = None,
               finish_reason: Optional[str] = None, error: Optional[str] = None,
               server_host: Optional[str] = None, practice: Optional[bool] = None,
               replaces: Optional[int] = None) -> None:
        """The turn enters its conversation: ``replies`` (assistant and tool messages, as
        ``Conversation.record_turn`` takes them) after the cell's -n/-s. ``partial`` marks an
        answer cut off or stopped. ``replaces`` is the turn a re-run cell replaces (CONTRACTS 2);
        that row stays in the log, marked "replaced"."""
        if self.ended:
            return
        self.ended = True
        log, clean = self._log, self._log.cleaner
        messages = _dicts(replies)
        if answer is None:  # the first answer among the replies, else the last text handed
            answer = next((content_text(m.get("content")) for m in messages
                           if m.get("role") == "assistant" and m.get("content")), None)
        if answer is None and self._pending:
            answer = self._pending[0]

        def write(db: sqlite3.Connection) -> None:
            now = log.now()
            db.execute(
                "UPDATE turns SET status = 'committed', partial = ?, replies = ?,"
                " answer = COALESCE(?, answer), reasoning = COALESCE(?, reasoning),"
                " model = COALESCE(?, model), request_id = ?, usage = ?, cost_usd = ?,"
                " finish_reason = ?, error = ?, server_host = COALESCE(?, server_host),"
                " practice = COALESCE(?, practice), replaces = ?, updated_at = ?, ended_at = ?"
                " WHERE id = ?",
                (int(partial), clean.json(messages), clean.text(answer), clean.text(reasoning),
                 clean.text(model), clean.text(request_id), clean.json(usage_amounts(usage)),
                 amount(cost_usd), clean.text(finish_reason), clean.text(error),
                 clean.text(server_host), None if practice is None else int(practice),
                 replaces, now, now, self.id))
            if replaces is not None:
                db.execute("UPDATE turns SET status = 'replaced' WHERE id = ? AND status = 'committed'",
                           (replaces,))
            db.execute(
                "INSERT INTO journal (notebook, kernel, conversation, kind, turn_id, detail, at)"
                " SELECT notebook, kernel, conversation, 'turn', id, ?, ? FROM turns WHERE id = ?",
                (clean.json({"replaces": replaces}) if replaces is not None else None, now, self.id))

        log.write(write)

    def fail(self, error: Optional[str] = None) -> None:
        """Nothing arrived: the row stays (status "failed"), the conversation does not change."""
        if self.ended:
            return
        self.ended = True
        log, clean = self._log, self._log.cleaner

        def write(db: sqlite3.Connection) -> None:
            now = log.now()
            db.execute("UPDATE turns SET status = 'failed', error = ?, updated_at = ?, ended_at = ?"
                       " WHERE id = ?", (clean.text(error), now, now, self.id))

        log.write(write)
