"""The chat panel driven as a user would, in-process: set widget values, click(), read widgets.

Requests go over real sockets to the practice server (or, for Stop, to a raw server that holds
the stream open). Nothing sleeps: the tests wait on the panel (``wait()``), on events set by
widget observers, and on gates that hold a stream open.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import threading
from pathlib import Path

import comm
import ipywidgets as widgets
import pytest
from IPython.core.error import UsageError

from oai_magic import ChatPanel
from oai_magic.core.session import session_of
from oai_magic.errors import InputError
from oai_magic.practice import Scripted, sse_event
from oai_magic.render.chrome import ANSWER_REGION
from oai_magic.render.live import LiveMarkdown
from oai_magic.render.surface import LiveSurface

from .conftest import TEST_KEY, run

CHAT = "/chat/completions"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def delta_chunk(text, finish=None):
    delta = {"content": text} if text else {}
    return {"id": "c", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def all_widgets(root):
    """Every widget reachable from ``root`` through its traits (children, layout, style...)."""
    seen, stack, order = set(), [root], []
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        order.append(widget)
        for name in widget.keys:
            value = getattr(widget, name)
            values = value if isinstance(value, (tuple, list)) else [value]
            stack.extend(reversed([v for v in values if isinstance(v, widgets.Widget)]))
    return order


def shown(widget) -> str:
    """The HTML a frontend would show for ``widget`` and everything inside it, in order."""
    return "\n".join(w.value for w in all_widgets(widget)
                     if isinstance(w, (widgets.HTML, widgets.HTMLMath)) and w.value)


def became(widget, trait, predicate) -> threading.Event:
    """An event set once ``predicate(widget.<trait>)`` holds (now or after a later change)."""
    event = threading.Event()

    def check(_=None):
        if predicate(getattr(widget, trait)):
            event.set()

    widget.observe(check, trait)
    check()
    return event




class HeldStream:
    """A raw HTTP server: one SSE chunk, then the stream stays open until the client closes it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.closed_by_client = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
            while len(body) < length:
                body += conn.recv(65536)
            event = sse_event(delta_chunk(self.text))
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\nx-request-id: req_held\r\n\r\n"
                         + b"%x\r\n%s\r\n" % (len(event), event))
            conn.settimeout(10)
            try:
                if conn.recv(1) == b"":
                    self.closed_by_client.set()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


def test_a_message_sent_with_send_streams_into_the_transcript_and_is_recorded(shell, panel):
    p = panel()
    p.input.value = "[[echo]] Hello from the panel"
    p.send_button.click()
    assert p.input.value == ""
    result = p.wait(10)
    assert result.text == "Hello from the panel"
    text = shown(p.transcript)
    assert "[[echo]] Hello from the panel" in text and "<p>Hello from the panel</p>" in text
    assert text.index("You") < text.index("Assistant")
    thread = session_of(shell).conversations["default"]
    assert [(m.role, m.content) for m in thread.messages] == [
        ("user", "[[echo]] Hello from the panel"), ("assistant", "Hello from the panel")]
    # One footer, under the answer; the status line shows only what is not in it (issue 30).
    footer = text[text.index("oai-footer"):]
    assert result.request_id in footer and "completion tokens" in footer
    assert re.search(r"total \d+\.\d\d s", footer)
    status = p.status.value
    assert "left" in status and result.request_id not in status and "completion" not in status


def test_a_panel_turn_is_in_chat_history_and_a_chat_cell_turn_appears_in_the_panel(
        shell, panel, server, capsys):
    p = panel()
    p.send("[[echo]] sent from the panel")
    p.wait(10)
    capsys.readouterr()
    run(shell, "%chat history")
    assert "sent from the panel" in capsys.readouterr().out
    run(shell, "%%chat\n[[echo]] typed in a cell")
    assert "typed in a cell" in shown(p.transcript)
    p.send("[[echo]] and the panel again")
    p.wait(10)
    sent = [m["content"] for m in server.requests[-1].json["messages"]]
    assert sent == ["[[echo]] sent from the panel", "sent from the panel",
                    "[[echo]] typed in a cell", "typed in a cell", "[[echo]] and the panel again"]
    run(shell, "%chat undo")
    assert "and the panel again" not in shown(p.transcript)
    assert "typed in a cell" in shown(p.transcript)


