"""Opening the log file: where it is, how it is set up, and what went wrong when it fails.

The file is private (0600, its folder 0700), in WAL mode so several kernels write at once
(a rollback journal where WAL cannot work, as on some NFS homes), with a busy timeout,
``secure_delete`` (forgotten rows are zeroed) and foreign keys on. A failure is turned into
one line that names the path and the problem; a damaged file is moved aside, never deleted.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from . import schema

FILE_NAME = "history.db"
SIDE_FILES = ("-wal", "-shm")  # SQLite's own: the write-ahead log and its index

Connect = Callable[..., sqlite3.Connection]


def default_log_path() -> Path:
    """``$XDG_DATA_HOME/oai_magic/history.db``; XDG_DATA_HOME defaults to ~/.local/share
    (and, as the XDG spec says, a relative value is ignored)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base).expanduser() if base else Path("~/.local/share").expanduser()
    if not root.is_absolute():
        root = Path("~/.local/share").expanduser()
    return root / "oai_magic" / FILE_NAME


def resolve_log_path(setting: Optional[str]) -> Optional[Path]:
    """The file for the ``log_path`` setting: None is the default place, "" is no log."""
    if setting is None:
        return default_log_path()
    if not str(setting).strip():
        return None
    return Path(str(setting)).expanduser()


@dataclass
class Opened:
    db: sqlite3.Connection
    notices: List[str] = field(default_factory=list)
    wal: bool = True


def _private_file(path: Path) -> None:
    """Create the file 0600 before SQLite does (it would use the umask), and make it private
    if it is not: the log holds prompts and answers."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    _keep_private(path)


def _keep_private(path: Path) -> None:
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
        try:
            if candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
        except FileNotFoundError:
            continue


class DamagedHeader(sqlite3.DatabaseError):
    """The file's header holds values SQLite would silently rewrite (moved aside, as damage)."""


_MAGIC = b"SQLite format 3\x00"


def _check_header(path: Path) -> None:
    """Raise ``DamagedHeader`` for a SQLite header whose format versions (bytes 18-19: 1 or 2)
    or payload fractions (bytes 21-23: 64, 32, 32, fixed by the format) are wrong. SQLite opens
    such a file and rewrites the versions on the switch to WAL, so the damage was never seen:
    the log went on in the damaged file and nothing kept its bytes (found by hypothesis)."""
    try:
        with open(path, "rb") as file:
            header = file.read(100)
    except FileNotFoundError:
        return
    if len(header) < 100 or not header.startswith(_MAGIC):
        return  # empty (new), or not SQLite at all: SQLite itself says so
    if header[18] not in (1, 2) or header[19] not in (1, 2) or header[21:24] != b"\x40\x20\x20":
        raise DamagedHeader("its header is damaged (format versions or payload fractions)")


def open_database(path: Path, busy_timeout_s: float, connect: Connect = sqlite3.connect) -> Opened:
    """The file, set up and migrated. Raises sqlite3 errors, OSError or ``schema.NewerSchema``."""
    _private_file(path)
    _check_header(path)
    db = connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
        if schema.version_of(db) > schema.LATEST:  # before anything writes to it
            raise schema.NewerSchema(schema.version_of(db))
        opened = Opened(db)
        mode = _switch_to_wal(db, busy_timeout_s)
        if str(mode).lower() != "wal":
            db.execute("PRAGMA journal_mode = DELETE")
            opened.wal = False
            opened.notices.append(
                f"the log {path} cannot use WAL here (the journal mode stayed {mode!s}): it uses "
                "a rollback journal, so kernels writing at once wait for each other")
        db.execute("PRAGMA synchronous = NORMAL" if opened.wal else "PRAGMA synchronous = FULL")
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA foreign_keys = ON")
        schema.migrate(db)
        _keep_private(path)
        return opened
    except BaseException:
        db.close()
        raise


def _switch_to_wal(db: sqlite3.Connection, busy_timeout_s: float) -> str:
    """The journal mode after asking for WAL. Kernels started together open a new log at the same
    moment, and SQLite answers the switch with "database is locked" at once, without its busy
    wait, when another connection is switching or reading the new file: one open in thirty
    turned its log off. So the switch is tried again, 10 ms apart, up to the busy timeout."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def set_aside(path: Path, now: Optional[float] = None) -> Path:
    """Move a damaged file (and its WAL) to ``history.db.corrupt-<time>``: kept, not deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    aside = Path(f"{path}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = Path(f"{path}.corrupt-{stamp}-{n}")
    os.replace(path, aside)
    for suffix in SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    return aside


# SQLite's primary result codes (the extended code's low byte).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def classify(exc: BaseException, path: Path, busy_timeout_s: float) -> Tuple[str, str]:
    """(kind, one line naming the path and the problem). ``kind`` is "corrupt" for a file to
    move aside, else "off": the log turns itself off for this kernel."""
    suffix = "; the log is off in this kernel and chat goes on"
    if isinstance(exc, schema.NewerSchema):
        return "off", (f"the log {path} was written by a newer oai_magic ({exc}): it is left as "
                       f"it is{suffix}")
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError) or "Could not decode to UTF-8" in str(exc):
        return "corrupt", "it holds text that is not UTF-8"  # never the text itself: one line
    if primary in (_CORRUPT, _NOTADB) or isinstance(exc, DamagedHeader):
        return "corrupt", reason
    if primary in (_BUSY, _LOCKED):
        return "off", (f"the log {path} is locked by another process (waited "
                       f"{busy_timeout_s:g} s){suffix}")
    if primary in (_FULL, _IOERR):
        return "off", f"the log {path} could not be written ({reason}: is the disk full?){suffix}"
    if primary in (_READONLY, _CANTOPEN) or isinstance(exc, OSError):
        if isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        return "off", (f"the log {path} cannot be written ({reason}){suffix} "
                       "(OAIMagics.log_path moves it)")
    return "off", f"the log {path} failed ({reason}){suffix}"
