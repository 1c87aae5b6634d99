"""The notebook as context (issue 15): the last error, data summaries, images, the sent-line.

Every request goes to the practice server over a real socket; request bodies are validated
against the OpenAI spec (tests/fixtures/openapi, MIT). pandas, matplotlib and pillow are in the
``test`` extra, so nothing here skips.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from oai_magic.core.context import LastError, redact_text, summary
from oai_magic.image_header import read_header
from oai_magic.render.attachments import thumbnail_html
from oai_magic.state import Conversation, Message

from .conftest import TEST_KEY, run
from .openapi import validator

CHAT = "/chat/completions"


def valid_body(server) -> dict:
    """The last chat request, checked against the spec's CreateChatCompletionRequest."""
    body = server.requests[-1].json
    errors = [e.message for e in validator("CreateChatCompletionRequest").iter_errors(body)]
    assert errors == [], errors
    return body


def last_user(server) -> object:
    return server.requests[-1].json["messages"][-1]["content"]


def image_file(tmp_path, fmt="PNG", size=(640, 480), name=None) -> Path:
    from PIL import Image

    path = tmp_path / (name or f"picture.{fmt.lower()}")
    Image.new("RGB", size, (200, 80, 40)).save(path, format=fmt)
    return path


@pytest.fixture(autouse=True)
def _forget_variables(request):
    """The shell lives for the session: variables set here must not meet other tests."""
    if "shell" not in request.fixturenames:
        yield
        return
    shell = request.getfixturevalue("shell")
    before = set(shell.user_ns)
    yield
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def failing_cell(shell, source="def f(x):\n    return 1 / x\nf(0)"):
    result = shell.run_cell(source, store_history=False)
    assert result.error_in_exec is not None


# --------------------------------------------------------------------------- the last error


def test_chat_fix_sends_the_cell_and_traceback_and_offers_the_fix_as_next_cell(shell, server, capsys):
    failing_cell(shell)
    shell.rl_next_input = None
    run(shell, "%chat fix")
    body = valid_body(server)
    content = body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "text"]
    assert "corrected version of the whole cell" in content[0]["text"]
    sent = content[1]["text"]
    assert "def f(x):\n    return 1 / x\nf(0)" in sent
    assert "Traceback (most recent call last):" in sent and "ZeroDivisionError: division by zero" in sent
    assert "\x1b[" not in sent and "interactiveshell.py" not in sent
    out = capsys.readouterr().out
    assert "sent with the prompt: traceback (" in out
    assert "ZeroDivisionError (division by zero), raised at line 2: `return 1 / x`" in out
    assert "return 1 / x" in shell.rl_next_input  # the answer's last code block
    # recorded as sent, as content parts
    assert shell.magics_manager.registry["OAIMagics"].state.conversation().messages[0].content == content


def test_chat_fix_with_no_error_says_so_in_one_line_and_sends_nothing(shell, server, capsys):
    error = run(shell, "%chat fix", expect=UsageError)
    assert "no error in this kernel yet" in str(error)
    assert server.requests == []


def test_chat_fix_takes_options_only(shell, server):
    failing_cell(shell)
    error = run(shell, "%chat fix the loop please", expect=UsageError)
    assert "takes options only" in str(error)
    assert server.requests == []


def test_chat_fix_takes_a_conversation_and_a_model(shell, server):
    failing_cell(shell)
    run(shell, "%chat fix -c debugging -m gpt-4o")
    assert server.requests[-1].json["model"] == "gpt-4o"
    state = shell.magics_manager.registry["OAIMagics"].state
    assert len(state.conversation("debugging").messages) == 2


def test_our_own_usage_errors_are_not_the_last_error(shell, server):
    failing_cell(shell)
    run(shell, "%chat nonsense", expect=UsageError)  # a UsageError of ours
    run(shell, "%%chat --no-such-option\nhi", expect=UsageError)
    run(shell, "%%chat\n[[echo]] {error}")
    assert "ZeroDivisionError" in last_user(server)


def test_error_in_a_prompt_is_the_traceback_unless_a_variable_is_called_error(shell, server, capsys):
    error = run(shell, "%%chat\nWhy {error}?", expect=UsageError)
    assert "no error in this kernel yet" in str(error)
    assert server.requests == []
    failing_cell(shell, "int('x')")
    run(shell, "%%chat\n[[echo]] Why {error}?")
    assert "ValueError: invalid literal for int() with base 10: 'x'" in last_user(server)
    assert "sent with the prompt: traceback of the last error (" in capsys.readouterr().out
    shell.user_ns["error"] = "my own error text"
    try:
        run(shell, "%%chat\n[[echo]] Why {error}?")
    finally:
        del shell.user_ns["error"]
    assert last_user(server) == "[[echo]] Why my own error text?"
    assert "{error} is your variable error, not the last exception" in capsys.readouterr().out


