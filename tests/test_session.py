"""oai_magic.Session: the Python API the magics and the panel are faces of (issue 23)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import oai_magic
from oai_magic.core.events import View
from oai_magic.core.session import Session
from oai_magic.errors import InputError
from oai_magic.events import Begin, Done, TextDelta, ToolResult, Usage

from .conftest import TEST_KEY, run

ROOT = Path(__file__).resolve().parent.parent


def standalone(server) -> Session:
    return Session(api_key=TEST_KEY, base_url=server.base_url, model="gpt-4o-mini")


def test_a_plain_python_session_streams_without_ipython_or_widgets(server):
    script = textwrap.dedent(f"""
        import json, sys
        import oai_magic
        from oai_magic.events import TextDelta
        s = oai_magic.Session(api_key={TEST_KEY!r}, base_url={server.base_url!r}, model="gpt-4o-mini")
        run = s.chat("[[echo]] from a script", conversation="notes")
        pieces = [e.text for e in run if isinstance(e, TextDelta)]
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("IPython", "ipywidgets", "anywidget", "traitlets"))
        print(json.dumps({{"pieces": pieces, "text": run.result().text, "loaded": loaded,
                          "messages": len(s.conversations["notes"].messages),
                          "requests": s.usage().total.requests}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=ROOT, timeout=60)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "".join(seen["pieces"]) == seen["text"] == "from a script"
    assert seen["loaded"] == []
    assert seen["messages"] == 2 and seen["requests"] == 1


def test_the_events_add_up_to_the_result_for_every_choice(server):
    s = standalone(server)
    run_ = s.chat("[[tokens=40]] tell me", n=3, seed=1)
    events = list(run_)
    result = run_.result()
    assert isinstance(events[0], Begin) and isinstance(events[-1], Done)
    assert events[-1].result is result
    for choice in result.choices:
        streamed = "".join(e.text for e in events if isinstance(e, TextDelta) and e.choice == choice.index)
        assert streamed == choice.text
    assert "".join(e.text for e in events if isinstance(e, TextDelta) and e.choice == 0) == result.text
    assert any(isinstance(e, Usage) and e.usage == result.usage for e in events)


def test_a_run_is_lazy_and_a_refused_option_sends_and_changes_nothing(server):
    s = standalone(server)
    s.chat("never sent")  # never iterated: nothing goes out
    with pytest.raises(InputError, match="--temperature must be between 0 and 2, got 5"):
        s.chat("hi", conversation="c", new=True, system="S", temperature=5)
    with pytest.raises(InputError, match="did you mean max_tokens"):
        s.chat("hi", max_token=5)
    with pytest.raises(InputError, match="no MCP server named 'files'"):
        s.chat("hi", tools=["mcp:files/read"])
    assert server.requests == [] and dict(s.conversations) == {}
    result = s.chat("[[echo]] now", conversation="c", system="Be brief.").result()
    assert result.text == "now" and s.conversations["c"].system == "Be brief."
    assert len(server.requests) == 1


def test_stop_keeps_the_partial_answer_and_an_abandoned_run_is_recorded_before_the_next(server):
    s = standalone(server)
    server.token_delay = 0.01
    run_ = s.chat("[[tokens=400]] long", conversation="c")
    for event in run_:
        if isinstance(event, TextDelta):
            break
    run_.stop()
    stopped = run_.result()
    assert stopped.interrupted and stopped.text
    assert s.conversations["c"].messages[-1].partial
    abandoned = s.chat("[[tokens=400]] again", conversation="c")
    next(e for e in abandoned if isinstance(e, TextDelta))  # read a little, then walk away
    server.token_delay = 0.0
    s.chat("[[echo]] next", conversation="c").result()
    roles = [(m.role, m.partial) for m in s.conversations["c"].messages]
    assert roles == [("user", False), ("assistant", True), ("user", False), ("assistant", True),
                     ("user", False), ("assistant", False)]


def test_map_over_a_list_gives_a_map_result(server):
    s = standalone(server)
    result = s.map("[[echo]] item {item}", ["a", "b", "c"], concurrency=2).result()
    assert result.texts == ["item a", "item b", "item c"]
    with pytest.raises(InputError, match="--concurrency must be between 1 and 64"):
        s.map("{item}", [1], concurrency=0)


def test_a_turn_from_the_api_shows_in_chat_history_and_in_the_panel(shell, server, panel, capsys):
    from .test_widget import shown

    p = panel()
    s = oai_magic.session()
    assert s is p.state and s is shell.magics_manager.registry["OAIMagics"].state
    s.chat("[[echo]] said from Python").result()
    capsys.readouterr()
    run(shell, "%chat history")
    assert "said from Python" in capsys.readouterr().out
    assert "said from Python" in shown(p.transcript)
    run(shell, "%%chat\n[[echo]] and from a cell")
    assert [m.content for m in s.conversations["default"].messages] == [
        "[[echo]] said from Python", "said from Python", "[[echo]] and from a cell", "and from a cell"]


def test_usage_is_what_oai_usage_shows(shell, server, capsys):
    s = oai_magic.session()
    s.chat("[[echo]] count me").result()
    run(shell, "%oai usage")
    shown = capsys.readouterr().out
    total = s.usage().total
    assert total.requests == 1
    assert f"requests 1, prompt {total.prompt}, cached 0, completion {total.completion}" in shown


def test_practice_export_and_load_are_session_methods(tmp_path):
    s = Session(base_url="http://127.0.0.1:9/v1")
    url = s.start_practice(delay_s=0)
    try:
        assert s.settings.base_url == url and s.practice_server is not None
        assert s.chat("[[echo]] offline", conversation="p").result().text == "offline"
        assert s.export(str(tmp_path / "p.json"), conversation="p") == 0
        s.load(str(tmp_path / "p.json"), conversation="copy")
        assert [m.content for m in s.conversations["copy"].messages] == ["[[echo]] offline", "offline"]
    finally:
        assert "stopped" in s.stop_practice()
    assert s.settings.base_url == "http://127.0.0.1:9/v1" and s.practice_server is None


def test_batch_submits_a_job_whose_results_are_a_map_result(server):
    s = standalone(server)
    server.batches.batch_seconds = 0.0
    job = s.batch("[[echo]] {item}", ["x", "y"])
    job.wait()
    assert job.results().texts == ["x", "y"]
    assert s.usage().total.requests == 2  # a batch's usage reaches the totals once


@dataclass
class City:
    name: str
    population: int


def planet_facts(name: str) -> dict:
    """Facts about a planet."""
    return {"name": name, "day_hours": 24.7}


def test_schema_and_tools_work_from_python(server):
    s = standalone(server)
    city = s.chat("Give me a city", schema=City).result()
    assert isinstance(city.parsed, City) and city.schema_problem is None
    run_ = s.chat("facts about mars", tools=[planet_facts], auto_tools=True, conversation="t")
    events = list(run_)
    [outcome] = [e.outcome for e in events if isinstance(e, ToolResult)]
    assert outcome.value == {"name": outcome.arguments["name"], "day_hours": 24.7}
    assert '"day_hours": 24.7' in run_.result().text
    assert [m.role for m in s.conversations["t"].messages] == ["user", "assistant", "tool", "assistant"]


def test_a_run_can_be_awaited_and_read_with_async_for(server):
    import asyncio

    s = standalone(server)

    async def main():
        pieces = [e.text async for e in s.chat("[[echo]] async hello", conversation="a")
                  if isinstance(e, TextDelta)]
        result = await s.chat("[[echo]] awaited", conversation="a")
        return "".join(pieces), result.text

    assert asyncio.run(main()) == ("async hello", "awaited")
    assert len(s.conversations["a"].messages) == 4


def test_conversations_are_read_only_to_callers(server):
    s = standalone(server)
    s.chat("[[echo]] keep me", conversation="c").result()
    with pytest.raises(TypeError):
        s.conversations["other"] = None
    s.conversations["c"].messages[1].content = "changed by a caller"
    s.conversations["c"].messages.clear()
    assert [m.content for m in s.conversations["c"].messages] == ["[[echo]] keep me", "keep me"]


def test_settings_from_python_are_checked_like_config():
    s = Session(render_interval=0.1, display_mode="PLAIN")
    assert s.settings.render_interval == 0.1 and s.settings.display_mode == "plain"
    for bad, message in [({"render_interval": "fast"}, "render_interval takes float"),
                         ({"display_mode": "fancy"}, "one of auto, rich, plain"),
                         ({"modle": "x"}, "did you mean model"),
                         ({"prices": {"m": 3}}, "must be a dict of prices")]:
        with pytest.raises(InputError, match=message):
            s.configure(model="changed", **bad)
        assert s.settings.model == "gpt-4o-mini"  # nothing changed


def test_a_played_run_is_never_stopped_by_the_next_run_on_its_conversation(server):
    """The panel's thread and a cell may answer in one conversation at once (CONTRACTS 8)."""
    import threading

    s = standalone(server)
    server.token_delay = 0.005
    first = s.chat("[[tokens=200]] from the panel", conversation="c")
    streaming = threading.Event()

    class Seen(View):
        def delta(self, index, text):
            streaming.set()

    worker = threading.Thread(target=first.play, args=(Seen(),))
    worker.start()
    assert streaming.wait(10)
    second = s.chat("[[echo]] from a cell", conversation="c").result()
    worker.join(10)
    assert not first.result().interrupted and second.text == "from a cell"
    assert [m.partial for m in s.conversations["c"].messages] == [False] * 4
