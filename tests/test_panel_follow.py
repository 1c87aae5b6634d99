"""The panel's follow rule, in Chromium on a bare page: oai_magic/ui/panel/input.js itself keeps the
transcript at the bottom while an answer grows, stops when the user scrolls up, and "Jump to
latest" brings following back, even when the answer grows (its final block, footer and buttons)
between the jump and the browser's scroll event. That race is a click at the moment an answer
ends; in JupyterLab it showed as a panel left above its last answer, once in a loaded run."""

from __future__ import annotations

from pathlib import Path

INPUT_JS = Path(__file__).resolve().parent.parent / "oai_magic" / "ui" / "panel" / "input.js"

PAGE = """<!doctype html><div class="oai-panel">
<div class="oai-transcript" style="height: 200px; overflow: auto"><div style="height: 2000px">old</div></div>
<div id="input"></div></div>"""

# A model with what input.js reads; messages to the kernel are dropped.
RENDER = """() => {
    const model = {get: k => ({placeholder: "Message", value: "", disabled: false})[k],
                   set() {}, save_changes() {}, send() {}, on() {}, off() {}};
    window.__oaiInput.render({model, el: document.getElementById("input")});
}"""
FRAMES = "n => new Promise(done => { const step = k => k ? requestAnimationFrame(() => step(k - 1)) : done(); step(n); })"
STATE = """() => { const t = document.querySelector('.oai-transcript');
    return {gap: t.scrollHeight - t.scrollTop - t.clientHeight,
            jump: !document.querySelector('.oai-jump').hidden}; }"""
GROW = """px => { const d = document.createElement('div'); d.style.height = px + 'px';
    d.textContent = 'more'; document.querySelector('.oai-transcript').append(d); }"""


def open_panel(browser):
    page = browser.new_page()
    page.set_content(PAGE)
    source = INPUT_JS.read_text().replace("export default", "window.__oaiInput =")
    page.add_script_tag(content=source, type="module")
    page.wait_for_function("() => !!window.__oaiInput")
    page.evaluate(RENDER)
    page.evaluate(FRAMES, 3)
    return page


def test_the_transcript_follows_a_growing_answer_and_stops_when_the_user_scrolls_up(browser):
    page = open_panel(browser)
    try:
        assert page.evaluate(STATE) == {"gap": 0, "jump": False}
        page.evaluate(GROW, 300)
        page.evaluate(FRAMES, 3)
        assert page.evaluate(STATE) == {"gap": 0, "jump": False}  # followed
        page.evaluate("() => { document.querySelector('.oai-transcript').scrollTop = 0; }")
        page.evaluate(FRAMES, 3)
        page.evaluate(GROW, 300)
        page.evaluate(FRAMES, 3)
        state = page.evaluate(STATE)
        assert state["gap"] > 1000 and state["jump"], state  # left where the user scrolled
    finally:
        page.close()


def test_jump_to_latest_keeps_following_when_the_answer_grows_before_the_scroll_event(browser):
    page = open_panel(browser)
    try:
        page.evaluate("() => { document.querySelector('.oai-transcript').scrollTop = 0; }")
        page.evaluate(FRAMES, 3)
        page.evaluate(GROW, 50)  # the answer streams on while the user reads above
        page.evaluate(FRAMES, 3)
        assert page.evaluate(STATE)["jump"]
        # The click scrolls to the bottom; before the browser fires its scroll event, the final
        # block and its footer land (300 px): that growth is not the user scrolling up.
        page.evaluate(f"() => {{ document.querySelector('.oai-jump').click(); ({GROW})(300); }}")
        page.evaluate(FRAMES, 3)
        assert page.evaluate(STATE) == {"gap": 0, "jump": False}
        page.evaluate(GROW, 300)  # and it keeps following what comes next
        page.evaluate(FRAMES, 3)
        assert page.evaluate(STATE) == {"gap": 0, "jump": False}
    finally:
        page.close()
