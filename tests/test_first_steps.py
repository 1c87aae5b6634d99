"""What a newcomer types first: a prompt on the magic line, an empty cell, %chat alone, %%chat?,
a misspelt option, %chat_panel in a terminal. Each gets one line that says what to do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

from oai_magic.core.session import session_of

from .conftest import run


def terminal_env(home, **extra):
    """A bare environment for a terminal IPython, importing this tree (not the installed one)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), **extra}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


PROMPT_BELOW = "put the prompt on the lines below %%chat (options stay on the first line)"


@pytest.mark.parametrize("cell", [
    "%%chat What is 2+2?",
    "%%chat What is 2+2?\n\n   \n",
    "%%chat",
    "%%chat -m gpt-4o\n",
])
def test_a_chat_cell_with_no_prompt_below_says_where_the_prompt_goes(shell, server, capsys, cell):
    error = run(shell, cell, expect=UsageError)
    captured = capsys.readouterr()
    assert str(error) == f"%%chat: {PROMPT_BELOW}."
    assert "cell body is empty" not in captured.err and "Did you mean" not in captured.err
    assert captured.err.count(PROMPT_BELOW) == 1
    assert server.requests == []


def test_words_on_the_magic_line_above_a_prompt_say_where_the_prompt_goes(shell, server):
    error = run(shell, "%%chat Explain this\nmore text", expect=UsageError)
    assert str(error) == f"%%chat: 'Explain this' is not an option: {PROMPT_BELOW}."
    assert server.requests == []


def test_following_ipythons_advice_to_use_the_line_magic_leads_back_to_the_cell_magic(shell, server):
    error = run(shell, "%chat What is 2+2?", expect=UsageError)
    assert str(error) == f"'What' is not a %chat command: to ask the model, {PROMPT_BELOW}."


def test_the_help_for_the_cell_magic_names_it_and_has_no_stray_markup(shell):
    magics = shell.magics_manager.registry["OAIMagics"]
    assert magics.chat.__doc__.startswith("usage: %%chat [-m MODEL]")
    assert magics.transcribe.__doc__.startswith("usage: %transcribe ")
    assert "::" not in magics.chat.__doc__.split("\n")[0]


def test_the_help_of_oai_and_of_the_chat_commands_is_generated_like_every_magics(shell):
    """%oai? and %chat? start with a usage line made by the same parser machinery as %%chat?."""
    magics = shell.magics_manager.registry["OAIMagics"]
    oai, commands = magics.oai.__doc__, magics.chat_line.__doc__
    assert oai.startswith("usage: %oai [COMMAND] [WORD ...]")
    assert commands.startswith("usage: %chat [COMMAND] [WORD ...]")
    assert "%oai usage [--reset]" in oai and "%chat batch status|wait|results|cancel" in commands
    assert "::" not in oai + commands


def test_a_misspelt_option_gets_the_closest_one(shell, server):
    error = run(shell, "%%chat --temprature 0.5\nhello", expect=UsageError)
    assert str(error) == "%%chat: unknown option --temprature: did you mean --temperature?"
    error = run(shell, "%transcribe --langauge en a.wav", expect=UsageError)
    assert str(error) == "%transcribe: unknown option --langauge: did you mean --language?"
    assert server.requests == []


def test_chat_alone_lists_the_commands_and_an_empty_list_says_so(shell):
    shown = repr(run(shell, "%chat").result)
    assert "%chat list" in shown and "%chat undo [-c NAME]" in shown and "%%chat" in shown
    empty = repr(run(shell, "%chat list").result)
    assert empty == "No conversations yet: the first %%chat cell starts 'default' (-c NAME names another)."


def test_oai_model_without_a_name_shows_the_current_model(shell, capsys):
    assert run(shell, "%oai model").success
    assert capsys.readouterr().out.strip() == "model: gpt-4o-mini"
    assert session_of(shell).settings.model == "gpt-4o-mini"


def test_the_panel_in_a_terminal_says_it_needs_a_notebook(shell):
    error = run(shell, "%chat_panel", expect=UsageError)
    assert str(error).startswith("%chat_panel needs a notebook")


