"""Files a user loads back (``MapResult.load``, ``%chat load``) are untrusted like a server's
replies (CONTRACTS 5): read within a size limit, as strict UTF-8, each problem one line."""

from __future__ import annotations

import os

from ..errors import InputError

MAX_LOADED_FILE_BYTES = 512 * 1024 * 1024  # far above any saved job or export we write
MAX_LOADED_ITEMS = 10_000_000  # a MapResult's count: its list of results is sized by it


def read_loaded_text(path: str, label: str, max_bytes: int = MAX_LOADED_FILE_BYTES) -> str:
    """The whole file as text, or an ``InputError`` saying why not (missing, too big, not UTF-8)."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise InputError(f"{label}: {path} is {size:,} bytes, over the {max_bytes:,} a loaded "
                             "file may have; nothing loaded")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{label}: cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > max_bytes:
        raise InputError(f"{label}: {path} is over the {max_bytes:,} bytes a loaded file may have; "
                         "nothing loaded")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: {path} is not UTF-8 text (at byte {exc.start:,}); "
                         "nothing loaded") from None


def checked_count(value: object, label: str) -> int:
    """A count read from a file: a non-negative integer within ``MAX_LOADED_ITEMS``."""
    if type(value) is not int or not 0 <= value <= MAX_LOADED_ITEMS:
        raise ValueError(f"{label} must be a whole number from 0 to {MAX_LOADED_ITEMS:,}")
    return value
