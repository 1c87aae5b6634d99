"""Conversations rebuilt from the log, exactly as the last kernel before this one left them.

Each conversation's journal (committed turns and operations, in order) is replayed for the
kernel that touched it last, other than the one asking. A turn still "streaming" in that
kernel (it was killed mid-answer) comes back at the end, marked partial. A kernel that
resumed a conversation logged a ``resume`` snapshot first, so its replay starts from there;
one that started afresh replays only its own entries, as its conversation was.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

from ..history import Conversation, Message
from .records import blob_refs, join_attachments, split_attachments
from .turns import store_blobs

if TYPE_CHECKING:
    from .log import Log


@dataclass
class Resumed:
    """One conversation brought back, and where it came from."""

    notebook: str
    conversation: Conversation
    kernel: str
    exchanges: int
    partial: int  # messages marked partial (cut off, stopped, or the kernel died mid-answer)
    last_at: float


def insert_operation(log: Log, db: sqlite3.Connection, conversation: str, kind: str,
                     detail: Dict[str, Any], snapshot: Optional[Dict[str, Any]]) -> None:
    clean = log.cleaner
    blobs: Dict[str, Any] = {}
    refs: List[str] = []
    if snapshot is not None:
        messages, attachments = split_attachments(list(snapshot.get("messages") or []),
                                                  log.max_blob_bytes, clean)
        detail = {**detail, "conversation": {**snapshot, "messages": messages}}
        blobs, refs = attachments.blobs, blob_refs(messages)
    cursor = db.execute(
        "INSERT INTO journal (notebook, kernel, conversation, kind, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (log.notebook, log.kernel, clean.text(conversation), kind,
         clean.json(detail) if detail else None, log.now()))
    store_blobs(db, blobs, refs, entry_id=cursor.lastrowid)


def rebuild(db: sqlite3.Connection, notebook: Optional[str], conversation: Optional[str],
            this_kernel: str) -> List[Resumed]:
    filters, params = ["kernel != ?"], [this_kernel]
    if notebook is not None:
        filters.append("notebook = ?")
        params.append(notebook)
    if conversation is not None:
        filters.append("conversation = ?")
        params.append(conversation)
    where = " AND ".join(filters)
    activity = db.execute(
        "SELECT notebook, conversation, kernel, MAX(at) FROM ("
        f" SELECT notebook, conversation, kernel, at FROM journal WHERE {where}"
        " UNION ALL SELECT notebook, conversation, kernel, started_at AS at FROM turns"
        f" WHERE status = 'streaming' AND {where}) GROUP BY notebook, conversation, kernel",
        params * 2).fetchall()
    latest: Dict[Tuple[str, str], Tuple[str, float]] = {}
    for nb, name, kernel, at in activity:
        if (nb, name) not in latest or at > latest[(nb, name)][1]:
            latest[(nb, name)] = (kernel, at)
    found = []
    for (nb, name), (kernel, at) in sorted(latest.items(), key=lambda item: item[1][1]):
        thread = _replay(db, nb, name, kernel)
        if thread.messages or thread.system:
            found.append(Resumed(nb, thread, kernel, len(thread.turns()),
                                 sum(1 for m in thread.messages if m.partial), at))
    return found


_TURN_COLUMNS = "id, starts_new, system, sent, replies, answer, partial"


def _rows_by_id(db: sqlite3.Connection, ids: List[int]) -> Dict[int, tuple]:
    rows: Dict[int, tuple] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for row in db.execute(f"SELECT {_TURN_COLUMNS} FROM turns WHERE id IN ({marks})", chunk):
            rows[row[0]] = row
    return rows


def _blobs(db: sqlite3.Connection, texts: Iterable[Optional[str]]) -> Dict[str, Tuple[str, bytes]]:
    wanted = sorted({sha for text in texts if text and "oai-blob:" in text
                     for sha in blob_refs(json.loads(text))})
    found: Dict[str, Tuple[str, bytes]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for sha, mime, data in db.execute(
                f"SELECT sha256, mime, data FROM blobs WHERE sha256 IN ({marks})", chunk):
            found[sha] = (mime, bytes(data))
    return found


def _replay(db: sqlite3.Connection, notebook: str, name: str, kernel: str) -> Conversation:
    entries = db.execute(
        "SELECT kind, turn_id, detail FROM journal WHERE notebook = ? AND conversation = ?"
        " AND kernel = ? ORDER BY id", (notebook, name, kernel)).fetchall()
    orphans = [row[0] for row in db.execute(
        "SELECT id FROM turns WHERE notebook = ? AND conversation = ? AND kernel = ?"
        " AND status = 'streaming' ORDER BY id", (notebook, name, kernel))]
    turns = _rows_by_id(db, [e[1] for e in entries if e[0] == "turn"] + orphans)
    blobs = _blobs(db, [row[3] for row in turns.values()] + [e[2] for e in entries])
    replay = _Replay(Conversation(name), blobs)
    for kind, turn_id, detail in entries:
        if kind == "turn" and turn_id in turns:
            replay.turn(turns[turn_id], json.loads(detail) if detail else {})
        elif kind != "turn":
            replay.operation(kind, json.loads(detail) if detail else {})
    for turn_id in orphans:
        replay.turn(turns[turn_id], {}, killed=True)
    return replay.thread


class _Replay:
    """Applies journal entries to a conversation, as the kernel applied them."""

    def __init__(self, thread: Conversation, blobs: Dict[str, Tuple[str, bytes]]) -> None:
        self.thread = thread
        self.blobs = blobs
        self.exchange_turns: List[Optional[int]] = []  # the turn behind each exchange

    def _messages(self, data: Any) -> List[Message]:
        restored = join_attachments(list(data or []), self.blobs)
        return [Message.from_dict(m, "logged message") for m in restored]

    def turn(self, row: tuple, detail: Dict[str, Any], killed: bool = False) -> None:
        turn_id, starts_new, system, sent, replies, answer, partial = row
        try:
            users = self._messages(json.loads(sent))
            if killed:
                answers = [Message("assistant", answer or "", partial=True)]
            else:
                answers = self._messages(json.loads(replies) if replies else [])
        except ValueError:  # a row this version cannot read: the rest still comes back
            return
        if partial and answers and not any(m.partial for m in answers):
            answers[-1].partial = True
        if starts_new:
            self.operation("new", {})
        if system is not None:
            self.thread.system = system
        replaces = detail.get("replaces")
        if replaces is not None and self.exchange_turns and self.exchange_turns[-1] == replaces:
            self.operation("undo", {})
        self.thread.messages.extend(users + answers)
        self.exchange_turns.append(turn_id)

    def operation(self, kind: str, detail: Dict[str, Any]) -> None:
        thread = self.thread
        if kind in ("new", "reset"):
            thread.reset()
            self.exchange_turns.clear()
        elif kind == "undo":
            if thread.undo() and self.exchange_turns:
                self.exchange_turns.pop()
        elif kind == "system":
            text = detail.get("text")
            thread.system = text if isinstance(text, str) else None
        elif kind == "pick":
            last = next((m for m in reversed(thread.messages) if m.role == "assistant"), None)
            k = detail.get("k")
            if last is not None and last.alternatives and isinstance(k, int) \
                    and 1 <= k <= len(last.alternatives):
                last.content = last.alternatives[k - 1]
        elif kind in ("load", "resume"):
            snapshot = detail.get("conversation") or {}
            try:
                messages = self._messages(snapshot.get("messages"))
            except ValueError:
                return
            system = snapshot.get("system")
            thread.system = system if isinstance(system, str) else None
            thread.messages = messages
            self.exchange_turns = [None] * len(thread.turns())
