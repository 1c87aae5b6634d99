"""In a real JupyterLab and headless Chromium with a fake microphone (tests/browser.py's flags play
tests/fixtures/hello.wav as the microphone): record about 3 s with %transcribe --mic, stop, and
the upload, the result variable and the saved file hold those 3 s; in the chat panel, the
recording's transcript lands in the message box, unsent."""

from __future__ import annotations

import re
import wave

import pytest
from playwright.sync_api import expect

from tests.browser import add_notebook, cell_index, open_notebook, run_cells, run_cells_through

pytestmark = pytest.mark.xdist_group("jupyterlab")  # one worker, one JupyterLab (tests/scheduling.py)
expect.set_options(timeout=30_000)

def recorded_seconds(elapsed) -> float:
    """What the recorder's clock shows once stopped: the length of what it recorded (it stops
    with the last samples taken). A Stop that lands late on a loaded machine records longer, so
    the upload is compared with this, not with when the test pressed Stop."""
    minutes, seconds = elapsed.inner_text().split(":")
    return int(minutes) * 60 + float(seconds)


ELAPSED_AT_LEAST = """([element, seconds]) => {
    const [m, s] = element.textContent.split(":");
    return Number(m) * 60 + Number(s) >= seconds;
}"""


def test_a_fake_microphone_recording_of_three_seconds_is_uploaded_kept_and_saved(lab, page, screenshots):
    page.context.grant_permissions(["microphone"])
    cells = open_notebook(page, lab, "03-transcribe.ipynb")
    target = cell_index(cells, "shows a recorder: press") + 1  # the cell after that text: its editor may not be drawn yet
    run_cells(page, cells, [1, target])  # the guide's setup cell, then its recorder
    cell = cells.nth(target)
    output = cell.locator(".jp-Cell-outputArea")
    record = output.get_by_role("button", name="Record", exact=True)
    expect(record).to_be_enabled()
    expect(output).to_contain_text("Press Record, then Stop recording: the result goes to memo")

    record.click()
    stop = output.get_by_role("button", name="Stop recording", exact=True)
    expect(stop).to_be_visible()
    elapsed = output.locator(".oai-elapsed")
    page.wait_for_function(ELAPSED_AT_LEAST, arg=[elapsed.element_handle(), 1.5])
    expect(output.locator("[role=meter]")).not_to_have_attribute("aria-valuenow", "0")
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(screenshots / "03-transcribe-mic-recording.png"))
    page.wait_for_function(ELAPSED_AT_LEAST, arg=[elapsed.element_handle(), 3.0])
    stop.click()

    expect(output.locator(".oai-footer")).to_be_visible()  # the transcript arrived under the recorder
    expect(record).to_be_disabled()  # one recording per %transcribe --mic
    expect(output.locator("[role=status]")).to_contain_text("memo.text holds the transcript")
    cell.screenshot(path=str(screenshots / "03-transcribe-mic-transcribed.png"))
    shown = output.inner_text()
    uploaded = float(re.search(r"recording\.wav: I heard ([\d.]+) s of 16 kHz mono audio", shown)[1])
    recorded = recorded_seconds(elapsed)
    assert recorded >= 3.0 and abs(uploaded - recorded) <= 0.15, (recorded, shown)  # what the server received

    after = cells.count() - 1  # the last cell: `memo`
    cells.nth(after).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    result = cells.nth(after).locator(".jp-OutputArea-output")
    expect(result).to_contain_text("<Recording memo done: ")
    seconds = float(re.search(r"done: ([\d.]+) s, text='\[practice transcript\] recording\.wav", result.inner_text())[1])
    assert abs(seconds - recorded) <= 0.15
    with wave.open(str(lab.root / "memo.wav"), "rb") as saved:  # --save wrote the same recording
        assert (saved.getframerate(), saved.getnchannels()) == (16000, 1)
        assert abs(saved.getnframes() / 16000 - seconds) <= 0.05  # the repr says one decimal
    assert page.dialogs == []


def restart_kernels(lab) -> None:
    """Restart every kernel of the server, as Kernel > Restart Kernel does (its REST call)."""
    import json
    import urllib.request

    headers = {"Authorization": f"token {lab.token}"}
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{lab.port}/api/kernels"
    with direct.open(urllib.request.Request(base, headers=headers), timeout=10) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/{kernel['id']}/restart", headers=headers, method="POST")
        direct.open(request, timeout=60).close()


def test_a_kernel_restart_during_a_recording_leaves_the_audio_in_the_page(lab, page, screenshots):
    page.context.grant_permissions(["microphone"])
    cells = open_notebook(page, lab, "03-transcribe.ipynb")
    target = cell_index(cells, "shows a recorder: press") + 1
    run_cells(page, cells, [1, target])  # the guide's setup cell, then its recorder
    output = cells.nth(target).locator(".jp-Cell-outputArea")
    output.get_by_role("button", name="Record", exact=True).click()
    elapsed = output.locator(".oai-elapsed")
    page.wait_for_function(ELAPSED_AT_LEAST, arg=[elapsed.element_handle(), 1.0])
    restart_kernels(lab)
    line = output.locator("[role=status]")
    expect(line).to_contain_text("The kernel restarted during the recording")
    download = output.get_by_role("link", name=re.compile(r"Download recording\.wav \(0:0\d\.\d\)"))
    expect(download).to_be_visible()
    cells.nth(target).screenshot(path=str(screenshots / "03-transcribe-mic-kernel-restarted.png"))
    with page.expect_download() as caught:
        download.click()
    with wave.open(str(caught.value.path()), "rb") as kept:
        assert kept.getframerate() == 16000 and kept.getnframes() >= 16000


def test_the_panels_record_button_puts_the_transcript_in_the_message_box_unsent(lab, page, screenshots):
    page.context.grant_permissions(["microphone"])
    setup = "%load_ext oai_magic\n%oai practice --if-no-key"
    cells = open_notebook(page, lab, add_notebook(lab, "panel-mic.ipynb", [setup, "%chat_panel"]))
    run_cells_through(page, cells, 1)
    panel = cells.nth(1).locator(".oai-panel")
    panel.wait_for()
    box = panel.locator(".oai-input textarea")
    box.fill("Summarise this:")
    bar = panel.locator(".oai-input-bar")
    record = bar.get_by_role("button", name="Record", exact=True)
    expect(record).to_be_enabled()
    record.click()
    stop = bar.get_by_role("button", name="Stop recording", exact=True)
    expect(stop).to_be_visible()
    elapsed = bar.locator(".oai-elapsed")
    page.wait_for_function(ELAPSED_AT_LEAST, arg=[elapsed.element_handle(), 2.5])
    stop.click()

    expect(box).to_have_value(re.compile(r"^Summarise this:\n\[practice transcript\] recording\.wav: "
                                         r"I heard [\d.]+ s of 16 kHz mono audio"))
    expect(box).to_be_enabled()
    expect(panel).to_contain_text("into the message box: edit it, then Send")
    uploaded = float(re.search(r"I heard ([\d.]+) s", box.input_value())[1])
    recorded = recorded_seconds(elapsed)
    assert recorded >= 2.5 and abs(uploaded - recorded) <= 0.15, (recorded, box.input_value())
    expect(panel.locator(".oai-user")).to_have_count(0)  # nothing was sent
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "28-panel-microphone.png"))
    assert page.dialogs == []
