"""Browse and forget (issue 24): recent turns, search in any script, and erasing for real."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

from oai_magic.history import Message
from oai_magic.store import Log, browse


def ask(log: Log, conversation: str, prompt: str, answer: str) -> int:
    turn = log.start_turn(conversation, [Message("user", prompt)], cell_id=f"cell-{prompt[:3]}")
    turn.commit([Message("assistant", answer)])
    log.record_usage({"prompt_tokens": 10, "completion_tokens": 2}, "m", conversation, 0.5, turn=turn)
    return turn.id


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_recent_turns_are_newest_first_for_this_notebook():
    here, there = Log(notebook="a.ipynb"), Log(notebook="b.ipynb")
    for n in range(5):
        ask(here, "default" if n % 2 else "work", f"question {n}", f"answer {n}")
    ask(there, "default", "elsewhere", "there")
    assert [t.prompt for t in here.recent(3)] == ["question 4", "question 3", "question 2"]
    assert [t.prompt for t in here.recent(conversation="default")] == ["question 3", "question 1"]
    assert [t.prompt for t in here.recent(2, all_notebooks=True)] == ["elsewhere", "question 4"]
    first = here.recent(1)[0]
    assert (first.conversation, first.cell_id, first.status, first.partial) == (
        "work", "cell-que", "committed", False)


def test_search_finds_chinese_japanese_and_russian_words():
    log = Log(notebook="nb")
    ask(log, "default", "日本語の文章を要約してください", "東京は日本の首都です。")
    ask(log, "default", "用中文解释一下", "机器学习是人工智能的一个分支。")
    ask(log, "default", "Объясни градиентный спуск", "Градиентный спуск ищет минимум.")
    ask(log, "default", "What is 100% of 5_000?", "5_000")
    assert log.full_text  # this SQLite has FTS5 with trigrams
    assert [t.answer for t in log.search("日本の首都")] == ["東京は日本の首都です。"]
    assert [t.prompt for t in log.search("中文")] == ["用中文解释一下"]  # two characters: LIKE
    assert [t.prompt for t in log.search("人工智能")] == ["用中文解释一下"]
    assert [t.prompt for t in log.search("градиентный")] == ["Объясни градиентный спуск"]
    assert [t.prompt for t in log.search("100%")] == ["What is 100% of 5_000?"]
    assert [t.prompt for t in log.search('"quoted" AND NOT')] == []
    assert log.search("   ") == []


def test_search_without_full_text_uses_like_with_the_same_results():
    log = Log(notebook="nb")
    ask(log, "default", "用中文解释一下", "机器学习是人工智能的一个分支。")
    ask(log, "default", "What is 100% of 5_000?", "5_000")
    ask(log, "default", "What is 100 of 5000?", "5000")
    db = sqlite3.connect(log.path)
    for text in ("人工智能", "中文", "100%", "5_0", "WHAT IS"):
        with_index = [t.id for t in browse.search(db, text, 10, None, True)]
        assert [t.id for t in browse.search(db, text, 10, None, False)] == with_index, text
    assert len(browse.search(db, "5_0", 10, None, False)) == 1  # "_" is not a wildcard


def test_forget_a_conversation_erases_its_bytes_and_keeps_the_amounts():
    log = Log(notebook="nb")
    ask(log, "secret-plans", "UNIQUEPROMPTMARKER tell no one", "UNIQUEANSWERMARKER kept quiet")
    log.log_operation("secret-plans", "system", text="UNIQUESYSTEMMARKER")
    ask(log, "default", "an ordinary question", "an ordinary answer")
    spent = log.spent_today()
    forgotten = log.forget(conversation="secret-plans")
    assert forgotten.turns == 1 and forgotten.complete
    stored = file_bytes(log.path)
    for marker in (b"UNIQUEPROMPTMARKER", b"UNIQUEANSWERMARKER", b"UNIQUESYSTEMMARKER", b"secret-plans"):
        assert marker not in stored, marker
    assert log.search("MARKER") == [] and log.search("ordinary")[0].conversation == "default"
    assert log.spent_today() == spent and log.spent_in_notebook() == spent
    assert [r.conversation.name for r in Log(log.path, notebook="nb").rebuild()] == ["default"]


def test_forget_everything_and_before_a_date():
    today = Log(notebook="a.ipynb")
    old = Log(notebook="b.ipynb", now=lambda: datetime.datetime(2020, 1, 1).timestamp())
    ask(old, "default", "from 2020", "old answer")
    old.log_batch(["batch_old"], 1)
    ask(today, "default", "from today", "new answer")
    today.log_batch(["batch_new"], 1)
    cut = datetime.datetime(2021, 1, 1).timestamp()
    assert today.forget(all_notebooks=True, before=cut).turns == 1
    assert [t.prompt for t in today.recent(all_notebooks=True)] == ["from today"]
    assert old.last_batch() is None and today.last_batch()["batch_ids"] == ["batch_new"]
    assert today.forget(all_notebooks=True).turns == 1
    assert today.recent(all_notebooks=True) == [] and b"from today" not in file_bytes(today.path)
    assert today.spent_today() == 0.5  # the ledger keeps its amounts


def test_forget_keeps_an_image_another_turn_still_sends(tmp_path):
    url = "data:image/png;base64,iVBORw0KGgo="
    parts = [{"type": "image_url", "image_url": {"url": url}}]
    log = Log(notebook="nb")
    for name in ("one", "two"):
        log.start_turn(name, [Message("user", parts)]).commit([Message("assistant", "ok")])
    log.forget(conversation="one")
    (resumed,) = Log(log.path, notebook="nb").rebuild()
    assert resumed.conversation.messages[0].content == parts
    log.forget(conversation="two")
    assert sqlite3.connect(log.path).execute("SELECT count(*) FROM blobs").fetchone() == (0,)
