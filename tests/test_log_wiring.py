"""The session writes the log and reads it back (issue 24): turns, operations, usage, resume,
%chat log / search / forget, the resume hint, and the log turned off."""

from __future__ import annotations

import sqlite3

import pytest
from IPython.core.error import UsageError

from oai_magic.core.session import reset_session, session_of
from oai_magic.store import default_log_path

from .conftest import TEST_KEY, run


@pytest.fixture(autouse=True)
def log_settings_back(shell, magics):
    """The magics' traits outlive a test: the log settings go back to their defaults."""
    yield
    magics.log_path, magics.daily_budget_usd, magics.resume_hint = None, None, True


def restart(shell, server):
    """What a kernel restart leaves: a fresh session (a new kernel id), the same log file."""
    fresh = reset_session(shell)
    magics = shell.magics_manager.registry["OAIMagics"]
    magics.apply_configuration()
    from oai_magic.state import Secret

    fresh.settings.base_url = server.base_url
    fresh.settings.api_key = Secret(TEST_KEY)
    return fresh


def rows(sql, *params):
    with sqlite3.connect(default_log_path()) as db:
        return db.execute(sql, params).fetchall()


def test_a_turn_is_logged_committed_with_what_the_server_said(shell):
    run(shell, "%%chat -c notes\n[[echo]] first words")
    (status, partial, answer, model, request_id, usage, finish), = rows(
        "SELECT status, partial, answer, model, request_id, usage, finish_reason FROM turns")
    assert (status, partial, finish) == ("committed", 0, "stop")
    assert "first words" in answer
    assert model and request_id and usage and "tokens" in usage
    assert rows("SELECT count(*) FROM usage")[0][0] == 1


def test_a_restart_loses_nothing_resume_brings_conversations_back(shell, server, capsys):
    run(shell, "%%chat -c notes -s 'Be brief.'\n[[echo]] one")
    run(shell, "%%chat -c notes\n[[echo]] two")
    run(shell, "%%chat -c other\n[[echo]] three")
    run(shell, "%chat undo -c other")
    restart(shell, server)
    state = session_of(shell)
    assert state.conversations == {} or not state.conversations  # nothing restored by itself
    shown = run(shell, "%chat resume").result
    assert "notes: 2 exchanges" in repr(shown)
    assert "other" not in repr(shown)  # undone to empty: nothing to bring back
    notes = state.conversations["notes"]
    assert notes.system == "Be brief."
    assert [m.role for m in notes.messages] == ["user", "assistant"] * 2
    assert "two" in notes.messages[-1].content


def test_the_first_chat_of_a_new_kernel_hints_at_resume_once(shell, server, capsys):
    run(shell, "%%chat\n[[echo]] hello")
    restart(shell, server)
    capsys.readouterr()
    run(shell, "%%chat -c fresh\n[[echo]] a")
    run(shell, "%%chat -c fresh\n[[echo]] b")
    out = capsys.readouterr().out
    assert out.count("this notebook has 1 saved conversation: %chat resume brings them back") == 1


def test_the_resume_hint_can_be_silenced(shell, server, magics, capsys):
    run(shell, "%%chat\n[[echo]] hello")
    restart(shell, server)
    magics.resume_hint = False
    capsys.readouterr()
    run(shell, "%%chat -c fresh\n[[echo]] a")
    assert "saved conversation" not in capsys.readouterr().out


def test_log_search_and_forget_show_escaped_clean_text(shell):
    run(shell, "%%chat -c notes\n[[echo]] <b>bold</b> \x1b]52;c;aGk=\x07 needle")
    shown = run(shell, "%chat log").result
    html = shown._repr_html_()
    assert "<b>bold" not in html and "&lt;b&gt;bold" in html
    assert "\x1b" not in repr(shown) and "\x07" not in repr(shown)
    found = run(shell, "%chat search needle").result
    assert "notes" in repr(found)
    gone = run(shell, "%chat forget -c notes").result
    assert "Erased 1 turn" in repr(gone)
    assert "No logged turn" in repr(run(shell, "%chat search needle").result)
    assert rows("SELECT count(*) FROM usage")[0][0] == 1  # the budget's amounts stay


def test_forget_asks_what_to_erase(shell):
    error = run(shell, "%chat forget", expect=UsageError)
    assert "-c NAME, --all or --before DATE" in str(error)


def test_the_log_turned_off_writes_nothing(shell, magics, private_log):
    magics.log_path = ""
    run(shell, "%%chat\n[[echo]] nothing written")
    assert not list(private_log.rglob("*.db*"))
    error = run(shell, "%chat log", expect=UsageError)
    assert "the log is off" in str(error)


def test_the_log_commands_are_in_the_help(shell):
    usage = repr(run(shell, "%chat").result)
    for command in ("%chat resume", "%chat log", "%chat search TEXT", "%chat forget"):
        assert command in usage


@pytest.mark.parametrize("mode", ["unwritable"])
def test_a_failing_log_never_breaks_chat_and_says_so_once(shell, magics, tmp_path, capsys, mode):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    magics.log_path = str(blocked / "history.db")
    run(shell, "%%chat\n[[echo]] still answered")
    run(shell, "%%chat\n[[echo]] again")
    out = capsys.readouterr().out
    assert "still answered" in out and "again" in out
    assert out.count(str(blocked / "history.db")) == 1


