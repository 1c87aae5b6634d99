"""The log's tables, built by migrations: one function per schema step, applied in order.

``PRAGMA user_version`` is the step the file has reached. A kernel opening an older file
brings it up to date inside one write transaction (two kernels racing do it once); a file
from a newer oai_magic is left untouched and the log turns itself off (see ``connection``).
Like simonw/llm's ``migrations.py``, a step is never edited once shipped: a change is a new step.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, List

# What changes a conversation, besides a turn that commits (a turn's own -n/-s live on its row).
OPERATIONS = ("new", "reset", "undo", "pick", "system", "load", "resume")
STATUSES = ("streaming", "committed", "replaced", "failed")


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would commit the migration's transaction."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            db.execute(buffer)
            buffer = ""


def _v1_tables(db: sqlite3.Connection) -> None:
    """Turns, the conversation journal, attachments, the usage ledger, batches and map items."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    kinds = ", ".join(f"'{k}'" for k in ("turn", *OPERATIONS))
    _execute_script(db, f"""
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            notebook TEXT NOT NULL,
            kernel TEXT NOT NULL,
            conversation TEXT NOT NULL,
            cell_id TEXT,
            status TEXT NOT NULL DEFAULT 'streaming' CHECK (status IN ({statuses})),
            partial INTEGER NOT NULL DEFAULT 0,
            starts_new INTEGER NOT NULL DEFAULT 0,  -- the cell's -n, applied when it commits
            model TEXT,
            request_id TEXT,
            cost_usd REAL,
            finish_reason TEXT,
            server_host TEXT,
            practice INTEGER NOT NULL DEFAULT 0,
            replaces INTEGER,                        -- the turn a re-run cell replaced
            started_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            ended_at REAL,
            -- Long text last, the searched columns first: SQLite reads a row's columns in order,
            -- so a search or a listing never walks the overflow pages of the JSON behind them.
            prompt TEXT NOT NULL DEFAULT '',         -- the user's text, for listing and search
            answer TEXT NOT NULL DEFAULT '',
            system TEXT,                             -- the cell's -s, applied when it commits
            error TEXT,
            usage TEXT,                              -- JSON: the server's token counts
            reasoning TEXT,                          -- logged, never sent back
            sent TEXT NOT NULL DEFAULT '[]',         -- JSON: the messages this turn adds, as sent
            replies TEXT                             -- JSON: assistant and tool messages committed
        );
        CREATE INDEX turns_by_notebook ON turns (notebook, id);
        CREATE INDEX turns_by_conversation ON turns (notebook, conversation, id);

        -- The order in which things entered each conversation: committed turns and operations.
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY,
            notebook TEXT NOT NULL,
            kernel TEXT NOT NULL,
            conversation TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            turn_id INTEGER REFERENCES turns (id) ON DELETE CASCADE,
            detail TEXT,                             -- JSON: what the operation needs to replay
            at REAL NOT NULL
        );
        CREATE INDEX journal_by_conversation ON journal (notebook, conversation, id);
        CREATE INDEX journal_by_turn ON journal (turn_id);

        -- Images and files sent with prompts, once each; rows point at them by sha256.
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE blob_refs (
            sha256 TEXT NOT NULL,
            turn_id INTEGER REFERENCES turns (id) ON DELETE CASCADE,
            entry_id INTEGER REFERENCES journal (id) ON DELETE CASCADE
        );
        CREATE INDEX blob_refs_by_turn ON blob_refs (turn_id);
        CREATE INDEX blob_refs_by_entry ON blob_refs (entry_id);
        CREATE INDEX blob_refs_by_sha ON blob_refs (sha256);

        -- Amounts only: forgetting content keeps these, so a daily budget is not lifted.
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            day TEXT NOT NULL,                       -- the local date, YYYY-MM-DD
            notebook TEXT,
            kernel TEXT NOT NULL,
            conversation TEXT,
            turn_id INTEGER,
            model TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL
        );
        CREATE INDEX usage_by_day ON usage (day);
        CREATE INDEX usage_by_notebook ON usage (notebook);

        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            notebook TEXT NOT NULL,
            kernel TEXT NOT NULL,
            batch_ids TEXT NOT NULL,                 -- JSON list; the first is the job's id
            count INTEGER NOT NULL,
            model TEXT,
            server_host TEXT,
            organization TEXT,
            project TEXT,
            labels TEXT,                             -- JSON: the items' index, when it has one
            status TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX batches_by_notebook ON batches (notebook, id);

        CREATE TABLE map_jobs (
            id INTEGER PRIMARY KEY,
            notebook TEXT NOT NULL,
            kernel TEXT NOT NULL,
            cell_id TEXT,
            target TEXT NOT NULL,                    -- the OUT variable
            fingerprint TEXT NOT NULL,               -- the prompt template, model and items
            count INTEGER NOT NULL,
            model TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX map_jobs_by_target ON map_jobs (notebook, target, id);
        CREATE TABLE map_items (
            job_id INTEGER NOT NULL REFERENCES map_jobs (id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            result TEXT NOT NULL,                    -- JSON: ItemResult.to_dict()
            at REAL NOT NULL,
            PRIMARY KEY (job_id, idx)
        );
    """)


def _v2_full_text(db: sqlite3.Connection) -> None:
    """Full-text search over prompts and answers, where this SQLite has FTS5's trigram tokenizer.

    The trigram tokenizer finds any substring of three characters or more, so words in Chinese
    and Japanese (no spaces between them) are found. Without it, search falls back to LIKE.
    The index follows the turns through triggers, inside the same transactions.
    """
    try:
        db.execute("CREATE VIRTUAL TABLE turns_fts USING fts5("
                   "prompt, answer, content='turns', content_rowid='id', tokenize='trigram')")
    except sqlite3.OperationalError:  # no fts5, or SQLite before 3.34 (no trigram)
        return
    _execute_script(db, """
        INSERT INTO turns_fts (rowid, prompt, answer) SELECT id, prompt, answer FROM turns;
        CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
            INSERT INTO turns_fts (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
        END;
        CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, prompt, answer)
                VALUES ('delete', old.id, old.prompt, old.answer);
        END;
        CREATE TRIGGER turns_fts_update AFTER UPDATE OF prompt, answer ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, prompt, answer)
                VALUES ('delete', old.id, old.prompt, old.answer);
            INSERT INTO turns_fts (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
        END;
    """)


MIGRATIONS: List[Callable[[sqlite3.Connection], None]] = [_v1_tables, _v2_full_text]
LATEST = len(MIGRATIONS)


class NewerSchema(Exception):
    """The file was written by a newer oai_magic: this one must not write to it."""

    def __init__(self, found: int) -> None:
        super().__init__(f"schema version {found}, newer than this oai_magic knows ({LATEST})")
        self.found = found


def version_of(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection) -> int:
    """Bring the file to ``LATEST``, one step at a time, in one write transaction; the version.

    ``db`` is in autocommit mode (``isolation_level=None``): the steps and the version move
    together, or not at all.
    """
    found = version_of(db)
    if found > LATEST:
        raise NewerSchema(found)
    if found == LATEST:
        return found
    db.execute("BEGIN IMMEDIATE")
    try:
        found = version_of(db)  # another kernel may have migrated while this one waited
        if found > LATEST:
            raise NewerSchema(found)
        for step in MIGRATIONS[found:]:
            step(db)
        db.execute(f"PRAGMA user_version = {LATEST}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return LATEST


def has_full_text(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'turns_fts'").fetchone()
    return row is not None
