"""Live Markdown: every token shows quickly, at linear cost, the live text a prefix of the final.

Time is a fake clock advanced by hand; nothing sleeps. LiveMarkdown draws into a PageModel (the
operations of surface.js applied in Python), so each test sees what the page would show. Byte
tests go through the real LiveSurface widget and count every message it sends.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oai_magic.render import live
from oai_magic.render.chrome import ANSWER_REGION, answer_html, footer_html
from oai_magic.render.frames import FRAME_S
from oai_magic.render.live import LiveMarkdown, final_answer
from oai_magic.render.markdown import (
    markdown_parser,
    render_markdown,
    render_plain,
)
from oai_magic.render.seams import without_trailing_closers
from oai_magic.render.surface import LiveSurface

from .page_model import PageModel
from .recording import RecordingPublisher
from .synthetic import FakeClock, answer_tokens, tokenize

INTERVAL = FRAME_S  # the default: one frame

TRICKY = (
    "Intro with **bold**, `code` and $x$.\n\n- a\n- b\n\n  more b\n- c\n\nAfter the list\n\n"
    "1. one\n2. two\n\n> quote\nlazy line\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "```py\nx = 1\n\n\ny = 2\n```\n\nSetext\n===\n\n    indented code\n\n$$\nx^2\n$$\n\n***\n\n"
    "- nested\n  - inner\n    1. deep\n\nPrices $5 and $10.\nSecond line\n---\n\n"
    "Para\n- interrupting list\n\n~~~\ntilde fence\n~~~~\n\n<b>raw</b> & stuff\n\n\\[\na_1\n\\]\n\n"
)


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


@pytest.fixture
def no_cpu_guard(monkeypatch):
    """The CPU guard spaces draws by the real time rendering took: off where only frames count."""
    monkeypatch.setattr(live, "CPU_SHARE", 0)


def stream(chunks, per_token: float, page=None, **kwargs) -> Tuple[LiveMarkdown, FakeClock, PageModel]:
    clock = FakeClock()
    page = page if page is not None else PageModel(clock)
    page.clock = clock
    view = LiveMarkdown(page, "a", render_interval=INTERVAL, clock=clock, **kwargs)
    for chunk in chunks:
        clock.advance(per_token)  # draws due at frame boundaries on the way happen
        view.append(chunk)
    return view, clock, page


_TAG = re.compile(r"<[^>]+>")


def letters(html: str) -> str:
    """The visible characters, ignoring tags and whitespace."""
    return "".join(html_lib.unescape(_TAG.sub("", html)).split())


def live_render(text: str) -> str:
    """The whole text as the live view renders it (code unhighlighted, no class hint)."""
    md = markdown_parser()
    from oai_magic.render.markdown import unhighlighted_options

    html = md.renderer.render(md.parse(text, {}), unhighlighted_options(), {})
    return re.sub(r'<code class="language-[^"]*">', "<code>", html)


# --- coalescing ----------------------------------------------------------------------------


def test_first_token_is_drawn_at_once():
    view, _, page = stream(["Hello"], 0.0)
    assert page.visible() == "<p>Hello" and page.messages == 1


def test_tokens_arriving_within_one_frame_are_drawn_once_at_the_frame_boundary():
    view, clock, page = stream(["a"], 0.0)
    for token in [" b", " c", " d"]:
        clock.now += 0.004
        view.append(token)
    assert page.messages == 1 and page.visible() == "<p>a"  # still inside the first frame
    clock.advance(INTERVAL)  # no token comes: the frame boundary draws them
    assert page.messages == 2 and page.visible() == "<p>a b c d"
    assert page.draw_times == [0.0, INTERVAL]


def test_a_token_a_frame_after_the_last_draw_is_drawn_at_once(no_cpu_guard):
    tokens = tokenize("word " * 50)
    view, clock, page = stream(tokens, 0.020)  # a model at 20 ms a token
    assert page.messages == sum(1 for t in tokens if t.strip())  # one draw per word, none waiting
    assert view.caught_up
    assert clock.timers == []


def test_a_burst_is_drawn_once_a_frame_and_every_token_within_a_frame(no_cpu_guard):
    clock = FakeClock()
    page = PageModel(clock)
    view = LiveMarkdown(page, "a", render_interval=INTERVAL, clock=clock)
    arrivals = []
    for token in tokenize("word " * 400):
        clock.advance(0.001)  # 1,000 tokens a second
        view.append(token)
        arrivals.append((clock.now, len(view.text)))
    clock.advance(INTERVAL)
    gaps = [b - a for a, b in zip(page.draw_times, page.draw_times[1:])]
    assert min(gaps) >= INTERVAL - 1e-9 and len(page.draw_times) <= 400 * 0.001 / INTERVAL + 2
    assert view.caught_up and letters(page.visible()) == letters(live_render(view.text))


def test_there_is_at_most_one_draw_per_frame():
    view, _, page = stream(tokenize("word " * 400), 0.001)
    gaps = [b - a for a, b in zip(page.draw_times, page.draw_times[1:])]
    assert gaps and min(gaps) >= INTERVAL - 1e-9


def test_appending_between_draws_does_no_rendering_work():
    view, clock, _ = stream(["start"], 0.0)
    parsed = view.stats["parsed_chars"]
    for _ in range(50):
        view.append(" more")
    assert view.stats["parsed_chars"] == parsed


def test_finish_returns_the_final_block_with_mark_and_footer():
    view, _, page = stream(["Hello", " there"], 0.01)
    assert "there" not in page.visible()  # still inside the first interval
    footer = footer_html(["gpt-test", "req_1"])
    html, text = view.finish(footer_html=footer, mark="■ stopped", footer_text="gpt-test · req_1")
    assert html == answer_html("<p>Hello there</p>\n", "■ stopped") + footer
    assert text == "Hello there\n\n■ stopped\n\ngpt-test · req_1"
    assert (html, text) == final_answer("Hello there", mark="■ stopped", footer_html=footer,
                                        footer_text="gpt-test · req_1")


def test_finish_can_show_a_replacement_text_and_is_final():
    view, _, _ = stream(['{"a":', " 1}"], 0.1)
    html, _ = view.finish(text='```json\n{\n  "a": 1\n}\n```')
    assert html == answer_html(render_markdown('```json\n{\n  "a": 1\n}\n```'))
    view.append("more")
    view.refresh()
    assert view.text == '{"a": 1}'


# --- bytes and work linear in the length --------------------------------------------------------


@pytest.mark.parametrize("per_token", [0.001, 0.020], ids=["fast", "slow"])
@pytest.mark.parametrize("n_tokens", [2000, 8000, 32000])
def test_bytes_sent_stay_within_three_times_the_final_block(recorder, frontend, n_tokens, per_token):
    clock = FakeClock()
    surface = LiveSurface([("a", "", ANSWER_REGION)])
    view = LiveMarkdown(surface, "a", render_interval=INTERVAL, clock=clock)
    for token in answer_tokens(n_tokens):
        clock.advance(per_token)
        view.append(token)
    html, text = view.finish(footer_html=footer_html(["gpt-test", "1 → 2 tokens"]))
    surface.finish(html, text)
    final = recorder.messages[-1]
    assert final["kind"] == "update" and final["nbytes"] == len(html.encode()) + len(text.encode())
    # every byte the kernel sent: widget messages (framing included) and the final block
    assert frontend.bytes + final["nbytes"] <= 3 * final["nbytes"]
    assert set(frontend.closed) == set(frontend.models)


@pytest.mark.parametrize("words", [["pears", "plums", "dates", "limes"], ["苹果", "梨子", "李子", "樱桃"]])
def test_no_two_messages_in_a_row_are_the_same_size_and_the_page_shows_the_same(frontend, words):
    """Jupyter's server writes kernel messages to the page's socket with Nagle's algorithm on,
    and Linux delays its ACK of a segment exactly as long as the one before: the next message
    then waits in the server for that ACK, 20-40 ms. A list of words of one length (a message
    a token, each the same size) lost a frame every few tokens (issue 26); a changed size is
    ACKed at once. The draws of ``benchmarks/bench_browser.py`` showed it: every late message
    followed two of the same size."""
    clock = FakeClock()
    surface = LiveSurface([("a", "", ANSWER_REGION)])
    view = LiveMarkdown(surface, "a", render_interval=INTERVAL, clock=clock)
    text = ""
    for k in range(200):
        token = words[k % len(words)] + ", "
        text += token
        clock.advance(0.02)  # a token a frame: one message each
        view.append(token)
    sent = frontend.custom_to(surface.widget.model_id)
    assert len(sent) >= 190
    sizes = [len(json.dumps(message, ensure_ascii=False).encode("utf-8")) for message in sent]
    assert [i for i in range(1, len(sizes)) if sizes[i] == sizes[i - 1]] == []
    assert sum(sizes) == surface.stats["bytes"]
    shown = frontend.pages[surface.widget.model_id].visible("a")
    assert shown == without_trailing_closers(live_render(text.rstrip()))


def test_render_work_grows_linearly_with_the_answer():
    per_char = {}
    for n_tokens in (2000, 32000):
        view, _, _ = stream(answer_tokens(n_tokens), 0.020)
        view.finish()
        per_char[n_tokens] = view.stats["parsed_chars"] / len(view.text)
    assert per_char[32000] < 20  # quadratic re-rendering would be in the hundreds
    assert per_char[32000] < 1.5 * per_char[2000]


# --- what the page shows -------------------------------------------------------------------------


def blocks_are_a_prefix_of_the_final(page: PageModel, text: str) -> bool:
    """Everything but the open block, as letters, starts the final render's letters."""
    finished = letters("".join(page.region("a").blocks))
    return letters(live_render(text)).startswith(finished)


