"""%%chat --map as a user drives it, against the practice server over real sockets: order under
concurrency, rows and fields, failures, 429s, Ctrl-C and --resume, save/load, progress."""

from __future__ import annotations

import builtins
import json
import signal
import threading

import pytest
from IPython.core.error import UsageError

from oai_magic.core.mapping import MapResult
from oai_magic.core.session import session_of
from oai_magic.errors import CellStopped
from oai_magic.practice import RateLimit, Scripted

from .conftest import TEST_KEY, run
from .interrupts import real_sigint

CHAT = "/chat/completions"


def test_answers_stay_in_input_order_when_later_items_finish_first(shell, server, capsys):
    # The first items answer slowest, so they finish last: order must still be the input's.
    shell.user_ns["xs"] = [f"[[delay_ms={300 - 40 * i}]] [[echo]] answer {i}" for i in range(8)]
    result = run(shell, "%%chat --map xs --concurrency 4 -o out\n{item}")
    assert result.success
    out = shell.user_ns["out"]
    assert out.texts == [f"answer {i}" for i in range(8)]
    assert [r.index for r in out] == list(range(8)) and out.failed == [] and out.missing == []
    bodies = [r.json for r in server.requests]
    assert all("stream" not in b and len(b["messages"]) == 1 for b in bodies)
    assert "✓ 8 of 8 answered" in capsys.readouterr().out


def test_rows_and_fields_are_interpolated_and_the_element_wins_over_a_variable_named_item(
        shell, server):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"name": ["Ada", "Bo"], "score": [9, 7]}, index=["a", "b"])
    shell.user_ns.update(frame=frame, item="KERNEL ITEM", course="Maths")
    cell = "%%chat --map frame -o out\n[[echo]] {course}: {item.name} got {item[score]} ({item})"
    assert run(shell, cell).success
    out = shell.user_ns["out"]
    assert out.texts == ["Maths: Ada got 9 ({'name': 'Ada', 'score': 9})",
                         "Maths: Bo got 7 ({'name': 'Bo', 'score': 7})"]
    series = out.to_series()
    assert list(series.index) == ["a", "b"] and series["b"].startswith("Maths: Bo")


def test_item_text_is_never_read_again_for_placeholders_and_underscore_fields_stay_as_typed(
        shell, server):
    class Answer:
        def __init__(self, text):
            self.text, self._secret = text, "hidden"

    shell.user_ns.update(answers=[Answer("uses {course} and {item}")], course="Maths")
    assert run(shell, "%%chat --map answers -o out\n[[echo]] {item.text} {item._secret}").success
    assert shell.user_ns["out"].texts == ["uses {course} and {item} {item._secret}"]


def test_dict_items_lists_and_a_missing_field_is_one_line_before_anything_is_sent(shell, server):
    shell.user_ns["rows"] = [{"q": "one"}, {"q": "two"}, ["x", "y"]]
    error = run(shell, "%%chat --map rows\n[[echo]] {item[q]}", expect=UsageError)
    assert "{item[q]}: this item has no such field (list)" in str(error)
    assert server.requests == []
    shell.user_ns["pairs"] = [["a", "b"], ["c", "d"]]
    assert run(shell, "%%chat --map pairs -o out\n[[echo]] {item[1]}").success
    assert shell.user_ns["out"].texts == ["b", "d"]


def test_system_prompt_applies_and_nothing_is_recorded_in_a_conversation(shell, server):
    run(shell, "%%chat -c tutor -s 'You grade essays.'\n[[echo]] hello")
    before = [m.content for m in session_of(shell).conversations["tutor"].messages]
    shell.user_ns["xs"] = ["a", "b"]
    assert run(shell, "%%chat --map xs -c tutor -t 0 --max-tokens 50\n[[echo]] {item}").success
    for request in server.requests[1:]:
        assert request.json["messages"][0] == {"role": "system", "content": "You grade essays."}
        assert len(request.json["messages"]) == 2
        assert request.json["temperature"] == 0 and request.json["max_completion_tokens"] == 50
    assert [m.content for m in session_of(shell).conversations["tutor"].messages] == before