def test_the_key_is_redacted_from_tracebacks_before_they_are_sent(shell, server):
    failing_cell(shell, f"raise RuntimeError('bad key {TEST_KEY} and part {TEST_KEY[5:20]}')")
    run(shell, "%chat fix")
    sent = json.dumps(server.requests[-1].json, ensure_ascii=False)
    assert TEST_KEY not in sent and TEST_KEY[5:20] not in sent
    assert "sk-…abcd" in sent
    assert redact_text("x" + TEST_KEY[3:16] + "y", TEST_KEY) == "xsk-…abcdy"


def test_a_long_traceback_is_capped_by_dropping_the_middle_frames(shell, server):
    chain = "".join(f"def step_{i}():\n    return step_{i + 1}()  # a comment to make the frame longer\n"
                    for i in range(200))
    failing_cell(shell, chain + "def step_200():\n    return 1 / 0\nstep_0()")
    run(shell, "%chat fix")
    sent = last_user(server)[1]["text"]
    assert 7000 < len(sent) <= 8000
    assert re.search(r"… \d+ frames in the middle left out …", sent)
    assert "more characters of the cell" in sent
    assert "step_0()" in sent and "return 1 / 0" in sent
    assert sent.rstrip("`\n").endswith("ZeroDivisionError: division by zero")


def test_last_error_text_strips_ansi_codes():
    try:
        raise ValueError("\x1b[31mred\x1b[0m text")
    except ValueError as exc:
        text = LastError("raise ValueError('\x1b[1mx')", exc).text()
    assert "\x1b" not in text and "ValueError: red text" in text


# --------------------------------------------------------------------------- variables


def test_a_dataframe_becomes_a_bounded_summary_and_full_sends_it_whole(shell, server, capsys):
    import pandas as pd

    shell.user_ns["df"] = pd.DataFrame({"city": [f"c{i}" for i in range(1000)],
                                        "people": list(range(1000))})
    run(shell, "%%chat\n[[echo]] Look at {df}")
    sent = last_user(server)
    assert "DataFrame `df`: 1000 rows × 2 columns" in sent
    assert re.search(r"columns: city \((object|str)\), people \(int64\)", sent)
    assert "| city | people |\n|---|---|\n| c0 | 0 |" in sent and "| c4 | 4 |" in sent
    assert "c5" not in sent and len(sent) < 500
    assert re.search(r"sent with the prompt: df summary \(\d+ chars\)", capsys.readouterr().out)
    run(shell, "%%chat\n[[echo]] {df!full}")
    assert last_user(server) == "[[echo]] " + str(shell.user_ns["df"])


def test_series_arrays_and_big_lists_are_summarised_small_values_are_not(shell, server):
    import numpy as np
    import pandas as pd

    ns = {"s": pd.Series(range(100), name="n"), "a": np.arange(12.0).reshape(3, 4),
          "big": list(range(2000)), "small": [1, 2], "word": "tides"}
    shell.user_ns.update(ns)
    run(shell, "%%chat\n[[echo]] {s} | {a} | {big} | {small} | {word}")
    sent = last_user(server)
    assert "Series `s` (name 'n'): 100 values, dtype int64; first 5: 0, 1, 2, 3, 4" in sent
    assert "array `a`: shape (3, 4), dtype float64; values: 0.0, 1.0" in sent
    assert "list `big` (2000 items), cut to 2000 characters: [0, 1, 2" in sent
    assert sent.endswith("| [1, 2] | tides")


class FakeFrame:
    """Neither pandas nor polars: summaries go by what an object can do, not by its module."""

    shape = (7, 2)
    columns = ["x", "y"]
    dtypes = ["Int64", "Utf8"]

    def head(self, n):
        frame = FakeFrame()
        frame.rows = lambda: [(i, f"v{i}") for i in range(n)]
        return frame


def test_duck_typed_data_objects_are_summarised_without_importing_anything():
    text = summary("frame", FakeFrame())
    assert text.startswith("DataFrame `frame`: 7 rows × 2 columns\ncolumns: x (Int64), y (Utf8)")
    assert "| 4 | v4 |" in text and "v5" not in text
    assert summary("n", 5) is None and summary("t", "text") is None


