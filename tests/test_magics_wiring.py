"""The wiring between the magics and the kernel state: one table of settings, the client made by
the factory the magics hand in, a public reset, and no attribute added to the state from outside."""

from __future__ import annotations

import dataclasses

import pytest
from IPython.core.error import UsageError

import oai_magic
from oai_magic.core.session import Session, reset_session, session_of
from oai_magic.magics import SETTING_TRAITS, OAIMagics
from oai_magic.state import KernelState, Settings, configurable_settings, setting_default

from .conftest import run


def test_every_configurable_setting_is_a_trait_with_the_settings_default_and_help():
    traits = OAIMagics.class_traits(config=True)
    assert set(SETTING_TRAITS) == set(configurable_settings())
    defaults = Settings()
    for name, declared in configurable_settings().items():
        assert traits[name].default() == setting_default(name) == getattr(defaults, name), name
        assert traits[name].help == declared.metadata["help"], name
    assert "api_key" not in traits  # the key never comes from a config file


def test_every_trait_is_a_session_setting_and_config_changes_it(shell, server):
    """One table: no trait lives on the magics alone, and %config writes into the session."""
    traits = OAIMagics.class_traits(config=True)
    assert set(traits) == set(configurable_settings())
    session = oai_magic.session()
    changes = {"render_interval": 0.2, "max_tokens_param": "max_tokens", "history_max_messages": 7,
               "context_tokens": 4096, "transcribe_model": "gpt-4o-transcribe", "max_tool_rounds": 2,
               "max_tool_calls_per_round": 3, "max_context_chars": 100, "map_confirm_usd": 5.0,
               "display_mode": "plain", "extra_body": {"service_tier": "flex"},
               "prices": {"m": {"input": 1.0, "output": 2.0}}, "session_budget_usd": 3.0,
               "session_budget_tokens": 1000, "model": "other-model", "timeout": 9.0}
    try:
        for name, value in changes.items():
            run(shell, f"%config OAIMagics.{name} = {value!r}")
            assert getattr(session.settings, name) == value, name
        session.configure(max_tool_rounds=4)  # and back: the trait follows the session
        assert shell.magics_manager.registry["OAIMagics"].max_tool_rounds == 4
    finally:
        for name in changes:
            setattr(shell.magics_manager.registry["OAIMagics"], name, setting_default(name))


def test_the_state_makes_one_client_per_settings_object_with_the_factory_it_was_given():
    made = []

    def factory(settings):
        made.append(settings)
        return object()

    state = KernelState(client_factory=factory)
    first = state.client()
    assert state.client() is first and made == [state.settings]
    state.settings.model = "other"  # a changed field: the same client reads it per request
    assert state.client() is first
    state.settings = Settings()
    assert state.client() is not first and made[-1] is state.settings


def test_a_state_without_a_client_factory_says_how_to_get_one():
    try:
        KernelState().client()
    except RuntimeError as exc:
        assert "client_factory" in str(exc) and "%load_ext oai_magic" in str(exc)
    else:
        raise AssertionError("a state without a factory made a client")


def test_the_magics_hand_the_state_its_client_factory(shell, server):
    magics = shell.magics_manager.registry["OAIMagics"]
    assert magics.client is session_of(shell).client()
    assert magics.client.list_models().data  # a real request to the practice server


def test_reset_state_starts_a_fresh_session_on_the_same_object_and_keeps_the_wiring(shell, server):
    state = session_of(shell)
    assert run(shell, "%%chat\n[[echo]] hi").success
    client, lock = state.client(), state.lock
    assert state.conversations and state.last_headers
    fresh = reset_session(shell)
    assert fresh is state and fresh.client_factory is not None and fresh.lock is lock
    assert fresh.conversations == {} and fresh.last_headers == {} and fresh.last_error is None
    assert fresh.settings == Settings() and fresh.client() is not client


def test_nothing_adds_attributes_to_the_state_from_outside(shell, server):
    state = session_of(shell)
    declared = set(vars(Session()))
    for cell in ("%%chat -o r\n[[echo]] hi", "%oai", "%oai models", "%chat history",
                 "%%chat -N 2\nhello", "%oai usage"):
        run(shell, cell)
    assert set(vars(state)) <= declared, set(vars(state)) - declared


def test_settings_keep_their_field_order_for_positional_use():
    names = [f.name for f in dataclasses.fields(Settings)]
    assert names[:4] == ["api_key", "organization", "project", "base_url"]


# --- parse, validate everything, then change state --------------------------------------------

REFUSED_AFTER_CONTEXT = [
    "%%chat --context data -t 5\nhi",  # a sampling value out of range
    "%%chat --context data --param messages=1\nhi",  # a refused request field
    "%%chat --context data --logit-bias nonsense\nhi",  # unreadable JSON
    "%%chat --context data --schema missing\nhi",  # no such variable
    "%%chat -c notes --new --context data --top-p 2\nhi",
    "%%chat --context data --tools no_such_function\nhi",  # a tool that is not defined
]


@pytest.mark.parametrize("cell", REFUSED_AFTER_CONTEXT)
def test_a_cell_refused_after_its_context_was_read_changes_no_state(shell, server, cell):
    shell.user_ns["data"] = {"a": 1}
    state = session_of(shell)
    run(shell, cell, expect=UsageError)
    assert state.context_notices == []  # no "sent: data" left for the next request to show
    assert state.conversations == {} and server.requests == []


def test_a_refused_cell_leaves_no_notice_for_the_next_answer(shell, server):
    shell.user_ns["data"] = {"a": 1}
    run(shell, "%%chat --context data -t 5\nhi", expect=UsageError)
    result = run(shell, "%%chat -o r\n[[echo]] plain question")
    assert result.success
    assert not any("data" in notice for notice in shell.user_ns["r"].notices)


def test_chat_fix_refused_by_the_budget_leaves_no_notice(shell, server):
    magics = shell.magics_manager.registry["OAIMagics"]
    run(shell, "1/0", expect=ZeroDivisionError)
    magics.session_budget_tokens = 0
    try:
        run(shell, "%chat fix", expect=UsageError)
        assert session_of(shell).context_notices == []
    finally:
        magics.session_budget_tokens = None


@pytest.mark.parametrize("line", ["%chat fix -c 'open", "%chat batch status 'open"])
def test_an_unclosed_quote_on_a_chat_command_is_one_line(shell, server, line):
    run(shell, "1/0", expect=ZeroDivisionError)
    error = run(shell, line, expect=UsageError)
    assert str(error).startswith("Could not read the options: No closing quotation")
    assert server.requests == []