@pytest.mark.parametrize("per_token", [0.001, 0.02, 1.0])
@pytest.mark.parametrize("by", ["char", "token"])
def test_the_page_ends_showing_exactly_the_whole_render(unlimited_budget, per_token, by):
    text = TRICKY + "".join(answer_tokens(1500))
    view, clock, page = stream(list(text) if by == "char" else tokenize(text), per_token)
    clock.now += 1
    view.refresh()
    assert letters(page.visible()) == letters(live_render(text))
    assert blocks_are_a_prefix_of_the_final(page, text)


def test_at_every_frame_the_live_text_is_a_prefix_of_the_final_but_for_the_open_block():
    text = TRICKY + "".join(answer_tokens(3000))
    clock = FakeClock()
    page = PageModel(clock)
    view = LiveMarkdown(page, "a", render_interval=INTERVAL, clock=clock)
    final = letters(live_render(text))
    for token in tokenize(text):
        clock.advance(0.02)
        view.append(token)
        assert final.startswith(letters("".join(page.region("a").blocks)))


def test_text_on_screen_never_disappears():
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", "".join(answer_tokens(4000)))
    clock = FakeClock()
    page = PageModel(clock)
    view = LiveMarkdown(page, "a", render_interval=INTERVAL, clock=clock)
    shown = 0
    for token in tokenize(text):
        clock.advance(0.02)
        view.append(token)
        visible = sum(c.isalnum() for c in letters(page.visible()))
        assert visible >= shown
        shown = visible


