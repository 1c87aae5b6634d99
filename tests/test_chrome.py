"""One home for each display job (render/chrome.py): every view shows the same footer, marks,
notices and JSON text, and no view keeps a copy of its own."""

from __future__ import annotations

import re
from pathlib import Path

from oai_magic.core.results import ChatResult, Choice
from oai_magic.render.chrome import (
    choice_mark,
    footer_parts,
    footer_text,
    json_final_text,
    result_mark,
)

from .conftest import run
from .recording import Notebook

PACKAGE = Path(__file__).resolve().parent.parent / "oai_magic"


def test_the_notebook_chat_plain_text_ends_with_the_same_footer_line_as_every_view(shell, server, capsys):
    with Notebook(shell) as publisher:
        run(shell, "%%chat -o r\n[[echo]] Hello there")
    plain = publisher.messages[-1]["data"]["text/plain"]
    footer = footer_text(footer_parts(shell.user_ns["r"]))
    assert footer.startswith("— ") and " · " in footer
    assert plain.splitlines()[-1] == footer  # it lacked the "— " the other views have

    with Notebook(shell) as publisher:
        run(shell, "%%chat -N 2 -o r\n[[echo]] Hello there")
    assert publisher.messages[-1]["data"]["text/plain"].splitlines()[-1] == footer_text(
        footer_parts(shell.user_ns["r"]))

    capsys.readouterr()
    run(shell, "%%chat -o r\n[[echo]] Hello there")  # a terminal
    assert capsys.readouterr().out.splitlines()[-1] == footer_text(footer_parts(shell.user_ns["r"]))


def test_a_choice_and_a_whole_answer_get_the_same_mark_for_the_same_ending():
    for reason in ("length", "content_filter"):
        choice = Choice(index=0, text="x", finish_reason=reason)
        result = ChatResult(text="x", finish_reason=reason, choices=[choice])
        assert result_mark(result) == choice_mark(choice) and result_mark(result).startswith("⚠")
    refused = Choice(index=0, text="", refusal="no")
    assert result_mark(ChatResult(choices=[refused])) == choice_mark(refused) == "⚠ the model refused"
    assert result_mark(ChatResult(text="x", error="reset\n by  peer")) == "⚠ cut off: reset by peer"


def test_json_text_is_pretty_only_for_a_complete_json_answer():
    assert json_final_text('{"a": 1}', json_mode=True, partial=False) == '```json\n{\n  "a": 1\n}\n```'
    assert json_final_text('{"a": 1}', json_mode=True, partial=True) is None
    assert json_final_text('{"a": 1}', json_mode=False, partial=False) is None
    assert json_final_text("not json", json_mode=True, partial=False) is None


def test_no_view_keeps_its_own_copy_of_the_chrome():
    """Footers, marks, notices and JSON text are made in render/chrome.py only."""
    copies = re.compile(r"oai-(?:footer|mark|notice)\b|\"— \"|⚠ cut off|json\.dumps\(|"
                        r"finish_reason: length|x-ratelimit")
    found = []
    for path in sorted((PACKAGE / "ui").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if copies.search(line):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
