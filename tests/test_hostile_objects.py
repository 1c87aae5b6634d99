"""Issue 25, class 8: user objects give one line naming them, never a traceback.

An object whose ``__str__``, ``__repr__``, ``__len__`` or ``__getattr__`` raises or recurses, a
DataFrame-like whose ``.head`` raises, in ``{var}``, ``--context``, ``--image`` and ``{item}``;
``--image /proc/self/mem``; a ``--map`` generator that raises midway; tools that exit, print
without end or return what cannot be repr'd; files loaded back that lie about their counts.
"""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from oai_magic.core.mapping import MAP_FORMAT, MapResult
from oai_magic.errors import InputError
from oai_magic.state import get_state

from .conftest import run


class RaisingStr:
    def __str__(self):
        raise RuntimeError("no text today")

    __repr__ = __str__


class RecursingStr:
    def __str__(self):
        return str(self)

    __repr__ = __str__


class RaisingLen(list):
    def __len__(self):
        raise RuntimeError("no length")

    def __repr__(self):
        return "x" * 5000


class RaisingGetattr:
    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")

    def __str__(self):
        return "fine as text"


class RaisingHead:
    """Looks like a DataFrame to the summary, but ``.head`` raises."""

    shape = (3, 2)
    columns = ["a", "b"]
    dtypes = ["int64", "int64"]

    def head(self, n=5):
        raise RuntimeError("head is broken")


BAD = {"bad_str": RaisingStr(), "bad_rec": RecursingStr(), "bad_len": RaisingLen([1]),
       "bad_attr": RaisingGetattr(), "bad_head": RaisingHead()}


def one_line_naming(error, name, captured):
    text = str(error)
    assert "\n" not in text and name in text, text
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("form", ["{%s}", "{%s!full}", "--context %s", "--image %s"])
def test_a_failing_user_object_is_one_line_naming_it_and_nothing_is_sent(
        shell, server, capsys, name, form):
    shell.user_ns.update(BAD)
    sent = len(server.requests)
    cell = (f"%%chat {form % name}\nhello" if form.startswith("--")
            else f"%%chat\n[[echo]] {form % name}")
    if form == "{%s!full}" and name in ("bad_attr", "bad_head", "bad_len"):
        assert run(shell, cell).success  # !full is str(value), and theirs is fine
        return
    error = run(shell, cell, expect=UsageError)
    one_line_naming(error, name, capsys.readouterr())
    assert len(server.requests) == sent


@pytest.mark.parametrize("name", ["bad_str", "bad_rec"])
def test_a_failing_item_in_map_is_one_line(shell, server, capsys, name):
    shell.user_ns["xs"] = ["fine", BAD[name]]
    error = run(shell, "%%chat --map xs -o out\n[[echo]] {item}", expect=UsageError)
    one_line_naming(error, "item", capsys.readouterr())


def test_a_failing_field_of_an_item_is_one_line(shell, server, capsys):
    shell.user_ns["xs"] = [RaisingGetattr()]
    error = run(shell, "%%chat --map xs -o out\n[[echo]] {item.name}", expect=UsageError)
    one_line_naming(error, "item.name", capsys.readouterr())


def test_a_map_generator_that_raises_midway_is_one_line(shell, server, capsys):
    run(shell, "def gen():\n    yield 'a'\n    raise ValueError('midway')\nitems = gen()")
    error = run(shell, "%%chat --map items -o out\n{item}", expect=UsageError)
    one_line_naming(error, "items", capsys.readouterr())
    assert "after 1 items" in str(error)


def test_image_from_proc_self_mem_is_one_line(shell, server, capsys):
    error = run(shell, "%%chat --image /proc/self/mem\nhello", expect=UsageError)
    one_line_naming(error, "/proc/self/mem", capsys.readouterr())


# --- tools ----------------------------------------------------------------------------------------

TOOLS = '''
class NoRepr:
    def __repr__(self):
        raise RuntimeError("cannot show")

def population(city: str) -> object:
    """Population of a city."""
    return NoRepr()

def leave(city: str) -> str:
    """Leaves."""
    raise SystemExit(3)

def chatty(city: str) -> str:
    """Prints a lot."""
    for _ in range(3000):
        print("x" * 1000)
    return "done"
'''


@pytest.mark.parametrize("tool, status", [("population", "ok"), ("leave", "error"),
                                          ("chatty", "ok")])
def test_tools_that_exit_print_without_end_or_cannot_be_shown_are_recorded_as_run(
        shell, server, capsys, tool, status):
    assert run(shell, TOOLS).success
    get_state(shell).settings.max_tool_output_chars = 100_000
    result = run(shell, f'%%chat --tools {tool} --auto-tools -o r\n[[tool-rounds=1]] People in "Lyon"?')
    captured = capsys.readouterr()
    assert result.success, captured
    [outcome] = shell.user_ns["r"].tool_results
    assert outcome.status == status
    if tool == "population":
        assert "NoRepr object whose repr() raised RuntimeError" in outcome.content
    if tool == "leave":
        assert "SystemExit" in outcome.content
    if tool == "chatty":
        assert len(outcome.printed) < 101_000 and "output cut at 100,000 characters" in outcome.printed
    assert "Traceback" not in captured.out + captured.err


# --- files loaded back ----------------------------------------------------------------------------


@pytest.mark.parametrize("head, lines", [
    ({"format": MAP_FORMAT, "count": 10**9}, []),
    ({"format": MAP_FORMAT, "count": -1}, []),
    ({"format": MAP_FORMAT, "count": 2}, [{"index": -1, "text": "x"}]),
    ({"format": MAP_FORMAT, "count": 2}, [{"index": 5, "text": "x"}]),
    ({"format": MAP_FORMAT, "count": 2}, [{"index": True, "text": "x"}]),
    ({"format": MAP_FORMAT, "count": 2.5}, []),
])
def test_map_result_load_refuses_counts_and_indices_out_of_range(tmp_path, head, lines):
    path = tmp_path / "job.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [head, *lines]) + "\n")
    with pytest.raises(InputError) as caught:
        MapResult.load(str(path))
    assert "\n" not in str(caught.value)


def test_map_result_load_and_chat_load_refuse_bytes_that_are_not_utf8(shell, tmp_path, capsys):
    path = tmp_path / "job.jsonl"
    path.write_bytes(json.dumps({"format": MAP_FORMAT, "count": 1}).encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        MapResult.load(str(path))
    export = tmp_path / "talk.json"
    export.write_bytes(b'{"messages": [{"role": "user", "content": "\xff"}]}')
    error = run(shell, f"%chat load {export}", expect=UsageError)
    assert "not UTF-8" in str(error) and "\n" not in str(error)