def test_one_failing_item_never_stops_the_others_and_says_why(shell, server, capsys):
    shell.user_ns["xs"] = ["[[echo]] fine", "[[tokens=99999999]]", "[[echo]] also fine"]
    result = run(shell, "%%chat --map xs -o out\n{item}")
    assert result.success
    out = shell.user_ns["out"]
    assert out.texts == ["fine", None, "also fine"] and out.failed == [1]
    assert "HTTP 400" in out[1].error and "tokens" in out[1].error
    assert "2 of 3 answered, 1 failed" in capsys.readouterr().out


def test_a_rate_limited_item_is_retried_beyond_max_retries(shell, server):
    shell.run_line_magic("config", "OAIMagics.max_retries = 1")
    try:
        busy = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}'
        server.script(CHAT, *[Scripted(429, {"retry-after-ms": "10"}, busy) for _ in range(4)])
        shell.user_ns["xs"] = ["[[echo]] only"]
        assert run(shell, "%%chat --map xs -o out\n{item}").success
        assert shell.user_ns["out"].texts == ["only"]
        assert len(server.requests) == 5
    finally:
        shell.run_line_magic("config", "OAIMagics.max_retries = 2")


def test_insufficient_quota_stops_the_job_at_once_in_one_line(shell, server):
    quota = (b'{"error": {"message": "You exceeded your current quota.", "type": '
             b'"insufficient_quota", "code": "insufficient_quota"}}')
    server.script(CHAT, *[Scripted(429, {}, quota) for _ in range(3)])
    shell.user_ns["xs"] = [f"[[echo]] {i}" for i in range(20)]
    message = str(run(shell, "%%chat --map xs --concurrency 1 -o out\n{item}", expect=UsageError))
    assert "--map stopped" in message and "insufficient_quota" in message and "\n" not in message
    assert len(server.requests) == 1
    assert shell.user_ns["out"].missing == list(range(20))