def test_a_daily_budget_counts_every_kernel_and_outlasts_restart_and_reset(shell, server, magics):
    from oai_magic.store import Log

    magics.daily_budget_usd = 0.01
    run(shell, "%%chat\n[[echo]] within budget")
    Log(kernel="another-kernel").record_usage({"prompt_tokens": 1}, "gpt-4o-mini", "x", 0.02)
    error = run(shell, "%%chat\n[[echo]] over", expect=UsageError)
    assert str(error).startswith("Daily budget reached:") and "every kernel" in str(error)
    run(shell, "%oai usage --reset")
    assert "Daily budget reached" in str(run(shell, "%%chat\n[[echo]] over", expect=UsageError))
    restart(shell, server)
    magics.daily_budget_usd = 0.01  # %config again, as a restarted kernel's config would
    assert "Daily budget reached" in str(run(shell, "%%chat\n[[echo]] over", expect=UsageError))
    run(shell, "%oai budget --daily --clear")
    run(shell, "%%chat\n[[echo]] allowed again")
    magics.daily_budget_usd = None


def test_oai_usage_shows_today_and_this_notebook_from_the_log(shell, server, capsys):
    from oai_magic.ui.usage import usage_report

    run(shell, "%%chat\n[[echo]] counted")
    restart(shell, server)
    report = repr(usage_report(session_of(shell)))
    assert "today by every kernel" in report and "in this notebook (terminal)" in report


def test_a_key_echoing_server_leaves_no_key_bytes_in_the_log(shell):
    from .hostile_server import HostileServer

    server = HostileServer().start()
    try:
        session_of(shell).settings.base_url = server.base_url("key_everywhere")
        run(shell, f"%%chat\nhello {TEST_KEY}")
        session_of(shell).settings.base_url = server.base_url("stream_error_key")
        run(shell, "%%chat\nhello", expect=UsageError)
    finally:
        server.stop()
    session_of(shell).log.close()
    data = b"".join(p.read_bytes() for p in default_log_path().parent.glob("history.db*"))
    assert data and b"Partial answer" in data
    for start in range(len(TEST_KEY) - 11):
        assert TEST_KEY[start:start + 12].encode() not in data


def test_a_rerun_cell_replaces_its_turn_in_process(shell, capsys):
    shell.run_cell("%%chat -c notes\n[[echo]] first", cell_id="c1")
    shell.run_cell("%%chat -c notes\n[[echo]] again", cell_id="c1")
    assert "replaced this cell's earlier answer in 'notes'" in capsys.readouterr().out
    shell.run_cell("%%chat -c notes\n[[echo]] no id")
    thread = session_of(shell).conversations["notes"]
    assert [m.content for m in thread.messages if m.role == "user"] == [
        "[[echo]] again", "[[echo]] no id"]
    assert [s for (s,) in rows("SELECT status FROM turns ORDER BY id")] == [
        "replaced", "committed", "committed"]


def test_the_final_display_carries_provenance_and_never_the_key(shell, notebook, magics):
    magics.display_mode = "auto"
    run(shell, "%%chat -c notes\n[[echo]] where from")
    finals = [m for m in notebook.messages if m.get("metadata", {}).get("oai_magic")]
    assert finals, notebook.messages
    made = finals[-1]["metadata"]["oai_magic"]
    assert made["conversation"] == "notes" and made["model"] and made["request_id"]
    assert made["finish_reason"] == "stop" and made["usage"] and made["version"]
    assert TEST_KEY[:12] not in str(finals)


def test_batch_status_and_results_find_the_last_batch_after_a_restart(shell, server):
    shell.user_ns["xs"] = ["[[echo]] kept", "[[echo]] too"]
    server.batches.batch_seconds = 0.0
    run(shell, "%%chat --map xs --batch -o job\n{item}")
    batch_id = shell.user_ns["job"].id
    restart(shell, server)
    job = run(shell, "%chat batch status").result
    assert job.id == batch_id
    assert shell.run_line_magic("chat", "batch results").texts == ["kept", "too"]


def test_map_items_are_logged_and_resume_after_a_crash_sends_only_the_rest(shell, server):
    from oai_magic.practice import Scripted

    bad = b'{"error": {"message": "no", "type": "invalid_request_error", "code": "nope"}}'
    server.script("/chat/completions", Scripted(400, {}, bad))
    shell.user_ns["xs"] = ["[[echo]] a", "[[echo]] b", "[[echo]] c"]
    run(shell, "%%chat --map xs --concurrency 1 -o out\n{item}")
    assert shell.user_ns["out"].texts == [None, "b", "c"]
    restart(shell, server)
    del shell.user_ns["out"]  # what the crash took
    server.requests.clear()
    assert run(shell, "%%chat --map xs --concurrency 1 -o out --resume\n{item}").success
    assert [r.json["messages"][-1]["content"] for r in server.requests] == ["[[echo]] a"]
    assert shell.user_ns["out"].texts == ["a", "b", "c"]


def test_resume_without_out_or_log_items_says_so(shell):
    shell.user_ns["xs"] = ["[[echo]] a"]
    shell.user_ns.pop("gone", None)
    error = run(shell, "%%chat --map xs -o gone --resume\n{item}", expect=UsageError)
    assert "the log has no finished item of this job" in str(error)
