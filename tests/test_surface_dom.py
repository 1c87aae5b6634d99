"""What surface.js does to the page, in Chromium, for the messages the kernel really sends.

No JupyterLab and no kernel: the ES module is loaded into a blank page with a stand-in for its
widget model, and the messages come from a real LiveSurface driven by LiveMarkdown in this
process (a fake clock, one draw a token). After every message the answer's DOM must be what
the page model (tests/page_model.py: surface.js's operations applied in Python) says it shows;
and a block that keeps growing (a paragraph or a list of thousands of words) must keep its
nodes: replacing them on every draw makes the browser lay out the whole block each frame, a
cost that grows with the block (issue 26: list answers were later on screen than prose).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from oai_magic.practice.corpus import shaped_pieces
from oai_magic.render import live, surface
from oai_magic.render.chrome import ANSWER_REGION
from oai_magic.render.live import LiveMarkdown
from oai_magic.render.surface import LiveSurface

from .page_model import PageModel
from .synthetic import FakeClock, answer_tokens, tokenize
from .test_live import TRICKY

PAGE = """<html><body><div id="out"></div><script type="module">
const url = URL.createObjectURL(new Blob([%s], {type: "text/javascript"}));
const surface = (await import(url)).default;
window.mount = (regions) => {
  let onMessage = null;
  const model = {
    get: (key) => (key === "uid" ? "test" : key === "regions" ? regions : null),
    on: (event, handler) => { onMessage = handler; },
    off: () => {},
  };
  surface.initialize({model});
  surface.render({model, el: document.getElementById("out")});
  window.send = (message) => onMessage(message);
};
window.answer = () => document.querySelector("#out .oai-answer");
window.ready = true;
</script></body></html>"""

# Applies each message, then compares the answer's DOM with the page model's: its finished blocks
# and its open block, each parsed on its own (as the page receives them).
APPLY_AND_COMPARE = """([steps, blocks]) => {
  const wrong = [];
  steps.forEach(([message, finished, open], index) => {
    send(message);
    const reference = document.createElement("div");
    for (const html of [...blocks.slice(0, finished), open]) {
      const template = document.createElement("template");
      template.innerHTML = html;
      reference.appendChild(template.content);
    }
    if (reference.innerHTML !== answer().innerHTML)
      wrong.push([index, answer().innerHTML.slice(-300), reference.innerHTML.slice(-300)]);
  });
  return wrong;
}"""


class Tee:
    """A surface that passes every operation to a real LiveSurface (whose messages are kept)
    and to a PageModel; each message is kept with what the model shows after it."""

    def __init__(self) -> None:
        self.live = LiveSurface([("a", "", ANSWER_REGION)], display_now=False)
        self.model = PageModel()
        self.sent: List[Any] = []
        self.steps: List[Tuple[Any, int, str]] = []
        self.live.widget.send = self.sent.append

    def __getattr__(self, name: str) -> Any:
        def both(*args: Any, **kwargs: Any) -> None:
            getattr(self.live, name)(*args, **kwargs)
            getattr(self.model, name)(*args, **kwargs)
        return both

    def flush(self) -> None:
        before = len(self.sent)
        self.live.flush()
        self.model.flush()
        if len(self.sent) > before:
            answer = self.model.region("a")
            self.steps.append((json.loads(json.dumps(self.sent[-1])), len(answer.blocks), answer.open))

    def apply(self, page: Any, start: int = 0, end: Any = None) -> list:
        """Messages ``start:end`` applied in ``page``; the steps where it showed something else."""
        return page.evaluate(APPLY_AND_COMPARE, [self.steps[start:end], self.model.region("a").blocks])


def streamed(pieces: List[str]) -> Tee:
    """The messages of an answer streamed one piece a frame and a bit (one draw a piece)."""
    clock, tee = FakeClock(), Tee()
    view = LiveMarkdown(tee, "a", clock=clock)
    for piece in pieces:
        clock.advance(0.020)
        view.append(piece)
    clock.advance(1.0)
    view.refresh()
    return tee


@pytest.fixture
def blank(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    source = Path(surface.__file__).with_name("surface.js").read_text(encoding="utf-8")
    page.set_content(PAGE % json.dumps(source))
    page.wait_for_function("window.ready === true")
    page.evaluate("regions => mount(regions)", [["a", "", ANSWER_REGION]])
    yield page
    context.close()


@pytest.fixture
def every_token_drawn(monkeypatch):
    """Draws spaced by frames only (not by the CPU guard's real time): the same messages each run."""
    monkeypatch.setattr(live, "CPU_SHARE", 0)


@pytest.mark.parametrize("pieces", [
    pytest.param(list(TRICKY), id="every-construct-by-char"),
    pytest.param(tokenize(TRICKY) + answer_tokens(600), id="answer-by-token"),
    pytest.param(list(shaped_pieces(400, "en", "list")), id="one-long-paragraph"),
    pytest.param(list("Text & more &amp; &lt;b&gt; <b>raw</b> a < b > c\r\nnext \0 line\r\n\r\n"
                      "| a | b |\n|---|---|\n| 1 & 2 | x < y |\n| z | w |\n\n```\n<i> & \n```\n"),
                 id="markup-characters-in-text"),
])
def test_after_every_message_the_page_shows_what_the_kernel_drew(blank, every_token_drawn, pieces):
    tee = streamed(pieces)
    assert len(tee.steps) > len(pieces) / 4
    assert tee.apply(blank) == []


def test_a_growing_paragraph_keeps_its_element_and_text_node(blank, every_token_drawn):
    tee = streamed(list(shaped_pieces(600, "en", "list")))  # "apples, pears, ...": one paragraph
    assert tee.apply(blank, 0, 5) == []
    blank.evaluate("() => { const p = answer().querySelector('p'); window.kept = [p, p.firstChild]; }")
    assert tee.apply(blank, 5) == []
    assert blank.evaluate("""() => {
        const p = answer().querySelector('p');
        return [answer().querySelectorAll('p').length, p === kept[0], p.firstChild === kept[1],
                p.childNodes.length, p.textContent.length];
    }""")[:4] == [1, True, True, 1]


def test_a_growing_list_keeps_the_items_it_already_shows(blank, every_token_drawn):
    items = "".join(f"- item {i}: {' '.join(['word'] * (i % 7 + 1))}\n" for i in range(150))
    tee = streamed(tokenize(items))
    shown = next(i for i, (_, _, html) in enumerate(tee.steps) if html.count("<li>") >= 3)
    assert tee.apply(blank, 0, shown + 1) == []
    blank.evaluate("() => { window.kept = [...answer().querySelectorAll('li')].slice(0, 2); }")
    assert tee.apply(blank, shown + 1) == []
    assert blank.evaluate("""() => {
        const items = answer().querySelectorAll('li');
        return [answer().querySelectorAll('ul').length, items.length, items[0] === kept[0],
                items[1] === kept[1]];
    }""") == [1, 150, True, True]


def test_a_message_given_another_size_shows_the_same(blank, monkeypatch):
    """A message exactly as long as the kernel's last one goes in a longer form (issue 26: the
    server's Nagle and the page's delayed ACK; see LiveSurface._framed): ``{x: ops, _: 0}``,
    whose ``_`` the page ignores, and ``{region: html}`` for an append."""
    monkeypatch.setattr(LiveSurface, "_last_message_bytes", 0)
    tee = Tee()
    for html in ("<p>one</p>", "<p>two</p>"):
        tee.live.set_html("a", html)
        tee.live.flush()
    for piece in ("<p>pears,", " plums,", " dates,"):
        tee.live.patch_open("a", tee.live._open_length("a"), piece)
        tee.live.flush()
    assert [type(m).__name__ if not isinstance(m, dict) else sorted(m) for m in tee.sent] == [
        ["x"], ["_", "x"], ["a"], "str", ["a"]]
    for message in tee.sent:
        blank.evaluate("message => send(message)", message)
    assert blank.evaluate("() => answer().innerHTML") == "<p>two</p><p>pears, plums, dates,</p>"