def test_conversations_are_shared_and_new_starts_an_empty_one(shell, panel, server):
    run(shell, "%%chat -c physics\n[[echo]] about physics")
    p = panel()
    assert set(p.selector.options) == {"default", "physics"}
    p.selector.value = "physics"
    assert p.conversation == "physics" and "about physics" in shown(p.transcript)
    p.new_button.click()
    assert p.conversation == "chat-1" and p.selector.value == "chat-1"
    assert shown(p.transcript) == ""
    p.send("[[echo]] fresh start")
    p.wait(10)
    assert len(server.requests[-1].json["messages"]) == 1
    assert session_of(shell).conversations["chat-1"].messages[-1].content == "fresh start"
    run(shell, "%%chat -c later\n[[echo]] x")
    assert "later" in p.selector.options and p.selector.value == "chat-1"


def test_model_temperature_and_system_prompt_are_sent_and_the_system_prompt_is_shared(
        shell, panel, server):
    p = panel()
    p.model.value = "gpt-4.1"
    p.temperature.value = 0.3
    p.system.value = "Be terse."
    assert session_of(shell).conversation("default").system == "Be terse."
    p.send("[[echo]] hi")
    p.wait(10)
    body = server.requests[-1].json
    assert body["model"] == "gpt-4.1" and body["temperature"] == 0.3
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    p.temperature.value = 1.0
    p.send("[[echo]] again")
    p.wait(10)
    assert "temperature" not in server.requests[-1].json
    run(shell, "%%chat -s 'Answer in French.'\n[[echo]] bonjour")
    assert p.system.value == "Answer in French."


def test_model_box_lists_chat_models_from_the_server_and_keeps_defaults_when_listing_fails(
        shell, panel, server):
    p = panel()
    p.refresh_models_button.click()
    p.wait(10)
    assert "practice-1" in p.model.options and "gpt-4.1" in p.model.options
    assert not any("whisper" in m or "transcribe" in m for m in p.model.options)
    assert server.requests[-1].path.endswith("/models")

    server.script("/models", Scripted(401, {}, b'{"error": {"message": "no listing for you"}}'))
    q = panel()
    defaults = q.model.options
    q.refresh_models_button.click()
    q.wait(10)
    assert q.model.options == defaults and "gpt-4o-mini" in defaults
    assert "Model list unavailable" in q.models_note.value and "no listing for you" in q.models_note.value
    q.model.value = "my-own-model"  # free text is allowed
    q.send("[[echo]] hi")
    q.wait(10)
    assert server.requests[-1].json["model"] == "my-own-model"


def test_organization_and_project_fields_write_kernel_state_and_follow_oai(
        shell, panel, server, capsys):
    p = panel()
    p.organization.value = "org-panel"
    p.project.value = "proj_panel"
    settings = session_of(shell).settings
    assert (settings.organization, settings.project) == ("org-panel", "proj_panel")
    p.send("[[echo]] x")
    p.wait(10)
    headers = server.requests[-1].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-panel", "proj_panel")
    assert "billed to org-panel / proj_panel" in shown(p.transcript)
    run(shell, "%oai org org-cell")
    assert p.organization.value == "org-cell"
    second = panel()
    assert second.organization.value == "org-cell" and second.project.value == "proj_panel"
    p.organization.value = "org-panel"
    run(shell, "%oai org org-cell")  # the same command again must still take effect
    assert settings.organization == "org-cell" and p.organization.value == "org-cell"
    p.project.value = ""
    assert settings.project is None
    capsys.readouterr()
    run(shell, "%oai")
    assert "org-cell" in capsys.readouterr().out


def test_stop_mid_stream_closes_the_connection_and_keeps_the_partial_answer(shell, panel):
    held = HeldStream("The start of it")
    try:
        session_of(shell).settings.base_url = held.base_url
        p = panel()
        answering = became(p.status, "value", lambda v: "Answering" in v)
        p.send("Tell me a long story")
        assert answering.wait(10)
        assert p.busy and p.send_button.disabled and not p.stop_button.disabled
        p.stop_button.click()
        result = p.wait(10)
        assert held.closed_by_client.wait(10), "Stop must close the connection"
    finally:
        held.close()
    assert result.interrupted and result.text == "The start of it"
    assert "The start of it" in shown(p.transcript) and "■ stopped — kept in " in shown(p.transcript)
    assert "Stopped: partial answer kept" in p.status.value
    message = session_of(shell).conversations["default"].messages[-1]
    assert (message.content, message.partial) == ("The start of it", True)
    assert not p.busy and not p.send_button.disabled and p.stop_button.disabled
    assert p.error is None