def test_context_attaches_summarised_variables_before_the_prompt(shell, server, capsys):
    import pandas as pd

    shell.user_ns.update(df=pd.DataFrame({"a": [1, 2]}), goal="find outliers")
    run(shell, "%%chat --context df,goal\nWhat stands out?")
    content = valid_body(server)["messages"][-1]["content"]
    assert content[0]["type"] == "text" and content[0]["text"].startswith("Context:\n\nDataFrame `df`")
    assert "`goal` = find outliers" in content[0]["text"]
    assert content[1] == {"type": "text", "text": "What stands out?"}
    assert re.search(r"sent with the prompt: df summary \(\d+ chars\) · goal \(\d+ chars\)",
                     capsys.readouterr().out)
    error = run(shell, "%%chat --context nothing_here\nhi", expect=UsageError)
    assert "no variable named 'nothing_here'" in str(error)


def test_the_context_cap_refuses_before_anything_is_sent_and_names_the_biggest_part(shell, server):
    magics = shell.magics_manager.registry["OAIMagics"]
    shell.user_ns.update(big=list(range(3000)), note="n" * 5000, bigger=list(range(6000)))
    magics.max_context_chars = 1000
    try:
        error = run(shell, "%%chat --context big\nsee {bigger}", expect=UsageError)
        assert "over the 1,000 allowed" in str(error)
        assert "the biggest part is bigger summary" in str(error)
        error = run(shell, "%%chat\n{note!full}", expect=UsageError)
        assert "the biggest part is note (full) (5,000 characters)" in str(error)
        assert server.requests == []
        failing_cell(shell, "raise ValueError('v' * 3000)")
        error = run(shell, "%chat fix", expect=UsageError)
        assert "the biggest part is traceback" in str(error)
        assert server.requests == []
        run(shell, "%%chat\n[[echo]] {note}")  # a plain string typed on purpose is not capped
        assert last_user(server) == "[[echo]] " + "n" * 5000
    finally:
        magics.max_context_chars = 24000


# --------------------------------------------------------------------------- images