def one_paragraph_while_streaming(text: str, **kwargs) -> Tuple[LiveMarkdown, PageModel]:
    """Stream ``text`` token by token; at every step the page has no finished block (one paragraph)."""
    clock = FakeClock()
    page = PageModel(clock)
    view = LiveMarkdown(page, "a", render_interval=INTERVAL, clock=clock, **kwargs)
    for token in tokenize(text):
        clock.advance(0.02)
        view.append(token)
        assert page.region("a").blocks == []  # never split into separate blocks
        assert page.visible().count("<p>") <= 1
    return view, page


@pytest.mark.parametrize("text", [
    "Über die Brücke gehen wir. Ärger gibt es nie. Öfter lesen hilft. " * 12,
    "Привет мир. Это длинный текст. Ещё одно предложение. " * 12,
    "这是一个很长的中文段落，没有空格。我们继续写下去。" * 20,
    "長い日本語の段落です。句読点の後にも空白はありません。" * 20,
    "apples, pears, plums, cherries, quinces, figs, dates, limes, " * 20,
], ids=["german-capitals", "russian", "chinese", "japanese", "comma-list"])
def test_a_long_paragraph_in_any_script_grows_in_place_and_is_committed_as_it_goes(text):
    view, page = one_paragraph_while_streaming(text)
    assert view.stats["commits"] >= 5  # committed at seams: the parsed tail stays short
    assert len(view._tail) < 200
    assert letters(page.visible()) == letters(live_render(text[: len(view.text)]))[: len(letters(page.visible()))]


def test_a_long_paragraph_is_not_committed_inside_open_emphasis(unlimited_budget):
    opening = "Plain words come first here. " * 5
    inside = "**This bold part runs on. It has sentences. " * 6
    view, _, page = stream(tokenize(opening + inside), 0.02)
    assert view.stats["commits"] >= 1
    assert "**" in view._tail  # the open emphasis is still in the live tail
    assert "<strong>" not in view._committed


