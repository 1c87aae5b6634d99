"""Faults never break chat (issue 24): the log turns itself off, or recovers, and says so once.

The full disk, the two writers and the kill are real processes: a full disk is the file-size
limit (RLIMIT_FSIZE), two kernels are two interpreters, a crash is SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from oai_magic.history import Message
from oai_magic.store import Log, schema


def use(log: Log) -> None:
    """What a kernel does with its log in a turn; none of it may raise."""
    turn = log.start_turn("default", [Message("user", "question")])
    turn.update_answer("partial")
    turn.commit([Message("assistant", "answer")])
    log.record_usage({"prompt_tokens": 1}, "m", "default", 0.01)
    log.log_operation("default", "reset")
    log.recent(), log.search("question"), log.rebuild(), log.spent_today(), log.last_batch()


def assert_off_with_one_line(log: Log, path: Path, *words: str) -> None:
    assert not log.enabled
    lines = log.take_notices()
    assert len(lines) == 1 and str(path) in lines[0], lines
    assert all(word in lines[0] for word in words), lines
    assert log.problem == lines[0]
    use(log)  # after the problem: cheap no-ops, and no second line
    assert log.take_notices() == []


def python(script: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **kwargs)


def test_a_folder_that_cannot_be_made_turns_the_log_off(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / "a-file" / "oai_magic" / "history.db"
    log = Log(path, notebook="nb")
    use(log)
    assert_off_with_one_line(log, path, "cannot be written", "log_path")


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write to, root included (root ignores the mode: the immutable flag)."""
    folder = tmp_path / "read-only"
    folder.mkdir()

    def lock():
        folder.chmod(0o555)
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(folder)], check=True)

    yield folder, lock
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    folder.chmod(0o755)


def test_a_read_only_folder_turns_the_log_off(read_only_folder):
    folder, lock = read_only_folder
    lock()
    log = Log(folder / "history.db", notebook="nb")
    use(log)
    assert_off_with_one_line(log, folder / "history.db", "cannot be written")
    assert list(folder.iterdir()) == []


def test_a_log_in_a_folder_that_became_read_only_turns_off(read_only_folder):
    folder, lock = read_only_folder
    before = Log(folder / "history.db", notebook="nb")
    use(before)
    before.close()
    lock()  # the WAL cannot be made next to the file now
    log = Log(folder / "history.db", notebook="nb")
    use(log)
    assert_off_with_one_line(log, folder / "history.db")


def test_a_lock_held_past_the_timeout_turns_the_log_off(tmp_path):
    path = tmp_path / "history.db"
    log = Log(path, notebook="nb", busy_timeout_s=0.2)
    log.spent_today()  # open it
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another kernel, stuck inside a write
    try:
        turn = log.start_turn("default", [Message("user", "q")])
        assert turn.id is None
        assert_off_with_one_line(log, path, "locked by another process", "0.2 s")
    finally:
        holder.execute("ROLLBACK")
    path.unlink()
    use(log)
    assert not path.exists()  # off means off: it opens nothing again


def test_a_newer_schema_is_left_untouched(tmp_path):
    path = tmp_path / "history.db"
    older = Log(path, notebook="nb")
    use(older)
    older.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    db.execute("PRAGMA journal_mode = DELETE")
    db.close()
    before = path.read_bytes()
    log = Log(path, notebook="nb")
    use(log)
    assert_off_with_one_line(log, path, "newer oai_magic", f"schema version {schema.LATEST + 1}")
    assert path.read_bytes() == before


