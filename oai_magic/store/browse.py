"""Reading the log back (recent turns, search) and forgetting from it for real.

Search uses FTS5 with the trigram tokenizer where SQLite has it, so any substring of three
characters or more is found, in Chinese and Japanese too; shorter text (a two-character
Chinese word) and builds without it use LIKE, which reads every row but stays fast at the
sizes a person's log reaches (``benchmarks/bench_log.py``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import List, Optional

PREVIEW_CHARS = 400  # listing a turn shows this much of its prompt and answer


@dataclass
class LoggedTurn:
    """One turn as ``%chat log`` and ``%chat search`` list it (text cut to PREVIEW_CHARS)."""

    id: int
    notebook: str
    conversation: str
    cell_id: Optional[str]
    status: str
    partial: bool
    prompt: str
    answer: str
    model: Optional[str]
    cost_usd: Optional[float]
    started_at: float
    ended_at: Optional[float]


_COLUMNS = (f"t.id, t.notebook, t.conversation, t.cell_id, t.status, t.partial,"
            f" substr(t.prompt, 1, {PREVIEW_CHARS}), substr(t.answer, 1, {PREVIEW_CHARS}),"
            " t.model, t.cost_usd, t.started_at, t.ended_at")


def _turns(rows: List[tuple]) -> List[LoggedTurn]:
    return [LoggedTurn(*row[:5], bool(row[5]), *row[6:]) for row in rows]


def recent(db: sqlite3.Connection, limit: int, notebook: Optional[str],
           conversation: Optional[str]) -> List[LoggedTurn]:
    filters, params = [], []
    if notebook is not None:
        filters.append("t.notebook = ?")
        params.append(notebook)
    if conversation is not None:
        filters.append("t.conversation = ?")
        params.append(conversation)
    where = f"WHERE {' AND '.join(filters)}" if filters else ""
    rows = db.execute(f"SELECT {_COLUMNS} FROM turns t {where} ORDER BY t.id DESC LIMIT ?",
                      [*params, max(0, int(limit))]).fetchall()
    return _turns(rows)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(db: sqlite3.Connection, text: str, limit: int, notebook: Optional[str],
           full_text: bool) -> List[LoggedTurn]:
    text = text.strip()
    if not text:
        return []
    scope, params = ("AND t.notebook = ?", [notebook]) if notebook is not None else ("", [])
    if full_text and len(text) >= 3:
        phrase = '"' + text.replace('"', '""') + '"'
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM turns_fts f JOIN turns t ON t.id = f.rowid"
            f" WHERE turns_fts MATCH ? {scope} ORDER BY f.rowid DESC LIMIT ?",  # stops at limit
            [phrase, *params, max(0, int(limit))]).fetchall()
    else:
        pattern = _like_pattern(text)
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM turns t WHERE (t.prompt LIKE ? ESCAPE '\\'"
            f" OR t.answer LIKE ? ESCAPE '\\') {scope} ORDER BY t.id DESC LIMIT ?",
            [pattern, pattern, *params, max(0, int(limit))]).fetchall()
    return _turns(rows)


@dataclass
class Forgotten:
    """What ``forget`` did: turns erased, and whether the file holds none of their bytes now
    (False when another kernel's open read kept the write-ahead log from being emptied)."""

    turns: int
    complete: bool


def erase(db: sqlite3.Connection, notebook: Optional[str], conversation: Optional[str],
          before: Optional[float], full_text: bool) -> int:
    """Delete the rows in scope (inside the caller's transaction); the number of turns."""

    def scope(time_column: str) -> tuple:
        filters, params = [], []
        if notebook is not None:
            filters.append("notebook = ?")
            params.append(notebook)
        if conversation is not None:
            filters.append("conversation = ?")
            params.append(conversation)
        if before is not None:
            filters.append(f"{time_column} < ?")
            params.append(before)
        return (" AND ".join(filters) or "1"), params

    where, params = scope("at")
    db.execute(f"DELETE FROM journal WHERE {where}", params)
    db.execute(f"UPDATE usage SET conversation = NULL, turn_id = NULL WHERE {where}", params)
    where, params = scope("started_at")
    erased = db.execute(f"DELETE FROM turns WHERE {where}", params).rowcount
    if conversation is None:  # batches and maps belong to a notebook, not to a conversation
        where, params = scope("created_at")
        db.execute(f"DELETE FROM batches WHERE {where}", params)
        db.execute(f"DELETE FROM map_jobs WHERE {where}", params)
    db.execute("DELETE FROM blob_refs WHERE turn_id IS NULL AND entry_id IS NULL")
    db.execute("DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM blob_refs)")
    if full_text:  # merge the index's segments, so no deleted text stays in an old one
        db.execute("INSERT INTO turns_fts (turns_fts) VALUES ('optimize')")
    return erased


def compact(db: sqlite3.Connection, erased: int) -> Forgotten:
    """Free pages rewritten (VACUUM) and the write-ahead log emptied, so the bytes are gone."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    return Forgotten(erased, not busy)
