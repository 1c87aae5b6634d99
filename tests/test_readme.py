"""The README's examples run as written, against the practice server.

Blocks meant to run are marked with ``<!-- runs under test: tests/test_readme.py -->`` on the line
before them; each block is one cell, run in order in one shell, in a work folder as oai-magic-quickstart makes.
Blocks that cannot run here (a hidden key prompt, configuration files, shell commands, the panel,
which needs a notebook) stay unmarked, and a test checks that nothing runnable was left unmarked.
"""

from __future__ import annotations

import builtins
import json
import re
from pathlib import Path

from .conftest import run

ROOT = Path(__file__).resolve().parent.parent
MARK = "<!-- runs under test: tests/test_readme.py -->"
FENCE = re.compile(r"^(<!-- [^\n]*-->\n)?```([^\n]*)\n(.*?)^```$", re.M | re.S)


def blocks():
    """(marked?, info string, source) of every fenced block in the README, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(bool(m.group(1)) and MARK in m.group(1), m.group(2), m.group(3)) for m in FENCE.finditer(text)]


def failing_on_purpose():
    """Sources of the marked blocks whose marker adds ``<!-- fails on purpose -->`` (an error to fix)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m.group(3) for m in FENCE.finditer(text) if m.group(1) and "fails on purpose" in m.group(1)}


def test_every_runnable_looking_block_is_marked():
    # a ```text block (the layout tree) is prose, not code
    unmarked = [source for marked, info, source in blocks() if not marked and info != "text"]
    for source in unmarked:
        cannot_run_here = ("c.InteractiveShellApp", "c.OAIMagics", "InteractiveShellApp", "pip install",
                           "%chat_panel")
        assert any(word in source for word in cannot_run_here), f"unmarked block that could run:\n{source}"
    assert sum(marked for marked, _, _ in blocks()) >= 7


def test_the_readme_examples_run_as_written(shell, server, monkeypatch, capsys, tmp_path):
    """In the work folder the README's first command makes (its data/ beside the notebooks)."""
    from oai_magic.cli import quickstart

    quickstart.copy_notebooks(quickstart.shipped_notebooks(), tmp_path)
    monkeypatch.chdir(tmp_path)
    asked = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": asked.append(prompt) or "y")
    for marked, _, source in blocks():
        if not marked:
            continue
        if source in failing_on_purpose():  # the README's error to fix with %chat fix
            run(shell, source, expect=ZeroDivisionError)
            continue
        run(shell, source)
    out = capsys.readouterr().out
    chats = [r.json for r in server.requests if r.path.endswith("/chat/completions")]
    first = chats[0]["messages"]
    assert first[0] == {"role": "system", "content": "You are a patient physics tutor."}
    assert first[-1]["content"] == "Explain the photoelectric effect with one formula and a small table."
    assert shell.user_ns["takes"].choices[2].text
    fixes = [b for b in chats if "ZeroDivisionError: division by zero" in json.dumps(b["messages"][-1])]
    assert fixes and "corrected version" in fixes[0]["messages"][-1]["content"][0]["text"]
    with_image = [b for b in chats if "data:image/png;base64," in json.dumps(b["messages"][-1])]
    assert with_image and with_image[0]["messages"][-1]["content"][0]["text"].startswith("Context:")
    assert asked and "planet_facts" in asked[0]
    tool_results = [m for body in chats for m in body["messages"] if m.get("role") == "tool"]
    assert '"day_hours": 24.7' in tool_results[0]["content"]  # the tool ran, not `...` → null
    transcripts = [r for r in server.requests if "/audio/" in r.path]
    assert len(transcripts) >= 6
    assert shell.user_ns["t"].words and "[practice transcript]" in out
    assert shell.user_ns["t"].text
    lab = [m.role for m in shell.user_ns["s"].conversations["lab"].messages]  # the Python API section
    assert lab == ["user", "assistant", "user", "assistant"]
    assert shell.user_ns["grades"].done == 2