def test_ctrl_c_keeps_finished_answers_and_resume_sends_only_the_rest(shell, server, capsys):
    fast = [f"[[echo]] quick {i}" for i in range(4)]
    shell.user_ns["xs"] = fast + [f"[[delay_ms=5000]] slow {i}" for i in range(4)]
    main_thread = threading.main_thread().ident

    def interrupt():
        server.wait_for_requests(8, timeout=60)  # 8 arrived: the 4 quick ones were stored first
        signal.pthread_kill(main_thread, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with real_sigint():  # the slow answers end by themselves after 5 s
        error = run(shell, "%%chat --map xs --concurrency 4 -o out\n{item}", expect=CellStopped)
    assert "■ stopped — 4 of 8 answers kept in out; --resume sends the 4 left" in str(error)
    out = shell.user_ns["out"]
    assert out.texts[:4] == [f"quick {i}" for i in range(4)] and out.missing == [4, 5, 6, 7]
    server.requests.clear()
    shell.user_ns["xs"] = fast + [f"[[echo]] now {i}" for i in range(4)]
    assert run(shell, "%%chat --map xs -o out --resume\n{item}").success
    assert sorted(r.json["messages"][0]["content"] for r in server.requests) == [
        f"[[echo]] now {i}" for i in range(4)]
    assert shell.user_ns["out"].texts == [f"quick {i}" for i in range(4)] + [
        f"now {i}" for i in range(4)]


def test_a_job_saved_as_json_lines_loads_back_and_resumes_after_a_restart(shell, server, tmp_path):
    shell.user_ns["xs"] = ["[[echo]] a", "[[tokens=99999999]]", "[[echo]] c"]
    run(shell, "%%chat --map xs -o out\n{item}")
    path = tmp_path / "job.jsonl"
    shell.user_ns["out"].save(str(path))
    loaded = MapResult.load(str(path))
    assert loaded.texts == ["a", None, "c"] and loaded.failed == [1]
    assert loaded.usage["total_tokens"] == shell.user_ns["out"].usage["total_tokens"] > 0
    assert loaded.usage["cost_usd"] == shell.user_ns["out"].usage["cost_usd"] > 0  # priced, kept
    shell.user_ns.update(out=loaded, xs=["[[echo]] a", "[[echo]] b", "[[echo]] c"])
    server.requests.clear()
    assert run(shell, "%%chat --map xs -o out --resume\n{item}").success
    assert len(server.requests) == 1 and shell.user_ns["out"].texts == ["a", "b", "c"]


def test_more_than_100_items_ask_first_and_no_sends_nothing(shell, server, monkeypatch):
    questions = []
    monkeypatch.setattr(builtins, "input", lambda q: questions.append(q) or "n")
    shell.user_ns["xs"] = list(range(101))
    error = run(shell, "%%chat --map xs\nSay {item}", expect=UsageError)
    assert "nothing sent" in str(error) and server.requests == []
    assert "About to send 101 requests to gpt-4o-mini" in questions[0]
    assert "≈ $" in questions[0]  # the estimate from the price table


def test_yes_skips_the_question(shell, server, monkeypatch):
    monkeypatch.setattr(builtins, "input", lambda q: pytest.fail("asked"))
    shell.user_ns["xs"] = [f"[[echo]] {i}" for i in range(101)]
    assert run(shell, "%%chat --map xs --yes --concurrency 8 -o out\n{item}").success
    assert shell.user_ns["out"].texts == [str(i) for i in range(101)]


@pytest.mark.parametrize("cell, message", [
    ("%%chat --map nope\n{item}", "--map nope: no such variable"),
    ("%%chat --map xs\nno placeholder here", "the cell has no {item}"),
    ("%%chat --map xs -N 2\n{item}", "-N does not go with --map"),
    ("%%chat --map xs --concurrency 0\n{item}", "--concurrency must be between 1 and 64"),
    ("%%chat --map xs --resume\n{item}", "--resume needs -o OUT"),
    ("%%chat --map xs --resume --batch -o out\n{item}", "--resume goes without --batch"),
    ("%%chat --concurrency 3\nhello", "go with --map ITEMS"),
    ("%%chat --map word\n{item}", "a str is not a list of items"),
])
def test_bad_map_options_are_one_line_and_send_nothing(shell, server, cell, message):
    shell.user_ns.update(xs=["a"], word="abc")
    error = run(shell, cell, expect=UsageError)
    assert message in str(error) and server.requests == []


@pytest.mark.parametrize("continuous", [False, True], ids=["fixed-windows", "continuous-refill"])
def test_the_practice_servers_rate_limit_is_respected_with_no_failed_item(shell, server, continuous):
    server.rate_limit = limit = RateLimit(10, 0.5, continuous=continuous)
    shell.user_ns["xs"] = [f"[[echo]] {i}" for i in range(35)]
    assert run(shell, "%%chat --map xs --concurrency 6 -o out\n{item}").success
    out = shell.user_ns["out"]
    assert out.failed == [] and out.texts == [str(i) for i in range(35)]
    assert limit.refused <= 3 and out.rate_limited == limit.refused  # ≤ one per window boundary


def test_the_progress_widget_is_closed_and_leaves_a_one_line_summary(shell, server, frontend):
    magics = shell.magics_manager.registry["OAIMagics"]
    magics.display_mode = "rich"
    shell.user_ns["xs"] = ["[[echo]] <b>a</b>", "[[echo]] b"]
    shown = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, *a, **k: shown.append(data) or original(data, *a, **k)
    try:
        assert run(shell, "%%chat --map xs -o out\n{item}").success
    finally:
        shell.display_pub.publish = original
    progress = [m for m in frontend.models.values() if m.get("_model_name") == "IntProgressModel"]
    assert progress and progress[0]["value"] == 2 and progress[0]["max"] == 2
    assert set(frontend.closed) == set(frontend.models)  # nothing left for nbclient to save
    assert "<b>" not in "".join(m.get("value", "") for m in frontend.models.values()
                                if m.get("_model_name") == "HTMLModel")
    assert "✓ 2 of 2 answered" in shown[-1]["text/html"]
    assert TEST_KEY not in str(frontend.models)


def test_an_item_that_takes_too_long_fails_alone_after_item_timeout(shell, server):
    shell.run_line_magic("config", "OAIMagics.max_retries = 0")
    try:
        shell.user_ns["xs"] = ["[[delay_ms=3000]] slow", "[[echo]] fast"]
        assert run(shell, "%%chat --map xs --item-timeout 0.3 -o out\n{item}").success
        out = shell.user_ns["out"]
        assert out.failed == [0] and "timed out" in out[0].error and out[1].text == "fast"
    finally:
        shell.run_line_magic("config", "OAIMagics.max_retries = 2")


def test_the_key_never_appears_in_results_errors_or_a_saved_job(shell, server, tmp_path):
    leak = json.dumps({"error": {"message": f"Incorrect API key provided: {TEST_KEY}",
                                 "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
    server.script(CHAT, Scripted(401, {}, leak))
    shell.user_ns["xs"] = ["[[echo]] a", "[[echo]] b"]
    assert run(shell, "%%chat --map xs --concurrency 1 -o out\n{item}").success
    out = shell.user_ns["out"]
    assert out.failed == [0] and "Incorrect API key" in out[0].error
    path = tmp_path / "job.jsonl"
    out.save(str(path))
    for text in (repr(out), out[0].error, repr(out[0]), path.read_text()):
        assert TEST_KEY not in text and TEST_KEY[3:15] not in text


def test_schema_applies_to_every_item_and_each_answer_is_parsed(shell, server):
    run(shell, "from dataclasses import dataclass\n@dataclass\nclass Grade:\n    label: str\n    score: int")
    shell.user_ns["xs"] = ["Plants make sugar.", "Plants sleep."]
    assert run(shell, "%%chat --map xs --schema Grade -o out\nGrade: {item}").success
    bodies = [r.json for r in server.requests]
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies)
    assert all(b["response_format"]["json_schema"]["schema"]["required"] == ["label", "score"]
               for b in bodies)
    out = shell.user_ns["out"]
    grade = shell.user_ns["Grade"]
    assert [type(r.parsed) for r in out.results] == [grade, grade]
    assert all(isinstance(r.parsed.score, int) for r in out.results)


def test_map_usage_is_counted_in_the_session_and_a_budget_stops_further_items(shell, server, capsys):
    magics = shell.magics_manager.registry["OAIMagics"]
    shell.user_ns["xs"] = [f"item {i}" for i in range(6)]
    assert run(shell, "%%chat --map xs -o first --concurrency 1\n{item}").success
    run(shell, "%oai usage")
    assert "--map" in capsys.readouterr().out  # the job's requests are in the session's totals
    used = session_of(shell).usage_ledger.total.tokens
    assert used > 0
    magics.session_budget_tokens = used + 1  # room for one more request, not six
    try:
        server.requests.clear()
        run(shell, "%%chat --map xs -o second --concurrency 1\n{item}")
        second = shell.user_ns["second"]
        assert 1 <= len(server.requests) <= 2  # reserved before it starts: at most one over
        assert all("Session budget reached" in second[i].error for i in second.failed)
        assert len(second.failed) >= 4
        again = run(shell, "%%chat --map xs\n{item}", expect=UsageError)  # spent: the whole job is refused at once
        assert "Session budget reached" in str(again)
    finally:
        magics.session_budget_tokens = None

