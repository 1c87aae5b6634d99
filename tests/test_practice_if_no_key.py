"""``%oai practice --if-no-key``: the first cell of every notebook, with and without a key."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from oai_magic.core.session import session_of
from oai_magic.state import Secret
from tests.conftest import TEST_KEY, run

PRACTICE_LINE = "Using the practice server: answers are PRACTICE OUTPUT, not a real model"


@pytest.fixture
def no_key(shell):
    """The shell with no key at all; any practice server it starts is stopped afterwards."""
    state = session_of(shell)
    state.settings.api_key = None
    state.settings.base_url = None
    yield shell
    run(shell, "%oai practice --stop")


def test_without_a_key_the_setup_starts_the_practice_server_and_says_answers_are_practice(
    no_key, capsys
):
    assert run(no_key, "%oai practice --if-no-key").success
    said = capsys.readouterr().out
    assert PRACTICE_LINE in said
    assert run(no_key, "%%chat -o r\nHello").success
    answer = no_key.user_ns["r"]
    assert answer.headers["x-oai-practice"] == "1"
    assert "\n— practice · gpt-4o-mini · " in capsys.readouterr().out  # the footer's badge


def test_a_base_url_without_a_key_still_practises_and_says_what_is_missing(
    no_key, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert run(no_key, "%oai practice --if-no-key").success
    said = capsys.readouterr().out
    assert PRACTICE_LINE in said
    assert "OPENAI_BASE_URL is set but no key: set OPENAI_API_KEY too" in said


def test_with_a_key_in_the_environment_the_setup_uses_the_configured_server(
    no_key, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert run(no_key, "%oai practice --if-no-key").success
    said = capsys.readouterr().out
    assert "Using http://127.0.0.1:9/v1 with your key sk-…abcd (from OPENAI_API_KEY)" in said
    assert TEST_KEY not in said
    assert session_of(no_key).practice_server is None


def test_a_key_set_after_practising_takes_over_when_the_setup_runs_again(no_key, capsys):
    run(no_key, "%oai practice --if-no-key")
    state = session_of(no_key)
    state.settings.api_key = Secret(TEST_KEY)  # what %oai key does after its hidden prompt
    assert run(no_key, "%oai practice --if-no-key").success
    said = capsys.readouterr().out.splitlines()[-1]
    assert said.startswith("Using https://api.openai.com/v1 with your key sk-…abcd (from session)")
    assert state.practice_server is None
    assert state.settings.resolved_base_url() == "https://api.openai.com/v1"


def test_running_the_setup_twice_keeps_one_practice_server(no_key):
    run(no_key, "%oai practice --if-no-key")
    first = session_of(no_key).practice_server
    run(no_key, "%oai practice --if-no-key --delay 0")
    assert session_of(no_key).practice_server is first
    assert first.token_delay == 0


def test_stopping_practice_forgets_the_practice_placeholder_key(no_key):
    run(no_key, "%oai practice --if-no-key")
    run(no_key, "%oai practice --stop")
    assert session_of(no_key).settings.resolved_key() is None


def test_stopping_practice_goes_back_to_the_base_url_set_before_it(no_key, capsys):
    """The stop message says "requests go to the configured base URL again": they must."""
    magics = no_key.magics_manager.registry["OAIMagics"]
    run(no_key, "%oai base-url http://127.0.0.1:9/v1")
    run(no_key, "%oai practice")
    assert session_of(no_key).settings.base_url != "http://127.0.0.1:9/v1"
    run(no_key, "%oai practice --stop")
    assert "configured base URL again" in capsys.readouterr().out
    assert session_of(no_key).settings.base_url == "http://127.0.0.1:9/v1"
    assert magics.base_url == "http://127.0.0.1:9/v1"


def test_a_base_url_set_while_practising_stays_after_the_stop(no_key):
    run(no_key, "%oai practice")
    run(no_key, "%oai base-url http://127.0.0.1:9/v1")
    run(no_key, "%oai practice --stop")
    assert session_of(no_key).settings.base_url == "http://127.0.0.1:9/v1"


def test_a_misspelt_practice_option_is_one_line_error(no_key):
    error = run(no_key, "%oai practice --if-no-keys", expect=UsageError)
    assert "usage: %oai practice [--delay SECONDS] [--if-no-key]" in str(error)
