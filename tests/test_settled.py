"""The final block rendered while the answer streams (issue 26 point 3, render/settled.py).

The settled blocks of an answer are rendered on the frame thread as the text arrives, and the
final block is their HTML plus the rest rendered at the end. That must be byte for byte
``render_markdown`` of the whole answer, whatever the answer and wherever the stream was cut:
generated answers mix paragraphs, headings, lists (tight, loose, nested, ordered), tables, code
fences (closed, unclosed, highlighted), indented code, quotes, display math, setext underlines,
reference links and definitions, amsmath environments and CRLF.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from oai_magic.render.chrome import answer_html
from oai_magic.render.live import LiveMarkdown
from oai_magic.render.markdown import render_markdown
from oai_magic.render.settled import SettledBlocks

from .page_model import PageModel
from .synthetic import FakeClock

BLOCKS = [
    "A paragraph with **bold**, `code`, a [link](https://example.com) and $x^2$.",
    "Second line of a paragraph\ncontinued lazily",
    "# Heading", "Setext heading\n===", "Not a heading\n---",
    "- item one\n- item two", "- loose one\n\n- loose two", "1. first\n2. second", "3. starts at three",
    "2", "2.", "-", "- nested\n  - inner\n    1. deep", "  indented continuation",
    "| a | b |\n|---|--:|\n| 1 | 2 |", "| half a table",
    "```python\ndef f(x):\n    return x * 2\n```", "```js\nlet a = 1;\n\n\nlet b = 2;\n```",
    "```\nno language\n```", "```python\nunclosed = True", "~~~\ntilde\n~~~",
    "    indented code", "> a quote\nlazy", "> another quote",
    "$$\nx^2\n$$", "$$\nunclosed math", "$$", "\\[\na_1\n\\]",
    "See [the docs][ref] and [ref].", "[ref]: https://example.com/docs", "\\begin{align}\na &= b",
    "\\end{align}", "***", "Windows line\r\nends", "<b>raw</b> & stuff", "中文段落，没有空格。",
]

# What reaches back across blank lines (or continues a list after one) comes up more often.
REACHING = ["See [the docs][ref] and [ref].", "[ref]: https://example.com/docs", "\\begin{align}\na &= b",
            "\\end{align}", "$$\nunclosed math", "$$", "2.", "-", "  indented continuation", "Windows line\r\nends"]
ANSWERS = st.lists(st.tuples(st.sampled_from(BLOCKS + REACHING * 2), st.sampled_from(["\n\n", "\n", "\n\n\n", " \n\n"])),
                   min_size=1, max_size=14).map(lambda parts: "".join(b + sep for b, sep in parts))


def settled_body(text: str, cuts) -> SettledBlocks:
    received = []
    blocks = SettledBlocks(lambda: "".join(received), step_chars=1)
    last = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        received.append(text[last:cut])
        last = cut
        blocks.grew(len("".join(received)))
    return blocks


@settings(max_examples=1000, deadline=None)
# What hypothesis found with each guard of settled.py taken out:
@example("See [ref].\n\nPara.\n\n[ref]: https://example.com/docs\n\n", [12])  # "]:"
@example("Para.\n\n\\begin{align}\na &= b\n\nPara.\n\n\\end{align}\n\n", [30])  # "\\begin{"
@example("$$\nunclosed math\n```\nno language\n```\n$$\nx^2\n$$\n\n", [21])  # a blank line before
@example("1. first\n2. second\n\n\n1. first\n2. second\n\n", [22])  # complete lines only
@given(ANSWERS, st.lists(st.integers(min_value=0, max_value=600), max_size=12))
def test_settled_blocks_and_the_rest_render_exactly_as_the_whole_answer(text, cuts):
    cuts = [c for c in cuts if c <= len(text)]
    blocks = settled_body(text, cuts)
    assert blocks.body(text) == render_markdown(text)


def test_a_long_answer_is_mostly_settled_before_it_ends():
    text = "".join(f"## Part {i}\n\nSome text {i}.\n\n```python\nx = {i}\n```\n\n- a\n- b\n\n" for i in range(50))
    blocks = settled_body(text, range(0, len(text), 37))
    assert blocks._done > len(text) - 100  # all but the last blocks rendered while streaming
    assert blocks.body(text) == render_markdown(text)


def test_what_can_restyle_earlier_blocks_is_rendered_whole():
    # Blocks after a blank line are settled for CommonMark, but not for these two:
    head, tail = "\\begin{align}\nb\n\n", "Para.\n\n\\end{align}\n"
    assert render_markdown(head) + render_markdown(tail) != render_markdown(head + tail)
    text = "See [ref].\n\n" + "Para.\n\n" * 20 + "[ref]: https://example.com\n"
    blocks = settled_body(text, range(0, len(text), 5))
    pieced = "".join(blocks._parts) + render_markdown(text[blocks._done:])
    assert pieced != render_markdown(text)  # settled before the definition came: not usable
    assert blocks.body(text) == render_markdown(text)
    text = "Para.\n\n" * 20 + head + tail
    assert settled_body(text, range(0, len(text), 5)).body(text) == render_markdown(text)


def test_the_final_block_of_a_live_answer_is_the_whole_answer_rendered():
    clock = FakeClock()
    page = PageModel(clock)
    view = LiveMarkdown(page, "a", clock=clock)
    text = "".join(f"Paragraph {i} with `code` and **bold**.\n\n```python\nprint({i})\n```\n\n" for i in range(300))
    for at in range(0, len(text), 23):
        clock.advance(0.001)
        view.append(text[at:at + 23])
    assert view._settled._done > len(text) // 2  # steps were taken as the text arrived
    html, plain = view.finish()
    assert html == answer_html(render_markdown(text), None)
    assert plain == text


def test_a_fast_stream_leaves_little_to_render_at_the_end_whatever_the_frame_thread_does():
    # bench_kernel_path.py: 118,000 chars in 0.15 s. Steps on the frame thread ran two or three
    # times, took the GIL from the reading thread (each read waited for it) and still left 20-80%
    # of the answer to render after the last token. Steps are taken by the appending thread
    # itself, a bounded piece at a time, so what is left at the end is at most about one step,
    # however often the frame thread runs (here: never; the clock does not move).
    from oai_magic.render.settled import MAX_STEP_CHARS

    clock = FakeClock()
    view = LiveMarkdown(PageModel(clock), "a", clock=clock)
    text = "".join(f"Paragraph {i} with `code` and **bold**.\n\n```python\nprint({i})\n```\n\n- a\n- b\n\n"
                   for i in range(400))  # 30,000 chars: several steps' worth
    for at in range(0, len(text), 1200):
        view.append(text[at:at + 1200])
    assert len(text) - view._settled._done <= MAX_STEP_CHARS + 1200
    html, _ = view.finish()
    assert html == answer_html(render_markdown(text), None)


def test_a_block_longer_than_a_step_is_settled_once_it_has_ended():
    # A 300-line code fence is one block longer than MAX_STEP_CHARS (and shorter than
    # MAX_BLOCK_CHARS): no step can settle inside it. Once it has ended and the next block has
    # begun, it is settled whole, and what follows settles in steps again; the final block is
    # still the whole answer rendered.
    from oai_magic.render.settled import MAX_BLOCK_CHARS, MAX_STEP_CHARS

    fence = "```python\n" + "".join(f"value_{i} = compute(rows[{i}], scale={i})\n" for i in range(300)) + "```\n\n"
    assert MAX_STEP_CHARS < len(fence) < MAX_BLOCK_CHARS
    tail = "".join(f"Paragraph {i} after the code.\n\n" for i in range(400))
    text = "Intro.\n\n" + fence + tail
    received = []
    blocks = SettledBlocks(lambda: "".join(received))
    for at in range(0, len(text), 500):
        received.append(text[at:at + 500])
        blocks.grew(len("".join(received)))
    assert blocks._done > len(text) - len(tail) // 2  # past the fence, well into what follows
    assert blocks.body(text) == render_markdown(text)


@pytest.mark.parametrize("text", [
    pytest.param("- item\n\n" * 25_000, id="a loose list of 200,000 chars: one block"),
    pytest.param("\n" * 300_000, id="300,000 line ends"),
])
def test_a_block_that_never_ends_is_parsed_once_at_the_end_not_again_and_again(text):
    # Found by trying hostile answers on this module: tries at every doubling of one endless
    # block parsed about twice the answer while it streamed (one try of 100,000 chars held the
    # reading thread 0.5 s), then the final block parsed it all again. Now a block past
    # MAX_BLOCK_CHARS is left to the final block: a few windows are parsed, whatever the length.
    from oai_magic.render.settled import MAX_BLOCK_CHARS

    received = []
    blocks = SettledBlocks(lambda: "".join(received))
    for at in range(0, len(text), 700):
        received.append(text[at:at + 700])
        blocks.grew(len(text[:at + 700]))
    assert blocks.parsed_chars <= 5 * MAX_BLOCK_CHARS < len(text) // 2
    # (the final block is then render_markdown of the whole answer: the identity test above)