def test_terminal_ipython_says_where_the_prompt_goes(server, tmp_path):
    """Typed at the terminal, the cell ends with blank lines (two when piped, as for %%timeit):
    the words met the option parser."""
    typed = f"%load_ext oai_magic\n%oai base-url {server.base_url}\n%%chat What is 2+2?\n\n\n%chat_panel\nexit\n"
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor", "--simple-prompt"],
        input=typed, capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=terminal_env(tmp_path, OPENAI_API_KEY="sk-terminal-test-0000"),
    )
    output = done.stdout + done.stderr
    assert f"UsageError: %%chat: {PROMPT_BELOW}." in output
    assert "unrecognized arguments" not in output and "cell body is empty" not in output
    assert "%chat_panel needs a notebook" in output and "<ChatPanel" not in output
    assert server.requests == []


def test_the_demo_shows_its_help_and_speaks_shell_not_magics(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    shown = subprocess.run([sys.executable, "-m", "oai_magic.cli.demo", "--help"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: oai-magic-demo")
    assert "You wrote" not in shown.stdout
    done = subprocess.run([sys.executable, "-m", "oai_magic.cli.demo", "[[echo]] Hello", "demo"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Hello demo" in done.stdout and "offline practice server" in done.stdout
    assert "%oai" not in done.stdout


def test_no_glyphs_that_debians_default_fonts_lack():
    """⏹ and 🔧 showed as empty boxes with DejaVu; emoji outside the BMP likewise."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [*(root / "oai_magic").rglob("*.py"), *(root / "notebooks").glob("*.ipynb"), root / "README.md"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        bad = sorted({ch for ch in text if ch in "⏹🔧" or ord(ch) > 0xFFFF})
        assert not bad, f"{path.name}: {bad}"


def test_a_base_url_without_v1_gets_a_hint(shell, server):
    session_of(shell).settings.base_url = server.base_url[: -len("/v1")]
    error = run(shell, "%%chat\nhello", expect=UsageError)
    message = str(error)
    assert message.startswith("HTTP 404")
    assert message.endswith(f" — does the base URL need /v1? (it is {server.base_url[:-3]})")
    session_of(shell).settings.base_url = server.base_url
    error = run(shell, "%%chat -m no-such-model\nhello", expect=UsageError)
    assert "model" in str(error) and "/v1?" not in str(error)


def test_a_missing_audio_file_says_which_folder_was_searched(shell, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    error = run(shell, "%transcribe meeting.m4a", expect=UsageError)
    assert str(error) == f"no such file: 'meeting.m4a' (looked in {tmp_path})"
    assert server.requests == []


# --- issue 31: the first five minutes, again ------------------------------------------------


def test_terminal_ipython_waits_for_the_prompt_below_a_chat_line(shell):
    """IPython runs its cleanup transformers while checking a cell unless they declare side
    effects: ours made every ``%%chat`` first line "complete", so the prompt was never read."""
    checker = shell.input_transformer_manager
    assert checker.check_complete("%%chat -c term\n")[0] == "incomplete"
    assert checker.check_complete("%%chat -c term\nWhat is 2+2?\n")[0] == "incomplete"
    assert checker.check_complete("%%chat -c term\nWhat is 2+2?\n\n")[0] == "complete"


def test_a_chat_cell_typed_line_by_line_in_terminal_ipython_is_sent(server, tmp_path):
    typed = (f"%load_ext oai_magic\n%oai base-url {server.base_url}\n"
             "%%chat -c term\n[[echo]] Hello from a typed cell\n\n\nexit\n")
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor"],
        input=typed, capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=terminal_env(tmp_path, OPENAI_API_KEY="sk-terminal-test-0000"),
    )
    output = done.stdout + done.stderr
    assert "Hello from a typed cell" in output, output
    assert PROMPT_BELOW not in output and "SyntaxError" not in output and "NameError" not in output
    assert len(server.requests) == 1