def test_a_corrupt_file_is_kept_aside_and_a_new_log_started(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not SQLite at all " * 100)
    log = Log(path, notebook="nb")
    use(log)
    (aside,) = tmp_path.glob("history.db.corrupt-*")
    assert aside.read_bytes() == b"this is not SQLite at all " * 100
    (line,) = log.take_notices()
    assert str(path) in line and str(aside) in line and "new log" in line
    assert log.enabled and log.problem is None
    assert [t.prompt for t in log.recent()] == ["question"]


@settings(max_examples=25, deadline=None)
@given(damage=st.lists(st.tuples(st.integers(0, 60_000), st.binary(min_size=1, max_size=600)),
                       min_size=1, max_size=4))
@example(damage=[(19, b"\x00")])  # found by hypothesis: a read version SQLite rewrites on the
@example(damage=[(19, b"\x00\x01")])  # switch to WAL, so the damaged file was used as it was
def test_damaged_pages_never_break_chat(damage):
    """Random bytes written over a log: every call returns, the log recovers or turns off with
    at most two lines (set aside, then off), and the damaged bytes are kept somewhere."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        log = Log(path, notebook="nb", kernel="k1")
        for n in range(30):
            turn = log.start_turn("default", [Message("user", f"question {n} " * 20)])
            turn.commit([Message("assistant", f"answer {n} " * 40)])
        log.close()
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        with open(path, "r+b") as file:
            size = file.seek(0, 2)
            for offset, data in damage:
                file.seek(offset % size)
                file.write(data)
        damaged = path.read_bytes()
        again = Log(path, notebook="nb", kernel="k2")
        use(again)
        lines = again.take_notices()
        assert len(lines) <= 2 and all(str(path) in line for line in lines)
        assert all("\n" not in line and len(line) < 400 for line in lines), lines
        kept = [p.read_bytes() for p in Path(tmp).glob("history.db*") if not p.name.endswith(("-wal", "-shm"))]
        assert any(k.startswith(damaged[:100]) for k in kept) or damaged in kept


def test_without_wal_the_log_uses_a_rollback_journal_and_says_so_once(tmp_path):
    """SQLite's "unix-none" VFS (no locks, as on some network file systems) refuses WAL."""
    path = tmp_path / "history.db"

    def no_locks(name, **kwargs):
        return sqlite3.connect(f"file:{name}?vfs=unix-none", uri=True, **kwargs)

    log = Log(path, notebook="nb", connect=no_locks)
    use(log)
    (line,) = log.take_notices()
    assert str(path) in line and "WAL" in line and "rollback journal" in line
    assert log.enabled and not log.wal and [t.prompt for t in log.recent()] == ["question"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("delete",)


FULL_DISK = """
    import json, os, resource, signal, sys
    from oai_magic.history import Message
    from oai_magic.store import Log
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    log = Log(sys.argv[1], notebook="nb", kernel="k1")
    log.spent_today()
    size = sum(os.path.getsize(sys.argv[1] + s) for s in ("", "-wal") if os.path.exists(sys.argv[1] + s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 150_000, size + 150_000))
    answered = 0
    for n in range(100):
        turn = log.start_turn("default", [Message("user", f"question {n} " + "x" * 20_000)])
        turn.commit([Message("assistant", f"answer {n}")])
        answered += 1  # chat goes on
    print(json.dumps({"answered": answered, "notices": log.take_notices(), "enabled": log.enabled}))
"""


def test_a_full_disk_turns_the_log_off_and_keeps_what_was_written(tmp_path):
    path = tmp_path / "history.db"
    process = python(FULL_DISK, str(path))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    report = json.loads(out)
    assert report["answered"] == 100 and report["enabled"] is False
    (line,) = report["notices"]
    assert str(path) in line and "could not be written" in line and "disk full" in line
    kept = Log(path, notebook="nb", kernel="k2").rebuild()
    assert kept and 0 < kept[0].exchanges < 100


TWELVE_TURNS = """
    import json, sys
    from oai_magic.history import Message
    from oai_magic.store import Log
    log = Log(sys.argv[1], notebook="nb", kernel=sys.argv[2])
    log.spent_today()
    print("ready", flush=True)
    sys.stdin.readline()  # both start writing together
    for n in range(12):
        turn = log.start_turn(sys.argv[2], [Message("user", f"{sys.argv[2]} question {n}")])
        turn.update_answer("so far")
        turn.flush()
        turn.commit([Message("assistant", f"answer {n}")])
        log.record_usage({"prompt_tokens": 1}, "m", sys.argv[2], 0.01, turn=turn)
    print(json.dumps(log.take_notices()))
"""


def test_two_kernels_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "history.db"
    kernels = [python(TWELVE_TURNS, str(path), name) for name in ("one", "two")]
    for kernel in kernels:
        assert kernel.stdout.readline() == "ready\n"
    for kernel in kernels:
        kernel.stdin.write("go\n")
        kernel.stdin.flush()
    for kernel in kernels:
        out, err = kernel.communicate(timeout=120)
        assert kernel.returncode == 0 and json.loads(out) == [], err
    db = sqlite3.connect(path)
    assert db.execute("SELECT kernel, count(*) FROM turns WHERE status = 'committed'"
                      " GROUP BY kernel ORDER BY kernel").fetchall() == [("one", 12), ("two", 12)]
    assert db.execute("SELECT count(*) FROM journal").fetchone() == (24,)
    assert db.execute("SELECT count(*) FROM usage").fetchone() == (24,)
    resumed = {r.conversation.name: r.exchanges for r in Log(path, notebook="nb").rebuild()}
    assert resumed == {"one": 12, "two": 12}


KILLED_MID_ANSWER = """
    import sys
    from oai_magic.history import Message
    from oai_magic.store import Log
    clock = [0.0]
    log = Log(sys.argv[1], notebook="nb.ipynb", kernel="dies", clock=lambda: clock[0])
    first = log.start_turn("default", [Message("user", "first question")])
    first.commit([Message("assistant", "first answer")])
    turn = log.start_turn("default", [Message("user", "second question")])
    text = ""
    for n in range(20):  # five seconds of streaming, a quarter at a time
        text += f"word{n} "
        clock[0] += 0.25
        turn.update_answer(text)
    print(text, flush=True)
    sys.stdin.readline()  # killed here, mid-answer
"""


def test_a_kernel_killed_mid_answer_leaves_the_answer_so_far_marked_partial(tmp_path):
    path = tmp_path / "history.db"
    kernel = python(KILLED_MID_ANSWER, str(path))
    so_far = kernel.stdout.readline()
    os.kill(kernel.pid, signal.SIGKILL)
    kernel.wait(timeout=30)
    assert kernel.returncode == -signal.SIGKILL
    row = sqlite3.connect(path).execute(
        "SELECT status, answer FROM turns WHERE prompt = 'second question'").fetchone()
    assert row == ("streaming", so_far.rstrip("\n"))
    (resumed,) = Log(path, notebook="nb.ipynb").rebuild()
    assert [(m.content, m.partial) for m in resumed.conversation.messages] == [
        ("first question", False), ("first answer", False),
        ("second question", False), (so_far.rstrip("\n"), True)]



OPEN_TOGETHER = """
    import json, sys, time
    from oai_magic.store import Log
    folder, first = sys.argv[1], float(sys.argv[2])
    failed = []
    for n in range(40):  # round n: every process opens new log n at the same instant
        moment = first + n * 0.05
        while time.time() < moment:
            pass
        log = Log(f"{folder}/{n}.db", notebook="nb", kernel=sys.argv[3])
        log.spent_today()
        failed += log.take_notices()
    print(json.dumps(failed))
"""


def test_kernels_opening_a_new_log_at_the_same_moment_all_keep_it(tmp_path):
    """Kernels started together (JupyterLab restoring notebooks, a classroom) open a new log at
    once. SQLite answered one switch to WAL with "database is locked" at once, without its busy
    wait: about one open in thirty turned its log off. Three processes open 40 new logs together,
    round by round (each round starts at a set instant on the clock, so the opens collide)."""
    import time

    first = time.time() + 1.5  # after the three have started
    openers = [python(OPEN_TOGETHER, str(tmp_path), repr(first), name) for name in ("a", "b", "c")]
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err
        assert json.loads(out) == [], out
