"""The session writes the log and reads it back (issue 24): turns, operations, usage, resume,
%chat log / search / forget, the resume hint, and the log turned off."""

from __future__ import annotations

import sqlite3

import pytest
from IPython.core.error import UsageError

from oai_magic.core.session import reset_session, session_of
from oai_magic.store import default_log_path

from .conftest import TEST_KEY, run


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
