"""One home per job (issue 23): one cost function, one footer, one yes/no prompt, one schema
converter, one help text; and the four defects the copies caused, each shown as a user meets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from oai_magic.core import costs
from oai_magic.state import get_state

from .conftest import run

AUDIO = Path(__file__).parent / "fixtures" / "hello.wav"


def magics(shell):
    return shell.magics_manager.registry["OAIMagics"]


# --- the four defects ----------------------------------------------------------------------


def test_config_prices_reach_map_results_and_their_summary(shell, server, capsys):
    magics(shell).prices = {"gpt-4.1": {"input": 2.0, "output": 8.0}}
    shell.user_ns["xs"] = ["one", "two"]
    assert run(shell, "%%chat --map xs -m gpt-4.1 -o out\n[[echo]] {item}").success
    out = shell.user_ns["out"]
    expected = sum(costs.estimate_cost(r.usage, "gpt-4.1", magics(shell).prices) for r in out)
    assert out.usage["cost_usd"] == pytest.approx(expected) and expected > 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "cost unknown" not in summary and "price unknown" not in summary
    assert costs.format_cost(expected) in summary


def test_a_batch_is_priced_at_the_batch_price_and_counted_in_oai_usage(shell, server, capsys):
    shell.user_ns["xs"] = ["[[echo]] one", "[[echo]] two words"]
    assert run(shell, "%%chat --map xs --batch -o job\n{item}").success
    assert run(shell, "%chat batch wait").success
    result = shell.run_line_magic("chat", "batch results")
    full = sum(costs.estimate_cost(r.usage, r.model) for r in result)
    assert result.usage["cost_usd"] == pytest.approx(full / 2) and full > 0
    ledger = costs.ledger_of(get_state(shell))
    assert ledger.total.requests == 2
    assert ledger.total.cost == pytest.approx(full / 2)
    shell.run_line_magic("chat", "batch results")  # fetched again: not counted twice
    assert ledger.total.requests == 2
    capsys.readouterr()
    run(shell, "%oai usage")
    assert "total: requests 2" in capsys.readouterr().out


def test_a_transcript_from_the_practice_server_has_the_practice_badge(shell, server, capsys):
    assert run(shell, f"%transcribe {AUDIO} -o t").success
    footer = capsys.readouterr().out.strip().splitlines()[-1]
    assert footer.startswith("— practice · ")


def test_chat_alone_lists_every_command_batch_included(shell):
    listed = repr(shell.run_line_magic("chat", ""))
    for command in ("list", "history", "reset", "undo", "system", "export", "load", "pick",
                    "fix", "batch"):
        assert f"%chat {command}" in listed, command
