"""Live Markdown: every token shows quickly, at linear cost, and the saved answer is one block.

Time is a fake clock advanced by hand; nothing sleeps. Display tests run the real
IPython display machinery on an InteractiveShell with a recording DisplayPublisher.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import List, Optional, Tuple

import pytest

from oai_magic import live
from oai_magic.live import DisplaySurface, LiveMarkdown
from oai_magic.render import answer_html, render_footer, render_markdown, render_plain

from .recording import RecordingPublisher
from .synthetic import answer_tokens, tokenize

INTERVAL = 0.05

TRICKY = (
    "Intro with **bold**, `code` and $x$.\n\n- a\n- b\n\n  more b\n- c\n\nAfter the list\n\n"
    "1. one\n2. two\n\n> quote\nlazy line\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "```py\nx = 1\n\n\ny = 2\n```\n\nSetext\n===\n\n    indented code\n\n$$\nx^2\n$$\n\n***\n\n"
    "- nested\n  - inner\n    1. deep\n\nPrices $5 and $10.\nSecond line\n---\n\n"
    "Para\n- interrupting list\n\n~~~\ntilde fence\n~~~~\n\n<b>raw</b> & stuff\n\n\\[\na_1\n\\]\n\n"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ModelSurface:
    """Keeps what a frontend would show: frozen pieces, the live tail, the final block."""

    def __init__(self, clock: Optional[FakeClock] = None) -> None:
        self.clock = clock
        self.pieces: List[str] = []
        self.tail: Optional[str] = None
        self.final: Optional[Tuple[str, str]] = None
        self.draw_times: List[float] = []

    def _drew(self) -> None:
        if self.clock is not None:
            self.draw_times.append(self.clock.now)

    def freeze(self, html: str) -> None:
        self.pieces.append(html)
        self.tail = None
        self._drew()

    def set_tail(self, html: str) -> None:
        self.tail = html
        self._drew()

    def finish(self, html: str, text: str) -> None:
        self.final = (html, text)
        self._drew()

    def visible(self) -> str:
        return "".join(self.pieces) + (self.tail or "")


@pytest.fixture
def recorder(_shell):
    """The shared test shell (conftest), publishing into a RecordingPublisher."""
    shell = _shell
    publisher = RecordingPublisher(shell=shell)
    saved, shell.display_pub = shell.display_pub, publisher
    try:
        yield publisher
    finally:
        shell.display_pub = saved


@pytest.fixture
def unlimited_budget(monkeypatch):
    monkeypatch.setattr(live, "BUDGET_BURST", 10**12)


def stream(chunks, per_token: float, surface=None, **kwargs) -> Tuple[LiveMarkdown, FakeClock]:
    clock = FakeClock()
    if surface is None:
        surface = ModelSurface(clock)
    elif isinstance(surface, ModelSurface):
        surface.clock = clock
    view = LiveMarkdown(surface, render_interval=INTERVAL, clock=clock, **kwargs)
    for chunk in chunks:
        clock.now += per_token
        view.append(chunk)
    return view, clock


_WRAPPER = re.compile(r'^<div class="oai-answer [^"]*">(.*)</div>$', re.S)
_TAG = re.compile(r"<[^>]+>")


def unwrap(html: str) -> str:
    match = _WRAPPER.match(html)
    return match.group(1) if match else html


def letters(html: str) -> str:
    """The visible characters, ignoring tags and whitespace (which seams may move)."""
    return "".join(html_lib.unescape(_TAG.sub("", html)).split())


# --- (a) coalescing -------------------------------------------------------------------


def test_first_token_is_drawn_at_once():
    surface = ModelSurface()
    stream(["Hello"], 0.001, surface)
    assert surface.tail == "<p>Hello</p>\n"


def test_tokens_arriving_within_one_interval_are_drawn_once():
    surface = ModelSurface()
    view, clock = stream(["Hello", " there", ",", " friend"], 0.01, surface)
    assert surface.draw_times == [0.01]
    clock.now += INTERVAL
    view.append("!")
    assert surface.tail == "<p>Hello there, friend!</p>\n"
    assert len(surface.draw_times) == 2


def test_there_is_at_most_one_draw_per_render_interval():
    surface = ModelSurface()
    stream(answer_tokens(3000), 0.001, surface)
    times = sorted(set(surface.draw_times))
    assert len(times) > 20
    assert all(b - a >= INTERVAL - 1e-9 for a, b in zip(times, times[1:]))


def test_appending_between_draws_does_no_rendering_work():
    view, clock = stream(["Hello"], 0.001)
    parsed = view.stats["parsed_chars"]
    for _ in range(30):
        clock.now += 0.001
        view.append(" word")
    assert view.stats["parsed_chars"] == parsed


def test_an_explicit_refresh_draws_even_when_the_budget_says_wait(monkeypatch):
    monkeypatch.setattr(live, "BUDGET_BURST", 0)
    monkeypatch.setattr(live, "BUDGET_RATIO", 0)
    surface = ModelSurface()
    view, _ = stream(["Said", " before", " the", " tool", " call"], 0.1, surface)
    assert surface.tail is None
    view.refresh()
    assert surface.tail == "<p>Said before the tool call</p>\n"


def test_finish_always_shows_the_final_state():
    surface = ModelSurface()
    view, _ = stream(["Hello", " there"], 0.01, surface)
    assert "there" not in surface.visible()  # still inside the first interval
    view.finish()
    assert surface.final is not None
    assert surface.final[0] == answer_html("<p>Hello there</p>\n")


# --- (b) bytes linear in length --------------------------------------------------------


@pytest.mark.parametrize("per_token", [0.001, 0.020], ids=["fast", "slow"])
@pytest.mark.parametrize("n_tokens", [2000, 8000, 32000])
def test_bytes_sent_stay_within_three_times_the_final_answer(recorder, n_tokens, per_token):
    view, _ = stream(answer_tokens(n_tokens), per_token, DisplaySurface())
    view.finish(footer_html=render_footer(["gpt-test", "1 → 2 tokens"]))
    final = recorder.messages[-1]
    assert recorder.total_bytes <= 3 * final["nbytes"]
    assert view.stats["bytes"] == recorder.total_bytes


# --- (c) render work linear in length --------------------------------------------------


def test_render_work_grows_linearly_with_the_answer():
    per_char = {}
    for n_tokens in (2000, 32000):
        view, _ = stream(answer_tokens(n_tokens), 0.020)
        view.finish()
        per_char[n_tokens] = view.stats["parsed_chars"] / len(view.text)
    assert per_char[32000] < 8  # quadratic re-rendering would be in the hundreds
    assert per_char[32000] < 1.5 * per_char[2000]


# --- (d) one final block ---------------------------------------------------------------


def test_final_block_is_the_whole_answer_rendered_once_with_mark_and_footer(recorder):
    tokens = answer_tokens(1500)
    view, _ = stream(tokens, 0.02, DisplaySurface())
    footer = render_footer(["gpt-test", "req_1"])
    view.finish(footer_html=footer, mark="■ stopped")
    text = "".join(tokens)
    clear_at = recorder.kinds().index("clear")
    assert recorder.kinds()[clear_at:] == ["clear", "display"]
    assert recorder.messages[clear_at]["wait"] is True
    final = recorder.messages[-1]
    assert final["display_id"] is None
    assert final["data"]["text/html"] == answer_html(render_markdown(text), "■ stopped") + footer
    assert final["data"]["text/plain"] == text + "\n\n■ stopped"
    assert view.text == text


def test_display_messages_are_display_then_updates_then_one_final_block(recorder):
    paragraph = "One two three four five six seven eight nine ten. " * 6
    chunks = tokenize(f"# Title\n\n{paragraph}\n\n```python\n" + "x = 1\n" * 40 + "```\n\nDone.")
    view, _ = stream(chunks, 0.02, DisplaySurface())
    live_messages = list(recorder.messages)
    view.finish()
    assert live_messages[0]["kind"] == "display"
    assert all(m["kind"] in ("display", "update") for m in live_messages)
    displays = [m for m in live_messages if m["kind"] == "display"]
    assert all(m["display_id"] for m in displays)
    assert len({m["display_id"] for m in displays}) == len(displays)  # one handle per piece
    current = None
    for message in live_messages:  # updates only touch the newest handle
        if message["kind"] == "display":
            current = message["display_id"]
        else:
            assert message["display_id"] == current
    assert all("text/plain" not in m["data"] for m in live_messages)
    assert recorder.kinds()[len(live_messages) :] == ["clear", "display"]


def test_a_notice_shown_above_the_answer_is_kept_in_the_final_block(recorder):
    notice = '<div class="oai-notice">History trimmed</div>'
    view = LiveMarkdown(DisplaySurface(prefix_html=notice, prefix_text="History trimmed"), clock=FakeClock())
    assert recorder.messages[0]["data"]["text/html"] == notice
    view.append("Hi")
    view.finish()
    final = recorder.messages[-1]["data"]
    assert final["text/html"] == notice + answer_html("<p>Hi</p>\n")
    assert final["text/plain"] == "History trimmed\n\nHi"


def test_finish_can_show_a_replacement_text():
    surface = ModelSurface()
    view, _ = stream(['{"a":', " 1}"], 0.1, surface)
    view.finish(text='```json\n{\n  "a": 1\n}\n```')
    assert surface.final[0] == answer_html(render_markdown('```json\n{\n  "a": 1\n}\n```'))
    assert view.text == '{"a": 1}'


def test_finish_is_final():
    surface = ModelSurface()
    view, _ = stream(["a"], 0.1, surface)
    view.finish()
    view.append("b")
    view.refresh()
    view.finish(mark="again")
    assert surface.final == (answer_html("<p>a</p>\n"), "a")
    assert view.text == "a"


# --- freezing and seams ----------------------------------------------------------------


@pytest.mark.parametrize("per_token", [0.001, 0.02, 1.0])
@pytest.mark.parametrize("by", ["char", "token"])
def test_frozen_blocks_render_exactly_as_in_the_whole_document(monkeypatch, unlimited_budget, per_token, by):
    monkeypatch.setattr(live, "SPLIT_AT", 10**9)  # whole blocks only
    text = TRICKY + "END\n"
    surface = ModelSurface()
    view, clock = stream(list(text) if by == "char" else tokenize(text), per_token, surface)
    clock.now += 1
    view.refresh()
    assert "".join(unwrap(p) for p in surface.pieces) + "<p>END</p>\n" == render_markdown(text)
    assert surface.tail == "<p>END</p>\n"


@pytest.mark.parametrize("per_token", [0.001, 0.02, 1.0])
@pytest.mark.parametrize("by", ["char", "token"])
def test_live_seams_never_lose_or_repeat_text(unlimited_budget, per_token, by):
    text = TRICKY + "".join(answer_tokens(1500))
    surface = ModelSurface()
    view, clock = stream(list(text) if by == "char" else tokenize(text), per_token, surface)
    clock.now += 1
    view.refresh()
    assert letters(surface.visible()) == letters(render_markdown(text))


def test_text_on_screen_never_disappears_when_blocks_freeze():
    # Words and numbers on screen only ever grow, even while the budget defers tail draws
    # and blocks freeze (links are taken out: a closing link legitimately hides its URL).
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", "".join(answer_tokens(4000)))
    surface = ModelSurface()
    clock = FakeClock()
    view = LiveMarkdown(surface, render_interval=INTERVAL, clock=clock)
    shown = 0
    for token in tokenize(text):
        clock.now += 0.02
        view.append(token)
        visible = sum(c.isalnum() for c in letters(surface.visible()))
        assert visible >= shown
        shown = visible
    assert view.stats["deferred"] > 0  # the budget did hold some draws back


def test_an_open_code_fence_is_frozen_line_by_line_and_its_partial_line_stays_live(
    unlimited_budget,
):
    surface = ModelSurface()
    code = "".join(f"value_{i} = compute({i}, limit=10)\n" for i in range(30))
    view, clock = stream(tokenize("```python\n" + code + "result = fin"), 0.02, surface)
    clock.now += 1
    view.refresh()
    assert len(surface.pieces) >= 3
    assert all(p.startswith("<pre") for p in surface.pieces)
    assert "<span style=" in surface.pieces[0]  # frozen code is highlighted
    assert surface.tail.endswith("result = fin</code></pre>\n")
    assert surface.tail.count("value_") <= 3  # only the last few lines are re-sent


def test_a_long_paragraph_is_not_cut_inside_open_emphasis(unlimited_budget):
    surface = ModelSurface()
    opening = "Plain words come first here. " * 5
    inside = "**This bold part runs on. It has sentences. " * 6
    stream(tokenize(opening + inside), 0.02, surface)
    assert surface.pieces, "the plain sentences should have been frozen"
    assert all("**" not in p and "<strong>" not in p for p in surface.pieces)
    assert "This bold part" in surface.tail


def test_a_long_list_is_frozen_item_by_item(unlimited_budget):
    surface = ModelSurface()
    items = "".join(f"{i}. Item number {i} has a few words in it\n" for i in range(1, 13))
    view, clock = stream(tokenize(items + "13. last"), 0.02, surface)
    clock.now += 1
    view.refresh()
    assert surface.pieces
    assert all(p.startswith("<ol") for p in surface.pieces)
    assert re.match(r'<ol [^>]*start="1[0-3]"', surface.tail)
    assert surface.tail.endswith("<li>last</li>\n</ol>\n")


def test_a_long_table_is_frozen_row_by_row_with_its_header_shown_once(unlimited_budget):
    surface = ModelSurface()
    rows = "".join(f"| row {i} | {i * 7} | some note about row {i} |\n" for i in range(12))
    view, clock = stream(tokenize("| name | size | note |\n|---|---:|---|\n" + rows), 0.02, surface)
    clock.now += 1
    view.refresh()
    tables = surface.pieces + [surface.tail]
    assert len(tables) >= 3
    assert all(t.startswith("<table") for t in tables)
    assert tables[0].count("<th>") == 2 and sum(t.count("<th>") for t in tables) == 2
    assert all('<td style="text-align:right">' in t for t in tables)  # alignment kept
    assert letters("".join(tables)) == letters(render_markdown(view.text))


def test_a_line_break_split_across_deltas_is_one_newline(unlimited_budget):
    surface = ModelSurface()
    view, clock = stream(["Para one\r", "\n\r\n", "Para two"], 0.1, surface)
    assert surface.pieces == ["<p>Para one</p>\n"]
    view.finish()
    assert view.text == "Para one\r\n\r\nPara two"


# --- --plain ---------------------------------------------------------------------------


def test_plain_mode_shows_escaped_text_not_markdown(unlimited_budget):
    surface = ModelSurface()
    view, _ = stream(["**not bold** <b>", "\n" * 2, "x" * 200, "\nmore"], 0.1, surface, plain=True)
    assert "&lt;b&gt;" in surface.visible() and "<strong>" not in surface.visible()
    view.finish()
    assert surface.final[0] == answer_html(render_plain(view.text))