def test_one_request_at_a_time_send_is_disabled_while_streaming(shell, panel, server):
    gate = threading.Event()
    chunks = [sse_event(delta_chunk("first half, ")), sse_event(delta_chunk("second half", "stop")),
              sse_event("[DONE]")]
    server.script(CHAT, Scripted(chunks=chunks, gate=gate, gate_before=1))
    p = panel()
    answering = became(p.status, "value", lambda v: "Answering" in v)
    p.send("go")
    assert answering.wait(10)
    assert p.send_button.disabled and p.selector.disabled and p.new_button.disabled
    with pytest.raises(InputError, match="still answering"):
        p.send("a second one")
    p.input.value = "queued text"
    p.send_button.click()
    assert p.input.value == "queued text" and len(server.requests) == 1
    gate.set()
    result = p.wait(10)
    assert result.text == "first half, second half" and not result.partial
    assert not p.send_button.disabled and p.stop_button.disabled
    assert shown(p.transcript).count("first half, second half") == 1


def test_an_api_error_shows_one_line_in_the_banner_and_the_panel_stays_usable(
        shell, panel, server):
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {TEST_KEY}.",
                                 "type": "invalid_request_error", "code": "invalid_api_key"}})
    server.script(CHAT, Scripted(401, {"x-request-id": "req_denied"}, body.encode()))
    p = panel()
    p.input.value = "[[echo]] first try"
    p.send_button.click()
    assert p.wait(10) is None
    assert p.error == "HTTP 401 invalid_api_key: Incorrect API key provided: sk-…abcd. (request id req_denied)"
    assert p.banner.layout.display is None and "Incorrect API key" in p.banner.value
    assert TEST_KEY not in p.banner.value
    assert p.input.value == "[[echo]] first try"  # the message is back, nothing recorded
    assert shown(p.transcript) == ""
    assert session_of(shell).conversation("default").messages == []

    p.model.value = "no-such-model"
    p.send_button.click()
    p.wait(10)
    assert "HTTP 404" in p.error and "no-such-model" in p.error and "\n" not in p.error

    p.model.value = "gpt-4o-mini"
    p.send_button.click()
    assert p.wait(10).text == "first try"
    assert p.error is None and p.banner.layout.display == "none"
    assert "first try" in shown(p.transcript)


def test_a_broken_stream_keeps_the_partial_answer_and_says_so_in_the_banner(shell, panel, server):
    chunks = [sse_event(delta_chunk("Half an ")), sse_event(delta_chunk("answer"))]
    server.script(CHAT, Scripted(chunks=chunks, abort_after=2))
    p = panel()
    p.send("Tell me")
    result = p.wait(10)
    assert result.text == "Half an answer" and result.partial
    assert "broke" in p.error
    # the same words as a cell's failure line (render/chrome.py has the one copy)
    assert p.error.endswith(" — kept in 'default' as partial; %chat undo removes it")
    assert "Half an answer" in shown(p.transcript)


def test_user_text_and_model_output_are_html_escaped(shell, panel):
    p = panel()
    p.send("[[echo]] <script>alert(1)</script> <img src=x onerror=alert(2)>")
    p.wait(10)
    text = shown(p.transcript)
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    run(shell, "%%chat\n[[echo]] <b onclick=x>cell</b>")
    assert "<b onclick" not in shown(p.transcript)


def test_an_uploaded_audio_file_is_transcribed_into_the_input(shell, panel, server):
    data = (FIXTURES / "hello.wav").read_bytes()
    p = panel()
    p.input.value = "Summarise:"
    p.upload.value = ({"name": "hello.wav", "type": "audio/wav", "size": len(data),
                       "content": memoryview(data),
                       "last_modified": datetime.datetime.now(datetime.UTC)},)
    p.wait(10)
    assert p.input.value.startswith("Summarise:\n[practice transcript] hello.wav")
    assert p.upload.value == () and not p.upload.disabled
    request = server.requests[-1]
    assert request.path.endswith("/audio/transcriptions")
    assert [part.filename for part in request.form if part.name == "file"] == ["hello.wav"]
    assert "Transcribed hello.wav" in p.status.value

    p.upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 5,
                       "content": memoryview(b"hello"),
                       "last_modified": datetime.datetime.now(datetime.UTC)},)
    assert "notes.txt is not an audio file" in p.error and len(server.requests) == 1


