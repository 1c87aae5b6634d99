"""Issue 25, classes 4 and 7: ``--map`` never lies, and batch results keep every good line.

A body that kills a worker thread is that item's failure, with a reason, never a traceback on
stderr and never a silent "not run"; the summary says ✓ only when every item was answered. A
batch output file with bad lines, bad objects and a missing error file keeps its good lines.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from oai_magic.state import get_state

from . import hostile_replies  # noqa: F401  (registers the modes)
from .conftest import run


def use(shell, hostile, mode):
    get_state(shell).settings.base_url = hostile.base_url(mode)


# --- class 4: --map never lies -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["map_list_body", "map_choices_string"])
def test_a_body_that_kills_a_worker_fails_its_item_with_a_reason_and_no_check_mark(
        shell, hostile, capsys, mode):
    use(shell, hostile, mode)
    shell.user_ns["xs"] = ["a", "b", "c"]
    run(shell, "%%chat --map xs --concurrency 2 -o out\n{item}")
    out = shell.user_ns["out"]
    captured = capsys.readouterr()
    assert out.failed == [0, 1, 2] and out.missing == []
    assert all(r.error and "\n" not in r.error for r in out)
    assert "Traceback" not in captured.err and "Exception in thread" not in captured.err
    assert "✓" not in captured.out and "0 of 3 answered, 3 failed" in captured.out


# --- class 7: batch results keep every good line -------------------------------------------------


def test_batch_results_keep_the_good_lines_and_name_only_canonical_items(shell, hostile, capsys):
    use(shell, hostile, "batch_mixed")
    assert run(shell, "r = %chat batch results batch_h").success
    r = shell.user_ns["r"]
    printed = capsys.readouterr()
    assert len(r) == 6
    assert [r[i].text if r[i] and r[i].ok else None for i in range(6)] == [
        "answer zero", None, "answer two", None, None, "answer five"]
    assert r[1] is None  # "1.9", true, "true", "01" name no item: item 1 never answered
    assert r[3].error and r[4].error and r[5].usage == {}
    assert "error_file file-err could not be read" in printed.out
    assert "lines of output_file file-out could not be read" in printed.out
    assert "Traceback" not in printed.out + printed.err


def test_a_request_count_of_a_billion_allocates_nothing_big(shell, hostile):
    use(shell, hostile, "batch_huge_total")
    assert run(shell, "r = %chat batch results batch_h").success
    r = shell.user_ns["r"]
    assert len(r) <= 100 and r[0].text == "answer zero" and r[2].text == "answer two"


@pytest.mark.parametrize("mode", ["batch_is_list", "batch_is_html"])
def test_a_batch_that_is_not_an_object_is_one_line(shell, hostile, capsys, mode):
    use(shell, hostile, mode)
    error = run(shell, "%chat batch status batch_h", expect=UsageError)
    assert "\n" not in str(error) and "batch" in str(error)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err


def test_request_counts_that_are_not_an_object_still_give_the_results(shell, hostile):
    use(shell, hostile, "batch_counts_list")
    assert run(shell, "r = %chat batch results batch_h").success
    assert shell.user_ns["r"][0].text == "answer zero"
