"""%%chat -N: several choices side by side, %chat pick, and the extra API parameters."""

from __future__ import annotations

import re
from typing import List

import pytest
from IPython.core.error import UsageError

from oai_magic.core.results import ChatResult, Choice
from oai_magic.core.session import session_of
from oai_magic.practice import Scripted, sse_event
from oai_magic.ui.columns import ColumnsView

from .conftest import run
from .page_model import WidgetFrontend  # noqa: F401 (type of the frontend fixture)

CHAT = "/chat/completions"
WORDS = {0: "alpha", 1: "bravo", 2: "charlie"}


def interleaved_stream(texts: List[str], finish: List[str], usage=None) -> List[bytes]:
    """A server's n=len(texts) stream: role chunks, then one word per choice in turn."""
    head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}

    def chunk(index, delta, reason=None):
        return sse_event({**head, "choices": [{"index": index, "delta": delta, "finish_reason": reason}]})

    events = [chunk(i, {"role": "assistant", "content": ""}) for i in range(len(texts))]
    words = [re.findall(r"\S+\s*", t) for t in texts]
    for step in range(max(len(w) for w in words)):
        for i, pieces in enumerate(words):
            if step < len(pieces):
                events.append(chunk(i, {"content": pieces[step]}))
    events += [chunk(i, {}, finish[i]) for i in range(len(texts))]
    if usage:
        events.append(sse_event({**head, "choices": [], "usage": usage}))
    return events + [sse_event("[DONE]")]


def three_answers() -> List[str]:
    return [" ".join(f"{WORDS[i]}{k}" for k in range(40)) + "." for i in range(3)]


USAGE = {"prompt_tokens": 9, "completion_tokens": 120, "total_tokens": 129}


# --- side by side in a notebook --------------------------------------------------------------------


def test_interleaved_choices_stream_into_their_own_columns_and_end_as_one_block(
        shell, server, magics, notebook, frontend, monkeypatch):
    monkeypatch.setattr(magics, "render_interval", 0.0)  # draw on every chunk
    # Chunks a few frames apart: a burst in one read would rightly coalesce into one draw (and
    # the frame pacer's CPU guard may hold draws back on a loaded machine).
    server.script(CHAT, Scripted(chunks=interleaved_stream(three_answers(), ["stop"] * 3, USAGE),
                                 chunk_delay=0.05))
    run(shell, "%%chat -N 3 -o r\nThree takes, please")

    first = notebook.messages[0]
    view = first["data"]["application/vnd.jupyter.widget-view+json"]
    page = frontend.pages[view["model_id"]]  # one live surface holds every column
    assert "3 answers streaming" in first["data"]["text/plain"]
    for index in range(3):  # what each column showed while streaming
        shown = page.visible(f"a{index}")
        assert f"{WORDS[index]}0 {WORDS[index]}1 {WORDS[index]}2" in shown
        assert not any(WORDS[other] in shown for other in WORDS if other != index)
    assert set(frontend.closed) == set(frontend.models)  # no widget left open

    last = notebook.messages[-1]
    assert last["kind"] == "update" and last["display_id"] == first["display_id"]
    html = last["data"]["text/html"]
    cells = html.split('class="oai-choice"')[1:]
    assert len(cells) == 3
    for index, cell in enumerate(cells):
        assert f"Choice {index + 1}/3 · stop" in cell and f"{WORDS[index]}39" in cell
    assert html.count('class="oai-footer"') == 1 and "9 prompt → 120 completion tokens" in html
    assert "Choice 2/3" in last["data"]["text/plain"]


def stream_two_columns(paragraphs: int, seen: WidgetFrontend) -> ColumnsView:
    now = [0.0]
    view = ColumnsView(2, render_interval=0.05, clock=lambda: now[0])
    view.begin([])
    paragraph = "A first sentence sits here. Then a `code` word and **bold** text follow. " * 4
    texts = ["".join(f"{paragraph}{WORDS[i]}{k}.\n\n" for k in range(paragraphs)) for i in range(2)]
    for step in range(0, len(texts[0]), 7):
        for index, text in enumerate(texts):
            now[0] += 0.01
            view.delta(index, text[step:step + 7])
    view.streamed_bytes = seen.bytes
    view.end(ChatResult(choices=[Choice(i, t, "stop") for i, t in enumerate(texts)]))
    return view


def test_long_choices_stream_into_one_widget_at_linear_cost(notebook, frontend):
    small = stream_two_columns(20, frontend)
    frontend.bytes = 0
    big = stream_two_columns(80, frontend)
    assert len(frontend.pages) == 2  # one live surface per cell, whatever the length
    assert min(live.stats["frozen_pieces"] for live in big.lives) > 20  # blocks sent once each
    assert big.streamed_bytes < 4.6 * small.streamed_bytes  # 4x the text: linear, not 16x
    assert set(frontend.closed) == set(frontend.models)


