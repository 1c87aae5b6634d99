"""The chat panel people keep open (issue 30), in a real JupyterLab and headless Chromium.

Shares the session's JupyterLab and browser with test_e2e_browser.py (conftest's ``lab``,
``browser`` and ``page``). Two tests, each a user's session with the panel: docked beside the
notebook and driven by the keyboard; inline, through long answers, conversations and a
kernel restart. Answers come from the practice server (no key). Screenshots go to
artifacts/screenshots (``screenshots``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import KERNEL_READY, add_notebook, open_notebook, run_cells_through

pytestmark = pytest.mark.xdist_group("jupyterlab")  # one worker, one JupyterLab (tests/scheduling.py)
expect.set_options(timeout=30_000)


def on_screen(page, locator) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


SETUP = "%load_ext oai_magic\n%oai practice --if-no-key"


def test_docked_panel_sends_with_enter_stops_with_esc_and_inserts_code_as_a_cell(
        lab, page, screenshots):
    cells = open_notebook(page, lab, add_notebook(lab, "panel-docked.ipynb",
                                                  [SETUP, "%chat_panel --side"]))
    run_cells_through(page, cells, 1)
    docked = page.locator(".jupyterlab-sidecar:visible .oai-panel")
    docked.wait_for()
    notebook_box = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").bounding_box()
    side_box = page.locator(".jupyterlab-sidecar").bounding_box()
    assert side_box["x"] >= notebook_box["x"] + notebook_box["width"] - 2  # beside, on the right
    expect(cells.nth(1)).to_contain_text("docked beside the notebook")
    box = docked.locator(".oai-input textarea")
    send = docked.get_by_role("button", name="Send")

    # Shift+Enter makes a new line and sends nothing; Enter sends.
    box.click()
    box.type("[[echo]] Here is code:")
    for line in ("", "```python", "answer = 6 * 7", "print(answer)", "```"):
        box.press("Shift+Enter")
        box.type(line)
    expect(box).to_have_value("[[echo]] Here is code:\n\n```python\nanswer = 6 * 7\nprint(answer)\n```")
    expect(docked.locator(".oai-user")).to_have_count(0)
    box.press("Enter")
    expect(docked.locator(".oai-footer")).to_have_count(1)
    expect(box).to_have_value("")
    expect(box).to_be_focused()  # focus is back in the box for the next prompt
    expect(docked.locator(".oai-transcript pre code").last).to_contain_text("answer = 6 * 7")

    # One footer per answer, and the status line does not repeat it.
    footer = docked.locator(".oai-footer").inner_text()
    assert "tokens" in footer
    assert "completion tokens" not in docked.locator(".oai-status").inner_text()

    # Up in the empty box recalls the last prompt.
    box.press("ArrowUp")
    expect(box).to_have_value("[[echo]] Here is code:\n\n```python\nanswer = 6 * 7\nprint(answer)\n```")
    box.fill("")

    # Insert as cell: the last code block becomes a cell below the active cell.
    before = cells.count()
    cells.nth(1).locator(".jp-InputPrompt").click()  # the active cell: the panel's
    docked.get_by_role("button", name="Insert as cell").click()
    expect(cells).to_have_count(before + 1)
    expect(cells.nth(2).locator(".cm-content")).to_have_text("answer = 6 * 7print(answer)")
    page.screenshot(path=str(screenshots / "30-panel-docked.png"))

    # Esc stops a streaming answer; the partial answer stays, marked.
    box.click()
    box.fill("A long story, please. [[tokens=1500]] [[pace=20]]")
    box.press("Enter")
    expect(docked.get_by_role("button", name="Stop")).to_be_enabled()
    docked.locator(".oai-live").first.wait_for()
    box.press("Escape")
    expect(docked.locator(".oai-mark")).to_contain_text("stopped — kept in")
    expect(send).to_be_enabled()
    expect(docked.locator(".oai-footer")).to_have_count(2)
    page.screenshot(path=str(screenshots / "30-panel-docked-stopped.png"))

    # Asked again, the docked panel of that conversation is focused, not docked twice.
    cells.nth(2).click()
    page.keyboard.press("Escape")
    page.keyboard.press("a")  # a cell above, in command mode
    page.keyboard.press("Enter")  # edit it
    page.keyboard.type("%chat_panel --side")
    page.keyboard.press("Shift+Enter")
    expect(cells.nth(2)).to_contain_text("docked beside the notebook")
    expect(page.locator(".jupyterlab-sidecar:visible .oai-panel")).to_have_count(1)
    expect(docked.locator(".oai-footer")).to_have_count(2)  # the same panel, not a new one
    assert page.dialogs == []


AT_BOTTOM = "t => t.scrollHeight - t.scrollTop - t.clientHeight < 48"


def test_inline_panel_scrolls_inside_itself_switches_conversations_and_says_when_the_kernel_restarted(
        lab, page, screenshots):
    cells = open_notebook(page, lab, add_notebook(lab, "panel-inline.ipynb", [SETUP, "%chat_panel"]))
    run_cells_through(page, cells, 1)
    panel = cells.nth(1).locator(".oai-panel")
    panel.wait_for()
    box = panel.locator(".oai-input textarea")
    transcript = panel.locator(".oai-transcript")

    # Four long answers: the transcript scrolls inside the panel, the input bar stays visible.
    for number in range(1, 5):
        # paced where the test watches it stream (a table drawn live; a scroll during the answer)
        pace = "[[pace=10]]" if number == 4 else "[[pace=1]]"
        shape = "[[shape=table]] [[pace=8]]" if number == 1 else pace
        box.fill(f"Answer {number}, at length. [[tokens=400]] {shape}")
        box.press("Enter")
        if number == 1:  # a table stays where it is drawn while streaming: no jump at the end
            live_left = page.wait_for_function(
                "() => { const t = document.querySelector('.oai-panel .oai-live table');"
                " return t && t.rows.length > 2 && t.getBoundingClientRect().left; }").json_value()
            expect(panel.locator(".oai-footer")).to_have_count(1, timeout=60_000)
            final_left = transcript.locator("table").first.bounding_box()["x"]
            assert abs(final_left - live_left) <= 1, (live_left, final_left)
        if number == 4:  # scrolled up while it streams: it stops following, "Jump to latest" shows
            panel.locator(".oai-live").first.wait_for()
            transcript.evaluate("t => { t.scrollTop = 0; t.dispatchEvent(new Event('scroll')); }")
            jump = panel.locator(".oai-jump")
            expect(jump).to_be_visible()
            page.screenshot(path=str(screenshots / "30-panel-inline-jump.png"))
            jump.click()
        expect(panel.locator(".oai-footer")).to_have_count(number, timeout=60_000)
    expect(panel.get_by_role("button", name="Send")).to_be_enabled()
    panel.scroll_into_view_if_needed()
    height = page.viewport_size["height"]
    panel_box = panel.bounding_box()
    assert panel_box["height"] <= 0.65 * height, panel_box  # about 60% of the window
    assert on_screen(page, box) and on_screen(page, panel.get_by_role("button", name="Send"))
    assert transcript.evaluate("t => t.scrollHeight > 2 * t.clientHeight")  # it scrolls inside
    # and follows the answer to its end (it scrolls at the next frame after the final block)
    page.wait_for_function(AT_BOTTOM, arg=transcript.element_handle(), timeout=5_000)
    page.screenshot(path=str(screenshots / "30-panel-inline-four-answers.png"))

    # Conversations: New starts an empty one; switching back redraws 'default' from the session.
    panel.get_by_role("button", name="New").click()
    expect(panel.locator(".oai-user")).to_have_count(0)
    box.fill("[[echo]] In the new conversation")
    box.press("Enter")
    expect(panel.locator(".oai-footer")).to_have_count(1)
    panel.get_by_label("Conversation").select_option("default")
    expect(panel.locator(".oai-user")).to_have_count(4)
    expect(transcript).to_contain_text("Answer 4, at length.")
    expect(transcript).not_to_contain_text("In the new conversation")

    # A kernel restart: the panel says so inside itself...
    page.get_by_role("menuitem", name="Kernel").click()
    page.get_by_role("menuitem", name="Restart Kernel…").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    notice = panel.locator(".oai-restart-notice")
    expect(notice).to_have_text("The kernel restarted: run %chat_panel to continue; your "
                                "conversations are in the log.")
    expect(box).to_be_disabled()
    # ...once: JupyterLab's broken-link icon on each dead widget is hidden inside the panel.
    page.wait_for_function("() => document.querySelectorAll('.oai-panel .jupyter-widgets-disconnected')"
                           ".length > 5")
    icons = panel.evaluate("p => [p, ...p.querySelectorAll('.jupyter-widgets-disconnected')].filter("
                           "e => getComputedStyle(e, '::before').content !== 'none').length")
    assert icons == 0
    expect(panel.locator(".oai-recorder-line")).to_be_hidden()  # its "restarted" line too
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "30-panel-after-restart.png"))

    # ...and %chat_panel in the new kernel offers Resume, which brings the conversations back.
    page.wait_for_function(KERNEL_READY, arg="panel-inline.ipynb", polling=100, timeout=90_000)
    run_cells_through(page, cells, 1)
    panel = cells.nth(1).locator(".oai-panel")
    resume = panel.get_by_role("button", name="Resume")
    expect(resume).to_be_visible()
    expect(panel).to_contain_text("This notebook has 2 saved conversations in the log.")
    page.screenshot(path=str(screenshots / "30-panel-resume.png"))
    resume.click()
    expect(panel.locator(".oai-user")).to_have_count(4)
    expect(resume).to_be_hidden()
    assert page.dialogs == []