def _data_url_bytes(part) -> bytes:
    url = part["image_url"]["url"]
    prefix, encoded = url.split(",", 1)
    return prefix, base64.b64decode(encoded, validate=True)


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                      ("GIF", "image/gif"), ("WEBP", "image/webp")])
def test_an_image_file_goes_as_a_data_url_byte_identical_to_the_file(shell, server, tmp_path, fmt, mime,
                                                                      capsys):
    path = image_file(tmp_path, fmt, (64, 48))
    run(shell, f"%%chat --image {path} --detail low\nWhat is this?")
    content = valid_body(server)["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["image_url"]["detail"] == "low"
    prefix, data = _data_url_bytes(content[1])
    assert prefix == f"data:{mime};base64"
    assert data == path.read_bytes()
    out = capsys.readouterr().out
    assert f"I received a{'n' if fmt == 'ANY' else ''} {fmt} image, 64×48." in out
    assert f"sent with the prompt: {path.name} 64×48 {fmt} " in out


def test_formats_are_checked_by_magic_bytes_not_names(shell, server, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("just text")
    error = run(shell, f"%%chat --image {fake}\nhi", expect=UsageError)
    assert "not a PNG, JPEG, GIF or WebP image (by its first bytes)" in str(error)
    real = image_file(tmp_path, "JPEG", (10, 10), name="photo.png")  # a JPEG with a .png name
    run(shell, f"%%chat --image {real}\nhi")
    prefix, _ = _data_url_bytes(last_user(server)[1])
    assert prefix == "data:image/jpeg;base64"


def test_files_over_20_mb_are_refused_before_sending(shell, server, tmp_path):
    big = image_file(tmp_path, "PNG", (8, 8))
    with open(big, "r+b") as handle:
        handle.truncate(21 * 1024 * 1024)
    error = run(shell, f"%%chat --image {big}\nhi", expect=UsageError)
    assert "over the 20 MB limit; nothing sent" in str(error)
    assert server.requests == []
    shell.user_ns["huge"] = big.read_bytes()
    error = run(shell, "%%chat --image huge\nhi", expect=UsageError)
    assert "over the 20 MB limit" in str(error)
    assert server.requests == []


def test_variables_bytes_ipython_image_pil_image_and_a_figure(shell, server, tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from IPython.display import Image as IPyImage
    from matplotlib.figure import Figure
    from PIL import Image

    path = image_file(tmp_path, "PNG", (30, 20))
    figure = Figure(figsize=(4, 3), dpi=50)
    figure.add_subplot().plot([1, 3, 2])
    shell.user_ns.update(raw=path.read_bytes(), shown=IPyImage(filename=str(path)),
                         pil=Image.new("RGB", (12, 34)), fig=figure)
    run(shell, "%%chat --image raw --image shown --image pil --image fig\nCompare")
    parts = valid_body(server)["messages"][-1]["content"][1:]
    datas = [_data_url_bytes(p)[1] for p in parts]
    assert datas[0] == datas[1] == path.read_bytes()
    assert read_header(datas[2])[:] == ("PNG", 12, 34)
    assert read_header(datas[3])[:] == ("PNG", 200, 150)
    out = capsys.readouterr().out
    assert "I received a PNG image, 12×34." in out and "I received a PNG image, 200×150." in out
    assert "fig 200×150 PNG" in out
    shell.user_ns["nope"] = 42
    error = run(shell, "%%chat --image nope\nhi", expect=UsageError)
    assert "expected bytes, an IPython Image, a PIL image or a matplotlib Figure, got int" in str(
        error)


def test_figure_is_the_last_figure_shown_even_after_the_backend_closed_it(shell, server, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def close_like_the_inline_backend():
        plt.close("all")

    shell.events.register("post_execute", close_like_the_inline_backend)
    try:
        run(shell, "import matplotlib.pyplot as plt\nplt.figure(figsize=(3, 2), dpi=100)\nplt.plot([1, 2]);")
        assert plt.get_fignums() == []  # closed at the end of the cell, as inline does
        run(shell, "%%chat --image figure\nExplain the plot")
    finally:
        shell.events.unregister("post_execute", close_like_the_inline_backend)
    _, data = _data_url_bytes(valid_body(server)["messages"][-1]["content"][1])
    assert read_header(data)[:] == ("PNG", 300, 200)
    assert "sent with the prompt: figure 300×200 PNG" in capsys.readouterr().out


def test_https_urls_go_as_is_and_http_is_refused(shell, server):
    run(shell, "%%chat --image https://example.org/cat.png --detail high\nhi")
    part = valid_body(server)["messages"][-1]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": "https://example.org/cat.png", "detail": "high"}}
    error = run(shell, "%%chat --image http://example.org/cat.png\nhi", expect=UsageError)
    assert "only https:// URLs" in str(error)
    error = run(shell, "%%chat --detail low\nhi", expect=UsageError)
    assert "--detail goes with --image" in str(error)


def test_image_with_choices_and_with_tools_works(shell, server, tmp_path):
    path = image_file(tmp_path, "PNG", (16, 16))
    run(shell, f"%%chat -N 2 --image {path}\nTwo views")
    body = valid_body(server)
    assert body["n"] == 2 and body["messages"][-1]["content"][1]["type"] == "image_url"

    def get_time() -> str:
        """The time."""
        return "noon"

    shell.user_ns["get_time"] = get_time
    run(shell, f"%%chat --tools get_time --auto-tools --image {path}\n[[all-tools]] what time")
    first = server.requests[-2].json
    assert first["messages"][-1]["content"][1]["type"] == "image_url" and first["tools"]
    assert server.requests[-1].json["messages"][0]["content"][1]["type"] == "image_url"


def test_a_model_that_refuses_images_gets_a_hint(shell, server, tmp_path):
    from oai_magic.practice import Scripted

    body = json.dumps({"error": {"message": "Invalid content type. image_url is only supported by "
                                 "certain models.", "type": "invalid_request_error",
                                 "param": "messages.[0].content.[1].type", "code": None}}).encode()
    server.script(CHAT, Scripted(400, {"content-type": "application/json"}, body))
    path = image_file(tmp_path, "PNG", (16, 16))
    error = run(shell, f"%%chat --image {path}\nhi", expect=UsageError)
    assert "this model may not accept images" in str(error)


# --------------------------------------------------------------------------- visible, recorded


def _rich(shell):
    from .recording import Notebook

    return Notebook(shell)


def test_the_sent_line_is_above_the_answer_with_a_small_thumbnail(shell, server, tmp_path, frontend):
    import pandas as pd

    path = image_file(tmp_path, "PNG", (640, 480))
    shell.user_ns["df"] = pd.DataFrame({"a": [1]})
    with _rich(shell) as publisher:
        run(shell, f"%%chat --image {path}\n[[echo]] about {{df}}")
    html = publisher.messages[-1]["data"]["text/html"]
    text = publisher.messages[-1]["data"]["text/plain"]
    assert re.search(r"sent with the prompt: df summary \(\d+ chars\) · picture.png 640×480 PNG \d+\.\d KiB", text)
    notice_at = html.index("sent with the prompt")
    assert notice_at < html.index("about DataFrame")
    thumbnail = re.search(r'<img class="oai-thumbnail" src="data:image/png;base64,([^"]+)"', html)
    assert thumbnail and notice_at < thumbnail.start() < html.index("about DataFrame")
    assert read_header(base64.b64decode(thumbnail.group(1))).width <= 96  # PIL is loaded: resized
    # the live surface showed it too, from the start
    assert any("sent with the prompt" in json.dumps(state, default=str) for state in frontend.opened.values())


def test_without_pil_only_small_images_are_embedded_and_big_ones_are_a_chip(monkeypatch):
    from oai_magic.core.images import Attachment

    monkeypatch.delitem(sys.modules, "PIL.Image", raising=False)
    from PIL import Image

    small = io.BytesIO()
    Image.new("RGB", (40, 30)).save(small, format="PNG")
    big = io.BytesIO()
    Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3)).save(big, format="PNG")
    monkeypatch.delitem(sys.modules, "PIL.Image", raising=False)
    assert len(big.getvalue()) > 200 * 1024
    assert "<img" in thumbnail_html(Attachment("small", small.getvalue()))
    chip = thumbnail_html(Attachment("big", big.getvalue()))
    assert "<img" not in chip and "big 600×600 PNG" in chip and len(chip) < 400


def test_a_big_image_does_not_make_the_saved_output_big(shell, server, tmp_path, frontend):
    from PIL import Image

    path = tmp_path / "noise.png"
    Image.frombytes("RGB", (1500, 1500), os.urandom(1500 * 1500 * 3)).save(path, format="PNG")
    assert path.stat().st_size > 5 * 1024 * 1024
    with _rich(shell) as publisher:
        run(shell, f"%%chat --image {path}\nhi")
    assert len(server.requests[-1].body) > 5 * 1024 * 1024  # the image itself was sent whole
    assert publisher.messages[-1]["nbytes"] < 100 * 1024


def test_history_export_and_load_keep_the_images(shell, server, tmp_path, capsys):
    path = image_file(tmp_path, "PNG", (64, 48))
    shell.user_ns["goal"] = "x" * 3000
    run(shell, f"%%chat --image {path} --context goal\nDescribe it")
    capsys.readouterr()
    # history in a notebook: context collapsed, the image as a thumbnail (not the Markdown path)
    transcript = shell.run_line_magic("chat", "history")
    html = transcript._repr_html_()
    assert '<details class="oai-context' in html and "Context: (3.0 k chars)" in html
    assert '<img class="oai-thumbnail" src="data:image/png;base64,' in html
    assert "[1 image]" in repr(transcript)
    # %chat list shows the text, not the parts
    listing = repr(shell.run_line_magic("chat", "list"))
    assert "Describe" not in listing or "[{" not in listing
    # export JSON carries the data URL; Markdown writes images/ next to the export
    out_json, out_md = tmp_path / "out" / "talk.json", tmp_path / "out" / "talk.md"
    out_json.parent.mkdir()
    run(shell, f"%chat export {out_json}")
    run(shell, f"%chat export {out_md}")
    saved = json.loads(out_json.read_text())
    _, data = _data_url_bytes(saved["messages"][0]["content"][2])
    assert data == path.read_bytes()
    assert "![image 1](images/default-1.png)" in out_md.read_text()
    assert (out_json.parent / "images" / "default-1.png").read_bytes() == path.read_bytes()
    # load: the image is back, and the next turn sends it again, with a notice
    run(shell, f"%chat load {out_json} -c again")
    run(shell, "%%chat -c again\nAnd now?")
    body = valid_body(server)
    _, resent = _data_url_bytes(body["messages"][0]["content"][2])
    assert resent == path.read_bytes()
    assert "1 image from earlier turns sent again" in capsys.readouterr().out


def test_an_image_counts_a_fixed_token_estimate_in_the_history_budget():
    big_url = "data:image/png;base64," + "A" * 400_000
    thread = Conversation("t", messages=[
        Message("user", [{"type": "text", "text": "look"},
                         {"type": "image_url", "image_url": {"url": big_url}}]),
        Message("assistant", "a cat"),
    ])
    messages, dropped = thread.api_messages([Message("user", "more?")], max_tokens=2000)
    assert dropped == 0 and len(messages) == 3
    assert Message.from_dict(thread.messages[0].to_dict()) == thread.messages[0]
    with pytest.raises(ValueError):
        Message.from_dict({"role": "user", "content": [{"type": "audio"}]})


def test_in_a_terminal_the_sent_line_is_text(shell, server, tmp_path, capsys):
    path = image_file(tmp_path, "GIF", (5, 7))
    run(shell, f"%%chat --image {path}\nhi")
    out = capsys.readouterr().out
    assert out.startswith("[sent with the prompt: picture.gif 5×7 GIF ")
    assert "<img" not in out


def test_figure_shown_by_plt_show_in_the_cell_is_the_one_sent(shell, server):
    """The inline backend's plt.show() displays each figure and closes it within the cell."""
    import matplotlib

    matplotlib.use("Agg")
    run(shell, "import matplotlib.pyplot as plt\nfrom IPython.display import display\n"
               "shown = plt.figure(figsize=(2, 2), dpi=50)\ndisplay(shown)\nplt.close('all')")
    run(shell, "%%chat --image figure\nWhat is it?")
    _, data = _data_url_bytes(valid_body(server)["messages"][-1]["content"][1])
    assert read_header(data)[:] == ("PNG", 100, 100)


# --------------------------------------------------------------------------- the panel




def _upload(name, data):
    import datetime

    return ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now(datetime.UTC)},)