# --- in a terminal ---------------------------------------------------------------------------------


def test_in_a_terminal_each_choice_is_printed_whole_one_after_another(shell, server, capsys):
    server.script(CHAT, Scripted(chunks=interleaved_stream(three_answers(), ["stop", "length", "stop"], USAGE)))
    assert run(shell, "%%chat -N 3\nThree takes").success
    out = capsys.readouterr().out
    positions = [out.index(f"── Choice {i}/3") for i in (1, 2, 3)]
    assert positions == sorted(positions)
    between = out[positions[0]:positions[1]]
    assert "alpha0 alpha1" in between and "bravo" not in between
    assert "cut off at the token limit" in out[positions[1]:positions[2]]
    assert out.count("120 completion tokens") == 1


# --- what is sent, recorded and returned ---------------------------------------------------------


def test_n_is_sent_and_choice_one_is_recorded_with_the_others_kept_for_pick(shell, server):
    assert run(shell, "%%chat -N 3 -t 1.2 -o r\nCompare").success
    assert server.requests[-1].json["n"] == 3
    r = shell.user_ns["r"]
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.finish_reason == "stop" and c.text for c in r.choices)
    assert len({c.text for c in r.choices}) == 3
    [user, answer] = session_of(shell).conversations["default"].messages
    assert answer.content == r.choices[0].text == r.text
    assert answer.alternatives == [c.text for c in r.choices]


def test_pick_replaces_the_recorded_turn_with_choice_k_and_the_next_prompt_sends_it(shell, server, capsys):
    run(shell, "%%chat -N 3 -c cmp -o r\nCompare")
    r = shell.user_ns["r"]
    assert run(shell, "%chat pick 3 -c cmp").success
    assert "Recorded choice 3" in capsys.readouterr().out
    run(shell, "%%chat -c cmp\n[[echo]] next")
    assert server.requests[-1].json["messages"][1] == {"role": "assistant", "content": r.choices[2].text}


@pytest.mark.parametrize("line, message", [
    ("%chat pick 4", "between 1 and 3"),
    ("%chat pick two", "takes a choice number"),
])
def test_pick_refuses_a_choice_that_does_not_exist(shell, server, line, message):
    run(shell, "%%chat -N 3\nCompare")
    error = run(shell, line, expect=UsageError)
    assert message in str(error)


def test_penalties_logit_bias_user_and_n_are_sent_as_typed(shell, server):
    line = ("--presence-penalty 0.5 --frequency-penalty -1.5 --logit-bias '{\"50256\": -100, \"11\": 5}' "
            "--user student-7 -N 2")
    assert run(shell, f"%%chat {line}\n[[echo]] hi").success
    body = server.requests[-1].json
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, -1.5)
    assert body["logit_bias"] == {"50256": -100, "11": 5}
    assert (body["safety_identifier"], body["n"]) == ("student-7", 2)


@pytest.mark.parametrize("options, message", [
    ("--presence-penalty 2.5", "--presence-penalty must be between -2 and 2"),
    ("--frequency-penalty -3", "--frequency-penalty must be between -2 and 2"),
    ("--logit-bias '{\"50256\": -101}'", "must be in -100..100"),
    ("--logit-bias '{\"hello\": 1}'", "keys must be token ids"),
    ("--logit-bias '{\"1\": \"x\"}'", "must be a number"),
    ("--logit-bias '[1, 2]'", "takes a JSON object"),
    ("--logit-bias '{nope'", "takes a JSON object"),
    ("-N 0", "--choices must be between 1 and 128"),
    ("-N 129", "--choices must be between 1 and 128"),
    ("-N two", "invalid int value"),
])
def test_each_invalid_option_is_a_one_line_error_before_anything_is_sent(
        shell, server, capsys, options, message):
    error = run(shell, f"%%chat {options}\nhi", expect=UsageError)
    assert message in str(error)
    assert "Traceback" not in capsys.readouterr().err
    assert server.requests == []


def test_chat_help_lists_every_new_option(shell):
    doc = shell.magics_manager.registry["OAIMagics"].chat.__doc__
    for option in ("--presence-penalty", "--frequency-penalty", "--logit-bias", "--user",
                   "-N CHOICES, --choices CHOICES", "--tools", "--tool-choice", "--auto-tools"):
        assert option in doc, option


def test_a_broken_stream_keeps_what_each_choice_said(shell, server, capsys):
    events = interleaved_stream(three_answers(), ["stop"] * 3)
    server.script(CHAT, Scripted(chunks=events[:20], abort_after=20))
    error = run(shell, "%%chat -N 3 -o r\nThree takes", expect=UsageError)
    assert "partial" in str(error)
    out = capsys.readouterr().out
    assert "alpha0" in out and "bravo0" in out and "charlie0" in out
    answer = session_of(shell).conversations["default"].messages[-1]
    assert answer.partial and answer.content.startswith("alpha0")