def test_a_single_very_long_list_item_is_committed_inside_the_item():
    text = "- " + "a very long single list item with many words " * 30
    clock = FakeClock()
    page = PageModel(clock)
    view = LiveMarkdown(page, "a", render_interval=INTERVAL, clock=clock)
    for token in tokenize(text):
        clock.advance(0.02)
        view.append(token)
    assert view.stats["commits"] >= 5 and len(view._tail) < 200
    assert page.visible().startswith("<ul>\n<li>a very long") and page.visible().count("<li>") == 1


def test_a_very_long_code_line_stays_one_line_and_an_indented_code_block_grows_in_place():
    long_line = "```python\nx = [" + ", ".join(str(i) for i in range(400)) + "]\n```\n"
    view, clock, page = stream(tokenize(long_line), 0.02)
    clock.now += 1
    view.refresh()
    assert page.visible().count("<pre>") == 1 and "399" in page.visible()
    indented = "".join(f"    line_{i} = {i}\n" for i in range(60))
    view, clock, page = stream(tokenize("Intro.\n\n" + indented), 0.02)
    clock.now += 1
    view.refresh()
    assert page.visible().count("<pre>") == 1 and "line_59" in page.visible()


def test_an_open_code_fence_is_committed_line_by_line_and_grows_in_place(unlimited_budget):
    code = "".join(f"value_{i} = compute({i}, limit=10)\n" for i in range(30))
    view, clock, page = stream(tokenize("```python\n" + code + "result = fin"), 0.02)
    clock.now += 1
    view.refresh()
    assert view.stats["commits"] >= 3
    assert page.region("a").blocks == [] and page.visible().count("<pre>") == 1
    assert page.visible().endswith("result = fin")
    assert view._tail.count("value_") <= 3  # only the last lines are parsed again


def test_a_long_list_is_committed_item_by_item_in_one_list(unlimited_budget):
    items = "".join(f"{i}. Item number {i} has a few words in it\n" for i in range(1, 13))
    view, clock, page = stream(tokenize(items + "13. last"), 0.02)
    clock.now += 1
    view.refresh()
    assert view.stats["commits"] >= 1
    assert page.visible().count("<ol") == 1 and page.visible().count("<li>") == 13
    assert page.visible().endswith("<li>last")


def test_a_long_table_is_committed_row_by_row_under_one_header(unlimited_budget):
    rows = "".join(f"| row {i} | {i * 7} | some note about row {i} |\n" for i in range(12))
    view, clock, page = stream(tokenize("| name | size | note |\n|---|---:|---|\n" + rows), 0.02)
    clock.now += 1
    view.refresh()
    shown = page.visible()
    assert view.stats["commits"] >= 2
    assert shown.count("<table>") == 1 and shown.count("<th>") == 2
    assert letters(shown) == letters(render_markdown(view.text))


def test_a_line_break_split_across_deltas_is_one_newline(unlimited_budget):
    view, clock, page = stream(["Para one\r", "\n\r\n", "Para two"], 0.1)
    assert page.region("a").blocks == ["<p>Para one"]
    view.finish()
    assert view.text == "Para one\r\n\r\nPara two"


def test_emoji_and_other_astral_characters_patch_the_right_place():
    view, _, page = stream(tokenize("Smile 😀 and *more* 😀😀 text here. " * 10), 0.06)
    clock = page.clock
    clock.now += 1
    view.refresh()
    assert letters(page.visible()) == letters(live_render(view.text))


# --- --plain ---------------------------------------------------------------------------


def test_plain_mode_shows_escaped_text_not_markdown(unlimited_budget):
    view, _, page = stream(["**not bold** <b>", "\n" * 2, "x" * 200, "\nmore"], 0.1, plain=True)
    assert "&lt;b&gt;" in page.visible() and "<strong>" not in page.visible()
    html, _ = view.finish()
    assert html == answer_html(render_plain(view.text))


_CLOSERS_AT_THE_END = re.compile(r"(?:\s*</[a-z][a-z0-9]*>)+\s*$")  # what the open block leaves off


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<p>", "</p>", "</li>\n", "</ul>", "</em>", "</Em>", "</h2 >", " ", "\n",
                                 "\t", "x", ">", "<", "</", "&gt;", "</code></pre>\n", "\u3000"]), max_size=12))
def test_the_closing_tags_an_open_block_ends_with_are_left_off_and_nothing_else(parts):
    html = "".join(parts)
    assert without_trailing_closers(html) == _CLOSERS_AT_THE_END.sub("", html)
