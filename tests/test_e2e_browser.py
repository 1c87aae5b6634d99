"""In a real JupyterLab, in headless Chromium: a streaming %%chat answer and the chat panel.

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run), never a downloaded build. The
notebooks run with no key, so answers come from the practice server, paced token by token.
Screenshots go to $OAI_E2E_SCREENSHOTS (default artifacts/screenshots).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import (
    add_notebook,
    cell_index,
    open_notebook,
    run_cells,
    run_cells_through,
)

pytestmark = pytest.mark.xdist_group("jupyterlab")  # one worker, one JupyterLab (tests/scheduling.py)
expect.set_options(timeout=30_000)  # a loaded CI machine may take a while to draw an update

# Records the text length of an element at every DOM change, and whether a "done" marker (the
# answer's footer, or a stop mark) was there: [doneSelector, how many of them mean done].
RECORD_SIZES = """(element, [doneSelector, doneCount]) => {
    window.__oaiSizes = [];
    const record = () => {
        const size = element.innerText.length;
        const done = element.querySelectorAll(doneSelector).length >= doneCount;
        const sizes = window.__oaiSizes;
        const last = sizes[sizes.length - 1];
        if (!last || last.size !== size || last.done !== done) sizes.push({size, done});
    };
    record();
    window.__oaiObserver && window.__oaiObserver.disconnect();
    window.__oaiObserver = new MutationObserver(record);
    window.__oaiObserver.observe(element, {subtree: true, childList: true, characterData: true});
}"""
GREW_WHILE_STREAMING = """n => new Set(window.__oaiSizes.filter(s => !s.done).map(s => s.size)).size >= n"""


def streaming_sizes(page) -> list:
    """Distinct sizes seen before the done marker, in order (the first is the size before)."""
    sizes = [s["size"] for s in page.evaluate("window.__oaiSizes") if not s["done"]]
    return list(dict.fromkeys(sizes))


def test_chat_answer_grows_in_steps_and_ends_as_safe_rendered_markdown(lab, page, screenshots):
    cells = open_notebook(page, lab, "01-quickstart.ipynb")
    target = cell_index(cells, '<script>alert("hi")</script>')
    cell = cells.nth(target)
    output = cell.locator(".jp-Cell-outputArea")
    output.evaluate(RECORD_SIZES, [".oai-footer", 1])

    # the setup cell, then this one: the guide's paced answers between them cost 7 s here, and
    # tests/test_notebooks.py runs them
    run_cells(page, cells, [1, target])
    page.wait_for_function(GREW_WHILE_STREAMING, arg=3)
    cell.screenshot(path=str(screenshots / "01-quickstart-chat-streaming.png"))
    output.locator(".oai-footer").wait_for()
    cell.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "01-quickstart-chat-page.png"))
    cell.screenshot(path=str(screenshots / "01-quickstart-chat-final.png"))

    streaming = [size for size in streaming_sizes(page) if size > 0]
    final = page.evaluate("window.__oaiSizes").pop()["size"]
    assert len(streaming) >= 3, streaming  # several visible steps before the end...
    assert streaming[0] < max(streaming) <= final + 100, (streaming, final)  # ...growing
    assert output.locator("h2").count() >= 1  # heading
    assert output.locator("table th").first.inner_text() == "Setting"  # table
    assert output.locator("pre code.language-python span[style*='color']").count() >= 3  # highlighted
    shown = output.inner_text()
    assert '<script>alert("hi")</script>' in shown  # the tag is shown as text...
    assert output.locator("script").count() == 0  # ...and is not an element
    assert "| ---" not in shown and "```" not in shown
    assert page.dialogs == []


def test_chat_panel_streams_an_answer_and_stop_keeps_the_partial_answer_marked(lab, page, screenshots):
    cells = open_notebook(page, lab, "04-chat-panel.ipynb")
    target = cell_index(cells, "%chat_panel")
    run_cells_through(page, cells, target)
    panel = cells.nth(target).locator(".jp-Cell-outputArea")
    message = panel.get_by_placeholder("Message (Markdown)")
    send = panel.get_by_role("button", name="Send")
    stop = panel.get_by_role("button", name="Stop")

    transcript_size = panel.evaluate("element => element.innerText.length")
    panel.evaluate(RECORD_SIZES, [".oai-footer", 1])
    message.fill("Hello from the browser: what can this panel do?")
    send.click()
    page.wait_for_function(GREW_WHILE_STREAMING, arg=4)
    panel.locator(".oai-footer").wait_for()
    send.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "04-chat-panel-answer.png"))
    grew = [size for size in streaming_sizes(page) if size > transcript_size]
    assert len(grew) >= 3, grew
    assert "You wrote: “Hello from the browser: what can this panel do?”" in panel.inner_text()
    expect(message).to_have_value("")

    panel.evaluate(RECORD_SIZES, [".oai-mark", 1])
    message.fill("Tell me a very long story. [[tokens=1500]]")
    send.click()
    page.wait_for_function(GREW_WHILE_STREAMING, arg=3)
    stop.click()
    mark = panel.locator(".oai-mark")
    expect(mark).to_contain_text("stopped — kept in")
    expect(panel).to_contain_text("Stopped: partial answer kept")  # the status line
    expect(send).to_be_enabled()
    expect(stop).to_be_disabled()
    stop.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "04-chat-panel-stopped.png"))
    stopped_answer = mark.locator("xpath=..").inner_text().replace(mark.inner_text(), "").strip()
    assert stopped_answer, "the partial answer is shown above its mark"
    assert page.dialogs == []


# Records, at every change of the answer, the text of each top-level paragraph, whether "Show more
# outputs" is on screen, and whether the footer (the end) has arrived.
RECORD_PARAGRAPHS = """(element) => {
    window.__oaiSamples = [];
    const record = () => {
        const answer = element.querySelector('.oai-answer');
        const text = p => {  // math compared as its place only: TeX live, typeset at the end
            const copy = p.cloneNode(true);
            copy.querySelectorAll('.math, mjx-container').forEach(m => m.replaceWith('[math]'));
            return copy.textContent.replace(/\\s+/g, ' ').trim();
        };
        const paragraphs = answer ? [...answer.querySelectorAll(':scope > p')].map(text) : [];
        window.__oaiSamples.push({
            t: Date.now(), paragraphs, size: element.textContent.length,
            more: element.textContent.includes('Show more outputs')
                || !!element.querySelector('.jp-TrimmedOutputs'),
            done: !!element.querySelector('.oai-footer'),
        });
    };
    record();
    window.__oaiObserver && window.__oaiObserver.disconnect();
    window.__oaiObserver = new MutationObserver(record);
    window.__oaiObserver.observe(element, {subtree: true, childList: true, characterData: true});
}"""

LONG_ANSWER_CELLS = ["%load_ext oai_magic\n%oai practice --if-no-key",
                     "%%chat\nA long answer, please. [[tokens=1500]] [[pace=4]]"]
# 1,500 tokens 4 ms apart: a 6 s stream, about four tokens a frame, so the page still grows in
# many steps (the frame pacer, not the pace, sets how often, up to 60 a second) at 20% of the
# 20 ms cost: Chromium's work follows the seconds it draws a stream.


def test_a_long_paced_answer_keeps_growing_in_one_output_with_whole_paragraphs(lab, page, screenshots):
    cells = open_notebook(page, lab, add_notebook(lab, "long-answer.ipynb", LONG_ANSWER_CELLS))
    output = cells.nth(1).locator(".jp-Cell-outputArea")
    output.evaluate(RECORD_PARAGRAPHS)
    run_cells_through(page, cells, 1)
    page.wait_for_function("() => window.__oaiSamples.some(s => s.size > 2000 && !s.done)")
    cells.nth(1).screenshot(path=str(screenshots / "long-answer-streaming.png"))
    output.locator(".oai-footer").wait_for(timeout=120_000)
    cells.nth(1).screenshot(path=str(screenshots / "long-answer-final.png"))

    samples = page.evaluate("window.__oaiSamples")
    streaming = [s for s in samples if not s["done"]]
    final = [s for s in samples if s["done"]][-1]
    assert not any(s["more"] for s in samples), "JupyterLab trimmed the outputs (Show more outputs)"
    assert output.locator(".jp-OutputArea-child").count() == 1  # one output, start to end
    sizes = [s["size"] for s in streaming]
    assert len(set(sizes)) >= 50, "the answer grew in many steps"
    assert max(sizes) >= 0.8 * final["size"], "it kept growing to the end: no freeze"
    growth_times = [b["t"] for a, b in zip(streaming, streaming[1:]) if b["size"] > a["size"]]
    assert max(growth_times) - min(growth_times) >= 3_000  # growing through the whole ~6 s stream
    ends = final["paragraphs"]
    for sample in streaming:  # every live paragraph but the open (last) one is a whole final one
        live = sample["paragraphs"]
        assert len(live) <= len(ends), "a paragraph was split while streaming"
        for index, text in enumerate(live[:-1]):
            assert text == ends[index], (index, text, ends[index])
    # ...and the open one grows in place: most samples show it as the start of its final paragraph
    open_ok = [ends[len(s["paragraphs"]) - 1].startswith(s["paragraphs"][-1])
               for s in streaming if s["paragraphs"]]
    assert sum(open_ok) >= 0.9 * len(open_ok)


TOOLS_CELLS = ["%load_ext oai_magic\n%oai practice --if-no-key",
               "calls = []\ndef double(x: int) -> int:\n    calls.append(x)\n    return 2 * x",
               "%chat_panel -c tools"]


def test_the_panel_asks_before_a_tool_runs_and_approve_runs_it(lab, page, screenshots):
    cells = open_notebook(page, lab, add_notebook(lab, "panel-tools.ipynb", TOOLS_CELLS))
    run_cells_through(page, cells, 2)
    panel = cells.nth(2).locator(".jp-Cell-outputArea")
    tools = panel.get_by_placeholder("f, mcp:server/tool")
    tools.fill("double")
    tools.press("Enter")  # the field sends its value on Enter or blur
    panel.get_by_placeholder("Message (Markdown)").fill("Double 21")
    panel.get_by_role("button", name="Send").click()
    approve = panel.get_by_role("button", name="Approve")
    approve.wait_for()
    expect(panel.get_by_role("button", name="Deny")).to_be_visible()
    expect(panel.locator(".oai-tool-call")).to_contain_text("double")
    expect(panel).to_contain_text("The tool double waits for Approve or Deny")
    approve.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "27-panel-tool-approve.png"))
    approve.click()
    panel.locator(".oai-footer").wait_for()
    expect(panel.locator(".oai-tool-call")).to_contain_text("✓ returned")
    expect(panel.locator(".oai-tool-call")).to_contain_text("42")
    expect(panel.get_by_role("button", name="Approve")).to_have_count(0)
    panel.locator(".oai-footer").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "27-panel-tool-approved.png"))
    assert page.dialogs == []


# 200 tokens 5 ms apart: a 1 s stream, long enough for the page to see the live store open.
FREED_CELLS = [LONG_ANSWER_CELLS[0], "%%chat\nA short answer, please. [[tokens=200]] [[pace=5]]"]
LIVE_STORES = "() => Array.from((globalThis.__oaiLiveStores || new Map()).keys())"
# Every live store the page opens from now on, seen at each frame: a short answer's store may come
# and go between two calls of the test. The look stops once a store it saw is gone (the answer freed
# it), or after 60 s: the page is shared, and a look every frame keeps Chromium drawing.
SEE_STORES = f"""() => {{
    window.__oaiSeenStores = new Set();
    const before = ({LIVE_STORES})(), stop = performance.now() + 60000;
    const look = () => {{
        const now = ({LIVE_STORES})();
        now.filter(u => !before.includes(u)).forEach(u => window.__oaiSeenStores.add(u));
        const freed = [...window.__oaiSeenStores].some(u => !now.includes(u));
        if (!freed && performance.now() < stop) requestAnimationFrame(look);
    }};
    look();
}}"""


def test_a_finished_answer_frees_its_live_store_and_a_reload_still_shows_it(lab, page, screenshots):
    import json

    cells = open_notebook(page, lab, add_notebook(lab, "freed.ipynb", FREED_CELLS))
    page.evaluate(SEE_STORES)
    run_cells_through(page, cells, 1)
    page.wait_for_function("() => window.__oaiSeenStores.size > 0")
    streaming = set(page.evaluate("() => [...window.__oaiSeenStores]"))  # this answer's store
    output = cells.nth(1).locator(".jp-Cell-outputArea")
    output.locator(".oai-footer").wait_for(timeout=120_000)
    page.wait_for_function(f"() => !({LIVE_STORES})().some(u => {json.dumps(sorted(streaming))}.includes(u))")
    assert streaming and not streaming & set(page.evaluate(LIVE_STORES))  # freed once closed
    answer = output.locator(".oai-answer").inner_text()
    assert len(answer) > 100

    page.keyboard.press("Control+s")
    expect(page.locator(".lm-TabBar-tab.jp-mod-dirty")).to_have_count(0)
    page.reload()
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
    expect(cells).to_have_count(3, timeout=90_000)  # Shift+Enter on the last cell added one
    reloaded = cells.nth(1).locator(".jp-Cell-outputArea .oai-answer")
    expect(reloaded).to_have_text(answer)  # the saved notebook holds the final answer
    cells.nth(1).screenshot(path=str(screenshots / "freed-store-reloaded.png"))
