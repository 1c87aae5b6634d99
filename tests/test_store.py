"""The log (issue 24): where it is, what a turn's row holds, redaction, usage, batches, maps.

Every test has its own XDG_DATA_HOME (conftest's ``private_log``), so ``Log()`` without a path
writes to a fresh file. Resume is in test_store_resume.py, faults in test_store_faults.py.
"""

from __future__ import annotations

import base64
import datetime
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oai_magic.history import Message
from oai_magic.store import SCHEMA_VERSION, Log, default_log_path, fingerprint

from .conftest import TEST_KEY


class Clock:
    """A clock the test moves by hand: the log's flushes happen when the test says a second passed."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def rows(path: Path, sql: str, *params):
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def file_bytes(path: Path) -> bytes:
    """The log and its side files, as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_the_log_is_in_xdg_data_home_and_private(private_log):
    log = Log(notebook="nb.ipynb")
    log.start_turn("default", [Message("user", "hello")]).commit([Message("assistant", "hi")])
    path = private_log / "oai_magic" / "history.db"
    assert log.path == path == default_log_path()
    for name in ("history.db", "history.db-wal", "history.db-shm"):
        assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert log.take_notices() == [] and log.problem is None


def test_without_xdg_data_home_the_log_is_under_local_share(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_log_path() == tmp_path / ".local" / "share" / "oai_magic" / "history.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the XDG spec: ignored
    assert default_log_path() == tmp_path / ".local" / "share" / "oai_magic" / "history.db"


def test_an_empty_log_path_writes_nothing_at_all(private_log, tmp_path):
    log = Log("", notebook="nb")
    turn = log.start_turn("default", [Message("user", "hello")])
    turn.update_answer("hi")
    turn.commit([Message("assistant", "hi")])
    log.record_usage({"prompt_tokens": 3}, "m", "default", 0.5)
    log.log_operation("default", "reset")
    assert not log.enabled and log.problem is None and log.take_notices() == []
    assert turn.id is None and log.recent() == [] and log.spent_today() == 0.0
    assert list(private_log.iterdir()) == []


def test_a_path_setting_moves_the_log(tmp_path):
    log = Log(tmp_path / "elsewhere" / "mine.db", notebook="nb")
    log.start_turn("default", [Message("user", "hello")]).commit([Message("assistant", "hi")])
    assert rows(tmp_path / "elsewhere" / "mine.db", "SELECT prompt, answer FROM turns") == [("hello", "hi")]


def test_a_turn_row_holds_what_was_sent_and_how_it_was_answered():
    log = Log(notebook="lab/analysis.ipynb", kernel="kernel-1")
    turn = log.start_turn("default", [Message("user", "What is 2+2?")], cell_id="cell-7",
                          model="gpt-4o-mini", server_host="127.0.0.1:8000", practice=True)
    turn.commit([Message("assistant", "4")], reasoning="add them", model="gpt-4o-mini-2024",
                request_id="req_1", usage={"prompt_tokens": 9, "completion_tokens": 1,
                                           "details": {"cached": 2}, "note": "text is dropped"},
                cost_usd=0.0002, finish_reason="stop")
    (row,) = rows(log.path, "SELECT notebook, kernel, conversation, cell_id, status, partial, prompt, "
                  "answer, reasoning, model, request_id, usage, cost_usd, finish_reason, server_host, "
                  "practice, ended_at >= started_at FROM turns")
    assert row == ("lab/analysis.ipynb", "kernel-1", "default", "cell-7", "committed", 0,
                   "What is 2+2?", "4", "add them", "gpt-4o-mini-2024", "req_1",
                   '{"prompt_tokens": 9, "completion_tokens": 1, "details": {"cached": 2}}',
                   0.0002, "stop", "127.0.0.1:8000", 1, 1)


def test_the_notebook_comes_from_jpy_session_name_else_terminal(monkeypatch):
    assert Log().notebook == "terminal"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/work.ipynb")
    assert Log().notebook == "/home/me/work.ipynb"


def test_the_answer_is_flushed_at_most_once_a_second_while_it_streams():
    clock = Clock()
    log = Log(notebook="nb", clock=clock)
    turn = log.start_turn("default", [Message("user", "count")])
    written = []
    text = ""
    for n in range(1, 17):  # 16 pieces over 4 seconds (quarters add up exactly)
        text += f"{n} "
        clock.t += 0.25
        turn.update_answer(text)
        written.append(rows(log.path, "SELECT answer FROM turns")[0][0])
    changes = [w for prev, w in zip([""] + written, written) if w != prev]
    assert len(changes) == 4  # at 1, 2, 3 and 4 seconds
    assert written[3] == "1 2 3 4 " and written[-1] == text and written[2] == ""
    assert rows(log.path, "SELECT status FROM turns") == [("streaming",)]


def test_flush_writes_the_last_text_handed_now():
    clock = Clock()
    log = Log(notebook="nb", clock=clock)
    turn = log.start_turn("default", [Message("user", "q")])
    turn.update_answer("Part of an ans")
    assert rows(log.path, "SELECT answer FROM turns") == [("",)]
    turn.flush()
    assert rows(log.path, "SELECT answer FROM turns") == [("Part of an ans",)]


def test_a_failed_turn_is_kept_with_its_error_and_later_calls_do_nothing():
    log = Log(notebook="nb")
    turn = log.start_turn("default", [Message("user", "q")])
    turn.fail("404 model not found")
    turn.commit([Message("assistant", "too late")])
    turn.update_answer("too late")
    assert rows(log.path, "SELECT status, answer, error FROM turns") == [
        ("failed", "", "404 model not found")]
    assert rows(log.path, "SELECT count(*) FROM journal") == [(0,)]


def test_a_replaced_turn_stays_in_the_log_marked_replaced():
    log = Log(notebook="nb")
    first = log.start_turn("default", [Message("user", "q")], cell_id="c1")
    first.commit([Message("assistant", "first try")])
    again = log.start_turn("default", [Message("user", "q")], cell_id="c1")
    again.commit([Message("assistant", "second try")], replaces=first.id)
    assert rows(log.path, "SELECT answer, status, replaces FROM turns ORDER BY id") == [
        ("first try", "replaced", None), ("second try", "committed", first.id)]


KEY_RUNS = st.integers(0, len(TEST_KEY) - 12).flatmap(
    lambda start: st.integers(start + 12, len(TEST_KEY)).map(lambda end: TEST_KEY[start:end]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.text(max_size=30), run=KEY_RUNS, after=st.text(max_size=30))
def test_no_run_of_the_key_reaches_the_file(tmp_path_factory, before, run, after):
    """Wherever a run of 12+ key characters sits (prompt, answer, reasoning, model, usage keys,
    operations, batch ids, map items), the file never holds 12 of them in a row."""
    path = tmp_path_factory.mktemp("log") / "history.db"
    log = Log(path, notebook=f"nb{run}", secret=lambda: TEST_KEY)
    echoed = before + run + after
    turn = log.start_turn(echoed, [Message("user", echoed)], cell_id=echoed, model=echoed,
                          system=echoed)
    turn.update_answer(echoed, reasoning=echoed)
    turn.flush()
    turn.commit([Message("assistant", echoed, alternatives=[echoed])], request_id=echoed,
                usage={echoed: 3}, error=echoed, finish_reason=echoed)
    log.log_operation(echoed, "system", text=echoed)
    log.record_usage({"prompt_tokens": 1}, echoed, echoed, 0.1)
    log.log_batch([echoed], 1, model=echoed, labels=[echoed])
    job = log.start_map(echoed, "f", 1, model=echoed)
    log.record_map_item(job, {"index": 0, "text": echoed, "error": None})
    assert log.problem is None
    log.close()
    stored = file_bytes(path)
    grams = {TEST_KEY[i:i + 12].encode() for i in range(len(TEST_KEY) - 11)}
    assert not [g for g in grams if g in stored]


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_images_are_kept_once_as_blobs_up_to_the_cap():
    log = Log(notebook="nb", max_blob_bytes=1000)
    small, big = b"\x89PNG small image" * 10, b"x" * 5000
    parts = [{"type": "text", "text": "look"},
             {"type": "image_url", "image_url": {"url": data_url(small)}},
             {"type": "image_url", "image_url": {"url": data_url(big, "image/jpeg")}}]
    for _ in range(2):
        log.start_turn("default", [Message("user", parts)]).commit([Message("assistant", "ok")])
    assert rows(log.path, "SELECT mime, size, data FROM blobs") == [("image/png", len(small), small)]
    sent = rows(log.path, "SELECT sent FROM turns")[0][0]
    assert "base64" not in sent and "oai-blob:" in sent and "image/jpeg:5000" in sent


def test_an_attachment_that_carries_the_key_is_not_kept():
    log = Log(notebook="nb", secret=lambda: TEST_KEY)
    url = data_url(f"OPENAI_API_KEY={TEST_KEY}\n".encode(), "text/plain")
    log.start_turn("default", [Message("user", [{"type": "image_url", "image_url": {"url": url}}])])
    assert rows(log.path, "SELECT count(*) FROM blobs") == [(0,)]
    assert TEST_KEY[:12].encode() not in file_bytes(log.path)


def test_spend_today_counts_every_kernel_and_a_notebook_its_own(monkeypatch):
    one = Log(notebook="a.ipynb", kernel="k1")
    two = Log(notebook="b.ipynb", kernel="k2")
    one.record_usage({"prompt_tokens": 10, "completion_tokens": 5}, "m", "default", 0.25)
    two.record_usage({"input_tokens": 10, "output_tokens": 5}, "m", "other", 0.5)
    two.record_usage({"prompt_tokens": 1}, "m", "other", float("nan"))  # not a number: no cost
    yesterday = Log(notebook="a.ipynb", kernel="k0",
                    now=lambda: (datetime.datetime.now() - datetime.timedelta(days=1)).timestamp())
    yesterday.record_usage({"prompt_tokens": 1}, "m", "default", 4.0)
    assert one.spent_today() == two.spent_today() == pytest.approx(0.75)
    assert one.spent_in_notebook() == pytest.approx(4.25)
    assert two.spent_in_notebook() == pytest.approx(0.5)
    assert rows(one.path, "SELECT input_tokens, output_tokens FROM usage ORDER BY id")[:2] == [
        (10, 5), (10, 5)]


def test_the_last_batch_of_a_notebook_is_found_by_a_new_kernel():
    old = Log(notebook="nb", kernel="before-restart")
    old.log_batch(["batch_1"], 3, model="m", server_host="127.0.0.1:1", labels=["a", "b", "c"])
    old.log_batch(["batch_2", "batch_3"], 2000, model="m", status="validating")
    Log(notebook="other", kernel="x").log_batch(["batch_9"], 1)
    new = Log(notebook="nb", kernel="after-restart")
    new.update_batch("batch_2", "completed")
    job = new.last_batch()
    assert job["batch_ids"] == ["batch_2", "batch_3"] and job["count"] == 2000
    assert job["status"] == "completed" and job["model"] == "m"
    assert Log(notebook="empty").last_batch() is None


def test_map_items_are_found_by_target_and_fingerprint_after_a_crash():
    ask = fingerprint("Summarize {item}", "gpt-4o-mini", ["a", "b", "c"])
    assert ask == fingerprint("Summarize {item}", "gpt-4o-mini", ["a", "b", "c"])
    assert ask != fingerprint("Summarize {item}", "gpt-4o-mini", ["a", "b"])
    old = Log(notebook="nb", kernel="k1")
    job = old.start_map("OUT", ask, 3, model="gpt-4o-mini", cell_id="c1")
    old.record_map_item(job, {"index": 0, "text": "A", "error": None})
    old.record_map_item(job, {"index": 1, "text": "", "error": "429 too many requests"})
    new = Log(notebook="nb", kernel="k2")
    assert new.finished_map_items("OUT", ask) == {0: {"index": 0, "text": "A", "error": None}}
    again = new.start_map("OUT", ask, 3)
    new.record_map_item(again, {"index": 1, "text": "B", "error": None})
    assert sorted(new.finished_map_items("OUT", ask)) == [0, 1]
    assert new.finished_map_items("OUT", "another ask") == {}
    assert Log(notebook="elsewhere").finished_map_items("OUT", ask) == {}


def test_the_log_migrates_an_older_file_step_by_step(tmp_path):
    from oai_magic.store import schema

    path = tmp_path / "history.db"
    db = sqlite3.connect(path, isolation_level=None)
    schema.MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO turns (notebook, kernel, conversation, prompt, answer, started_at,"
               " updated_at) VALUES ('nb', 'k', 'default', 'an old question', 'an old answer', 1, 1)")
    db.close()
    log = Log(path, notebook="nb")
    assert [t.prompt for t in log.search("old question")] == ["an old question"]
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert log.take_notices() == []


def test_a_cell_and_the_panel_thread_write_through_one_log_at_once():
    import threading

    log = Log(notebook="nb")
    start = threading.Barrier(2)

    def chat(name: str) -> None:
        start.wait()
        for n in range(25):
            turn = log.start_turn(name, [Message("user", f"{name} {n}")])
            turn.update_answer("so far")
            turn.flush()
            turn.commit([Message("assistant", f"answer {n}")])

    threads = [threading.Thread(target=chat, args=(name,)) for name in ("cell", "panel")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.problem is None
    assert rows(log.path, "SELECT conversation, count(*) FROM turns WHERE status = 'committed'"
                " GROUP BY conversation ORDER BY conversation") == [("cell", 25), ("panel", 25)]


def test_the_log_settings_are_configurable_like_every_other(shell, magics):
    from oai_magic.state import get_state

    shell.run_line_magic("config", 'OAIMagics.log_path = ""')
    shell.run_line_magic("config", "OAIMagics.daily_budget_usd = 2.5")
    shell.run_line_magic("config", "OAIMagics.resume_hint = False")
    settings = get_state(shell).settings
    assert (settings.log_path, settings.daily_budget_usd, settings.resume_hint) == ("", 2.5, False)
    assert (settings.log_busy_timeout_s, settings.log_max_blob_bytes) == (5.0, 5_000_000)
    magics.log_path, magics.daily_budget_usd, magics.resume_hint = None, None, True


def test_a_kernel_the_tests_start_writes_its_log_under_the_test_folder(tmp_path):
    """kernel_env gives every kernel a private XDG_DATA_HOME, and JPY_SESSION_NAME is what the
    test says (as Jupyter Server sets it), so a run never reads or writes the user's log."""
    import sys

    import nbformat
    from nbclient import NotebookClient

    from .kernels import kernel_env, kernel_manager

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(
        "from oai_magic.store import Log\nfrom oai_magic.history import Message\n"
        "log = Log()\nlog.start_turn('default', [Message('user', 'from a kernel')])\n"
        "print(log.path, log.notebook)")]
    client = NotebookClient(notebook, km=kernel_manager(sys.executable, tmp_path / "jupyter"),
                            timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_env(tmp_path / "jupyter", {"JPY_SESSION_NAME": "work/a.ipynb"}))
    printed = notebook.cells[0].outputs[0]["text"].split()
    path = tmp_path / "jupyter" / "xdg-data" / "oai_magic" / "history.db"
    assert printed == [str(path), "work/a.ipynb"]
    assert [t.prompt for t in Log(path, notebook="work/a.ipynb").recent()] == ["from a kernel"]