def _html_under(widget) -> str:
    from oai_magic.ui.panel.parts import descendants

    return "".join(str(getattr(w, "value", "")) for w in descendants(widget))


def test_the_panel_attaches_images_as_removable_chips_and_sends_them(shell, server, panel, tmp_path):
    path = image_file(tmp_path, "PNG", (64, 48), name="chart.png")
    p = panel("pics")
    p.image_upload.value = _upload("chart.png", path.read_bytes())
    assert p.image_upload.value == ()  # the bytes are not kept in widget state
    assert len(p.attachments.children) == 1
    assert re.fullmatch(r"chart\.png 64×48 PNG \d+ bytes ✕", p.attachments.children[0].description)
    p.attachments.children[0].click()  # remove it
    assert p.attachments.children == ()
    p.image_upload.value = _upload("chart.png", path.read_bytes())
    p.send("What is in it?")
    p.wait(10)
    content = valid_body(server)["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in it?"}
    assert _data_url_bytes(content[1])[1] == path.read_bytes()
    assert p.attachments.children == ()
    shown = _html_under(p.transcript)
    assert "sent with the prompt: chart.png 64×48 PNG" in shown and 'class="oai-thumbnail"' in shown
    assert "I received a PNG image, 64×48." in shown
    p.image_upload.value = _upload("notes.png", b"not an image")
    assert "not a PNG, JPEG, GIF or WebP image" in p.error