def test_no_widget_state_holds_the_api_key(shell, panel, server):
    server.script("/models", Scripted(401, {}, json.dumps(
        {"error": {"message": f"bad key {TEST_KEY}"}}).encode()))
    server.script(CHAT, Scripted(401, {}, json.dumps(
        {"error": {"message": f"Incorrect API key provided: {TEST_KEY}"}}).encode()))
    p = panel()
    p.load_models()
    p.send("[[echo]] one")
    p.wait(10)
    p.send("[[echo]] two")
    p.wait(10)
    reachable = all_widgets(p.widget)
    assert len(reachable) > 30
    assert "bad key sk-…abcd" in p.models_note.value
    for widget in reachable:
        state = json.dumps(widget.get_state(), default=str)
        assert TEST_KEY not in state, type(widget).__name__
        assert TEST_KEY[-12:] not in state, type(widget).__name__
    assert TEST_KEY not in repr(p) and TEST_KEY not in str(p._repr_mimebundle_())


def test_chat_panel_magic_opens_the_named_conversation_and_lists_models_on_display(
        shell, server):
    run(shell, "%%chat -c lab\n[[echo]] in the lab")
    magics = shell.magics_manager.registry["OAIMagics"]
    magics.display_mode = "rich"  # a notebook frontend
    try:
        result = run(shell, "%chat_panel -c lab")
    finally:
        magics.display_mode = "plain"
    p = result.result
    try:
        assert isinstance(p, ChatPanel) and p.conversation == "lab"
        assert "in the lab" in shown(p.transcript)
        p.wait(10)  # displaying the panel asked for the model list
        assert "practice-1" in p.model.options
        run(shell, "%chat_panel --bogus", expect=UsageError)
    finally:
        p.close()


def test_a_closed_panel_no_longer_follows_the_kernel_state(shell, panel):
    p = panel()
    p.close()
    run(shell, "%%chat\n[[echo]] after close")
    run(shell, "%oai org org-late")
    assert p.organization.value == "" and "after close" not in shown(p.transcript)


def test_streaming_into_widgets_costs_bytes_linear_in_the_answer_length(monkeypatch):
    """Every byte the widgets send (comm open, updates, close) per character of the answer is
    the same for a short and a ten times longer answer: frozen pieces are never re-sent, and
    appending a piece re-sends a bounded number of ids (a flat VBox re-sends all of them)."""
    sent = []

    class CountingComm(comm.DummyComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            sent.append(len(json.dumps(data, default=str)))

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: CountingComm(*a, **k))
    words = ["the", "panel", "streams", "each", "token", "into", "a", "live", "tail", "while", "finished", "blocks", "stay", "frozen"]

    def bytes_per_char(paragraphs):
        text = "\n\n".join(" ".join(words[(p + i) % len(words)] for i in range(40)) + "."
                            for p in range(paragraphs))
        sent.clear()
        surface = LiveSurface([("a", "", ANSWER_REGION)], display_now=False, on_finish=lambda h, t: None)
        live = LiveMarkdown(surface, "a", render_interval=0.0, clock=lambda: 0.0)
        for i in range(0, len(text), 4):  # a redraw after every 4-character token
            live.append(text[i:i + 4])
        html, _ = live.finish()
        surface.finish(html, "")
        assert html.count("<p>") == paragraphs
        return sum(sent) / len(text)

    short, long = bytes_per_char(20), bytes_per_char(200)
    assert long < 1.15 * short, (short, long)


def test_panel_shows_streamed_reasoning_collapsed_and_the_answers_cost(shell, panel, server):
    thought = "Weigh <i>both</i> sides"
    server.script(CHAT, Scripted(chunks=[
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [
            {"index": 0, "delta": {"reasoning_content": thought}, "finish_reason": None}]}),
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [
            {"index": 0, "delta": {"content": "Both."}, "finish_reason": "stop"}]}),
        sse_event({"id": "c", "model": "gpt-4o-mini", "choices": [], "usage": {
            "prompt_tokens": 10, "completion_tokens": 30,
            "completion_tokens_details": {"reasoning_tokens": 25}}}),
        sse_event("[DONE]")]))
    shell.magics_manager.registry["OAIMagics"].extra_body = {"service_tier": "flex"}
    try:
        p = panel()
        p.input.value = "Which?"
        p.send_button.click()
        result = p.wait(10)
    finally:
        shell.magics_manager.registry["OAIMagics"].extra_body = {}
    assert server.requests[-1].json["service_tier"] == "flex"
    assert result.reasoning == thought
    text = shown(p.transcript)
    assert "<details" in text and "&lt;i&gt;both&lt;/i&gt;" in text and "<i>both</i>" not in text
    assert text.index("<details") < text.index("Both.")
    assert "25 reasoning" in text and "≈ $" in text  # in the answer's footer
    assert all(thought not in (m.content or "") for m in session_of(shell).conversations["default"].messages)