def test_the_panel_asks_about_the_last_error(shell, server, panel):
    p = panel("debug")
    p.fix_button.click()
    assert "no error in this kernel yet" in p.error and server.requests == []
    failing_cell(shell, "[][0]")
    p.fix_button.click()
    p.wait(10)
    content = valid_body(server)["messages"][-1]["content"]
    assert "IndexError: list index out of range" in content[1]["text"]
    shown = _html_under(p.transcript)
    assert "The traceback ends in IndexError (list index out of range)" in shown
    assert "sent with the prompt: traceback (" in shown


def test_an_image_and_an_audio_file_of_the_same_size_are_described_alike(tmp_path):
    """One way to say a size: the image chip said "1 KB" where the audio line said "1.5 KiB"."""
    from oai_magic.core.audio_sources import resolve_sources
    from oai_magic.core.images import Attachment
    from oai_magic.ui.transcript import player_bundle

    png = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + (4).to_bytes(4, "big") * 2 + b"\x08\x02\0\0\0"
    image = Attachment("image 1", png + b"\0" * (1536 - len(png)))
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF0000WAVEfmt " + b"\0" * (1536 - 16))
    (source,) = resolve_sources([str(audio)], {})
    assert image.describe().endswith(" 1.5 KiB")
    assert "(1.5 KiB, " in player_bundle(source, embed_limit=0)["text/plain"]
