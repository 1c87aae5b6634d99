"""A hostile OpenAI-compatible server (tests/hostile_server.py) against every surface.

For each reply a user must see one line of error (no traceback), keep what arrived, and never
see the key: not in an output, a widget's state, a result's repr, an exception or the history.
Metadata from the server never becomes TeX or a link: chrome sits inside MathJax-ignore blocks.
"""

from __future__ import annotations

import html.parser
import json
import re
import time

import ipywidgets as widgets
import pytest
from IPython.core.error import UsageError

from oai_magic.core.session import session_of
from oai_magic.state import StreamRedactor, redact

from .conftest import TEST_KEY, run
from .interrupts import real_sigint

KEY_RUNS = [TEST_KEY[i : i + 12] for i in range(len(TEST_KEY) - 11)]


def use(shell, hostile, mode):
    session_of(shell).settings.base_url = hostile.base_url(mode)


def no_key(*texts) -> None:
    """Neither the key nor any run of 12 of its characters appears in any of ``texts``."""
    for text in texts:
        text = text if isinstance(text, str) else json.dumps(text, default=str)
        for run_ in KEY_RUNS:
            assert run_ not in text, f"key run {run_!r} in {text[:300]!r}"


def outputs(publisher) -> str:
    return json.dumps([m["data"] for m in publisher.messages], ensure_ascii=False)


class _TexOutsideIgnore(html.parser.HTMLParser):
    """Collects text that MathJax would typeset: outside every ``*_ignore`` element."""

    VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list = []
        self.exposed: list = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        ignored = "mathjax_ignore" in classes and "tex2jax_ignore" in classes
        inherited = bool(self.stack) and self.stack[-1]
        self.stack.append(ignored or inherited)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]) and any(t in data for t in ("$", "\\(", "\\[")):
            self.exposed.append(data)


def tex_outside_ignore(html_text: str) -> list:
    parser = _TexOutsideIgnore()
    parser.feed(html_text)
    return parser.exposed


def show(shell, line: str) -> None:
    """Run a line magic that returns a displayable, and display it as a notebook would."""
    assert run(shell, f"_shown = {line}\nfrom IPython.display import display\ndisplay(_shown)").success


def all_html(publisher) -> list:
    return [m["data"]["text/html"] for m in publisher.messages if "text/html" in m["data"]]


# --- the core function -----------------------------------------------------------------------


def test_redact_masks_the_key_and_any_run_of_twelve_of_its_characters():
    text = f"Bearer {TEST_KEY}; part {TEST_KEY[3:17]}; short {TEST_KEY[:8]}"
    masked = redact(text, TEST_KEY)
    no_key(masked)
    assert masked.startswith("Bearer sk-…abcd; part sk-…abcd; short " + TEST_KEY[:8])


def test_streamed_key_split_across_deltas_never_shows_and_ordinary_text_is_not_delayed():
    redactor = StreamRedactor(TEST_KEY)
    shown = [redactor.feed("Hello world. "), redactor.feed(TEST_KEY[:10])]
    assert shown == ["Hello world. ", ""]  # the piece of key waits: it could grow into a run
    shown += [redactor.feed(TEST_KEY[10:] + " done"), redactor.flush()]
    no_key("".join(shown))
    assert "".join(shown) == "Hello world. sk-…abcd done"


# --- 1. the key never appears ----------------------------------------------------------------


def test_a_401_echoing_the_key_shows_one_line_without_it_in_chat(shell, hostile, notebook, capsys):
    use(shell, hostile, "echo401")
    error = run(shell, "%%chat -o r\nhello", expect=UsageError)
    assert "sk-…abcd" in str(error)
    captured = capsys.readouterr()
    no_key(str(error), outputs(notebook), captured.out, captured.err)
    assert "Traceback" not in captured.out + captured.err


def test_a_stream_error_with_the_key_keeps_the_partial_answer_and_hides_the_key(
        shell, hostile, notebook, capsys):
    use(shell, hostile, "stream_error_key")
    error = run(shell, "%%chat -o r\nhello", expect=UsageError)
    r = shell.user_ns["r"]
    assert r.text == "Partial answer " and r.partial
    captured = capsys.readouterr()
    no_key(str(error), r.error, repr(r), outputs(notebook), captured.out,
           captured.err)
    thread = session_of(shell).conversations["default"]
    assert thread.messages[-1].content == "Partial answer " and thread.messages[-1].partial


def test_the_key_as_model_request_id_organization_and_answer_is_masked_everywhere(
        shell, hostile, notebook, capsys):
    use(shell, hostile, "key_everywhere")
    assert run(shell, "%%chat -o r\nhello").success
    r = shell.user_ns["r"]
    # Each half of the split key is a run of 12+ characters, so it may be masked twice.
    assert re.fullmatch(r"Your key is (sk-…abcd)+ and again sk-…abcd", r.text), r.text
    assert r.request_id == "sk-…abcd"
    thread = session_of(shell).conversations["default"]
    no_key(repr(r), r.headers, r.text, outputs(notebook), thread.to_dict(), capsys.readouterr().out)
    assert "sk-…abcd" in outputs(notebook)
    run(shell, "%oai")  # status shows the last headers
    no_key(outputs(notebook))


def test_terminal_answer_streams_without_the_key(shell, hostile, capsys):
    use(shell, hostile, "key_everywhere")
    assert run(shell, "%%chat\nhello").success
    out = capsys.readouterr().out
    assert re.search(r"Your key is (sk-…abcd)+ and again sk-…abcd", out)
    no_key(out)


def test_models_list_with_the_key_as_an_id_is_masked_capped_and_dates_do_not_overflow(
        shell, hostile, notebook, capsys):
    use(shell, hostile, "key_everywhere")
    run(shell, "%oai models")
    [message] = notebook.messages
    no_key(message["data"])
    assert "the first 2,000 of 3,002 models" in message["data"]["text/plain"]
    assert message["data"]["text/plain"].count("gpt-4o-0") < 2000
    assert tex_outside_ignore(message["data"]["text/html"]) == []


def test_models_error_echoing_the_key_is_one_line_without_it(shell, hostile, capsys):
    use(shell, hostile, "echo401")
    error = run(shell, "%oai models", expect=UsageError)
    no_key(str(error), capsys.readouterr())


def test_transcribe_error_and_transcript_never_carry_the_key(shell, hostile, capsys, tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF0000WAVEfmt " + b"\0" * 64)
    use(shell, hostile, "echo401")
    error = run(shell, f"%transcribe {audio}", expect=UsageError)
    no_key(str(error))
    use(shell, hostile, "key_everywhere")
    assert run(shell, f"%transcribe {audio} -o t").success
    t = shell.user_ns["t"]
    no_key(t.text, repr(t), t.headers, capsys.readouterr())
    assert t.text.startswith("heard ")


def test_panel_transcript_banner_models_and_state_never_hold_the_key(shell, hostile):
    from oai_magic.ui.panel.panel import ChatPanel

    from .test_widget import all_widgets

    use(shell, hostile, "key_everywhere")
    panel = ChatPanel(state=session_of(shell))
    try:
        panel.load_models()
        panel.send("hello")
        panel.wait(10)
        use(shell, hostile, "echo401")
        panel.send("again")
        panel.wait(10)
        use(shell, hostile, "stream_error_key")
        panel.send("third")
        panel.wait(10)
        assert "sk-…abcd" in (panel.error or "")
        assert len(panel.model.options) <= 2000
        for widget in all_widgets(panel.widget):
            no_key(widget.get_state())
            if isinstance(widget, (widgets.HTML, widgets.HTMLMath)):
                assert tex_outside_ignore(widget.value) == [], widget.value
        no_key(repr(panel), str(panel._repr_mimebundle_()))
    finally:
        panel.close()


def test_a_base_url_with_credentials_is_refused_in_one_line(shell, hostile, monkeypatch):
    error = run(shell, "%oai base-url https://user:pw@example.com/v1", expect=UsageError)
    assert "user name or password" in str(
        error)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://user:pw@127.0.0.1:{hostile.port}/ok/v1")
    session_of(shell).settings.base_url = None
    before = len(hostile.requests)
    error = run(shell, "%%chat\nhello", expect=UsageError)
    assert "user name or password" in str(
        error)
    assert len(hostile.requests) == before


# --- 2. chrome is inert ----------------------------------------------------------------------


def test_tex_in_headers_and_model_stays_text_in_the_footer_and_status(
        shell, hostile, notebook):
    use(shell, hostile, "tex_headers")
    assert run(shell, "%%chat\nhello").success
    run(shell, "%oai")
    show(shell, "%chat history")
    show(shell, "%chat list")
    pages = all_html(notebook)
    assert any("phish.example" in page for page in pages)
    for page in pages:
        assert tex_outside_ignore(page) == [], page
        assert "<a " not in page or "phish.example" not in page.split("<a ")[1]


def test_chat_history_keeps_prices_as_text(shell, notebook):
    session_of(shell).conversation("default").system = "Prices $5 and $10"
    run(shell, "%%chat\n[[echo]] Prices $5 and $10")
    notebook.reset()
    show(shell, "%chat history")
    [page] = all_html(notebook)
    assert "$5 and $10" in page and tex_outside_ignore(page) == []


def _wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


# --- 3. any reply gives one line --------------------------------------------------------------


def one_line_error(error) -> str:
    assert "\n" not in str(error)
    return str(error)


def test_a_single_line_over_the_cap_ends_the_answer_keeping_the_part_that_arrived(
        shell, hostile, magics, capsys):
    use(shell, hostile, "long_line")
    magics.max_line_bytes = 100_000
    try:
        error = run(shell, "%%chat -o r\nhello", expect=UsageError)
    finally:
        magics.max_line_bytes = 8 * 1024 * 1024
    assert "answer cut off" in one_line_error(error) or "partial" in one_line_error(error)
    r = shell.user_ns["r"]
    assert r.text == "Start. " and "over 100,000 bytes" in r.error
    assert "Traceback" not in capsys.readouterr().err


def test_an_answer_over_the_size_cap_ends_with_one_line_and_keeps_the_start(
        shell, hostile, magics):
    use(shell, hostile, "endless")
    magics.max_answer_chars = 50_000
    try:
        error = run(shell, "%%chat -o r\nhello", expect=UsageError)
    finally:
        magics.max_answer_chars = 4_000_000
    one_line_error(error)
    r = shell.user_ns["r"]
    assert r.partial and "50,000 characters" in r.error
    assert 50_000 <= len(r.text) <= 60_000


def test_invalid_utf8_in_the_stream_is_one_line_and_keeps_the_partial_answer(shell, hostile):
    use(shell, hostile, "invalid_utf8")
    one_line_error(run(shell, "%%chat -o r\nhello", expect=UsageError))
    r = shell.user_ns["r"]
    assert r.text == "Kept part " and "not UTF-8" in r.error
    assert session_of(shell).conversations["default"].messages[-1].content == "Kept part "


def test_a_lone_surrogate_is_replaced_and_the_conversation_still_exports(
        shell, hostile, notebook, tmp_path):
    use(shell, hostile, "surrogate")
    assert run(shell, "%%chat -o r\nhello").success
    assert shell.user_ns["r"].text == "Lone \ufffd surrogate"
    path = tmp_path / "c.json"
    assert run(shell, f"%chat export {path}").success
    assert "\ufffd" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("flags", ["", "--no-stream"])
def test_a_json_list_instead_of_a_completion_is_one_line(shell, hostile, flags):
    use(shell, hostile, "list_json")
    error = one_line_error(run(shell, f"%%chat {flags}\nhello", expect=UsageError))
    assert "list" in error or "not a chat completion" in error
    assert session_of(shell).conversation("default").messages == []


def test_content_that_is_an_int_is_one_line_and_keeps_the_partial_answer(shell, hostile):
    use(shell, hostile, "int_content")
    one_line_error(run(shell, "%%chat -o r\nhello", expect=UsageError))
    r = shell.user_ns["r"]
    assert r.text == "Number next: " and "content that is a int" in r.error


def test_a_non_json_200_with_no_stream_is_an_error_not_an_empty_answer(shell, hostile):
    use(shell, hostile, "html200")
    error = one_line_error(run(shell, "%%chat --no-stream -o r\nhello", expect=UsageError))
    assert "text/html" in error and "not a chat completion" in error
    assert session_of(shell).conversation("default").messages == []


def test_segments_that_are_not_a_list_do_not_break_a_transcript(shell, hostile, tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF0000WAVEfmt " + b"\0" * 64)
    use(shell, hostile, "segments5")
    assert run(shell, f"%transcribe -f verbose_json {audio} -o t").success
    assert shell.user_ns["t"].text == "hello" and shell.user_ns["t"].segments == []


def test_a_failing_state_listener_never_breaks_a_chat_and_the_turn_is_recorded(
        shell, hostile, caplog):
    state = session_of(shell)
    calls = []

    def broken(event, info):
        calls.append(event)
        raise ValueError("listener bug")

    state.subscribe(broken)
    use(shell, hostile, "odd_ratelimit")
    assert run(shell, "%%chat\nhello").success
    assert run(shell, "%%chat\nagain").success
    assert len(state.conversations["default"].messages) == 4 and calls
    assert sum("listener" in r.getMessage() for r in caplog.records) == 1


def test_odd_rate_limit_digits_do_not_break_the_panel(shell, hostile):
    from oai_magic.ui.panel.panel import ChatPanel

    use(shell, hostile, "odd_ratelimit")
    panel = ChatPanel(state=session_of(shell))
    try:
        assert run(shell, "%%chat\nhello").success
        panel.send("hi")
        result = panel.wait(10)
        assert result.text == "Fine answer." and panel.error is None
        assert "²" in panel.status.value
    finally:
        panel.close()


def test_tool_calls_when_no_tools_were_offered_are_shown_as_text_and_history_stays_valid(
        shell, hostile, capsys):
    use(shell, hostile, "unexpected_tools")
    assert run(shell, "%%chat -o r\nhello").success
    out = capsys.readouterr().out
    assert "not run: delete_everything" in out
    [user, reply] = session_of(shell).conversations["default"].messages
    assert reply.tool_calls is None and "delete_everything" in reply.content
    use(shell, hostile, "ok")
    assert run(shell, "%%chat\nnext").success
    sent = json.loads(hostile.requests[-1][2])
    assert all("tool_calls" not in m for m in sent["messages"])


@pytest.mark.parametrize("line", ['%oai org "abc', '%chat history -c "abc'])
def test_unbalanced_quotes_are_one_line(shell, line):
    error = one_line_error(run(shell, line, expect=UsageError))
    assert "quotes" in error


BAD_EXPORTS = {
    "tool_calls[0].id": {"role": "assistant", "content": "", "tool_calls": [{"id": 5}]},
    "tool_calls[0].function.arguments": {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
    "role": {"role": "wizard", "content": "x"},
    "partial": {"role": "assistant", "content": "x", "partial": "yes"},
    "alternatives": {"role": "assistant", "content": "x", "alternatives": [1, 2]},
}


@pytest.mark.parametrize("field", sorted(BAD_EXPORTS))
def test_chat_load_names_the_bad_field_and_changes_nothing(shell, tmp_path, field):
    run(shell, "%%chat\n[[echo]] kept")
    before = session_of(shell).conversations["default"].to_dict()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "default", "system": None, "messages": [
        {"role": "user", "content": "hi"}, BAD_EXPORTS[field]]}))
    error = one_line_error(run(shell, f"%chat load {path}", expect=UsageError))
    assert f"messages[1].{field}" in error, error
    assert session_of(shell).conversations["default"].to_dict() == before
    assert run(shell, "%chat history").success


# Ordinary Markdown, the yardstick for the pathological inputs below: their render must cost about
# what ordinary text of the same size costs, measured in CPU time (other processes on a loaded
# machine do not count) and in the same run (a slower machine slows both).
ORDINARY = "Some ordinary prose with *emphasis*, `code` and a [link](https://example.org).\n\n"


def ordinary_markdown(size: int) -> str:
    return (ORDINARY * (size // len(ORDINARY) + 1))[:size]


def cpu_seconds(action) -> float:
    """CPU time of this process (its threads too: servers in the test process) for ``action()``."""
    started = time.process_time()
    action()
    return time.process_time() - started


PATHOLOGICAL = {  # about 100 KB each: the time must grow linearly, not with the square
    "unclosed inline math": "word \\( " * 12_500,
    "unclosed display math": "a \\[ b\n" * 14_000,
    "lines opening display math": "\\[ b\n" * 20_000,
    "nested brackets": "[" * 100_000,
    "unclosed links": "[a](" * 25_000,
    "underscores": "_a" * 50_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_markdown_renders_about_as_fast_as_ordinary_markdown(name):
    """Before the fix 200 KB of unclosed math alone took 14 s, and 100 KB of lines opening display
    math took minutes. Now each costs 1 to 10 times ordinary Markdown of its size."""
    from oai_magic.render.markdown import render_markdown

    text = PATHOLOGICAL[name]
    ordinary = cpu_seconds(lambda: render_markdown(ordinary_markdown(len(text))))
    html_out = []
    pathological = cpu_seconds(lambda: html_out.append(render_markdown(text)))
    assert pathological < 25 * ordinary, (pathological, ordinary)
    assert html_out[0]


def test_an_unclosed_math_answer_of_200_kb_ends_quickly_in_a_notebook(shell, server, hostile, notebook):
    """The final render of a whole answer (--no-stream: one piece, then the final block), against
    an ordinary answer of the same size through the same cell: about 5 times its CPU time today,
    about 20 times before the fix (14 s)."""
    from oai_magic.practice import Scripted

    text = "\\[ x\n" * 41_000  # what the hostile server sends in this mode
    body = {"id": "chatcmpl-o", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": ordinary_markdown(len(text))}}]}
    server.script("/chat/completions", Scripted(200, {"content-type": "application/json"},
                                                json.dumps(body).encode()))
    ordinary = cpu_seconds(lambda: run(shell, "%%chat --no-stream -o r\nhello"))
    use(shell, hostile, "unclosed_math")
    pathological = cpu_seconds(lambda: run(shell, "%%chat --no-stream -o r\nhello"))
    assert pathological < 10 * ordinary, (pathological, ordinary)
    assert shell.user_ns["r"].text == text
    final = notebook.messages[-1]["data"]["text/html"]
    assert "[ x\n[ x" in final and tex_outside_ignore(final) == []


def test_terminal_output_has_no_control_sequences_from_the_server(shell, hostile, capsys):
    use(shell, hostile, "control_sequences")
    assert run(shell, "%%chat\nhello").success
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "clipboard" in out


# --- 4. state changes only after everything is validated ----------------------------------------


def _keep_conversation(shell):
    run(shell, "%%chat -c keep -s Original\n[[echo]] first")
    return session_of(shell).conversations["keep"].to_dict()


@pytest.mark.parametrize("flags", ["-t 5", "--tools no_such_function", "--top-p 7"])
def test_a_refused_option_or_tool_leaves_new_and_system_uncommitted(shell, server, flags):
    before = _keep_conversation(shell)
    sent = len(server.requests)
    one_line_error(run(shell, f"%%chat -c keep -n -s Other {flags}\nhello", expect=UsageError))
    assert session_of(shell).conversations["keep"].to_dict() == before
    assert len(server.requests) == sent


def test_a_request_that_fails_before_any_answer_leaves_the_conversation_as_it_was(
        shell, hostile):
    before = _keep_conversation(shell)
    use(shell, hostile, "echo401")
    one_line_error(run(shell, "%%chat -c keep -n -s Other\nhello", expect=UsageError))
    assert session_of(shell).conversations["keep"].to_dict() == before


def test_new_and_system_are_committed_with_the_turn_and_sent_with_it(shell, server):
    _keep_conversation(shell)
    assert run(shell, "%%chat -c keep -n -s Other\n[[echo]] again").success
    thread = session_of(shell).conversations["keep"]
    assert thread.system == "Other" and len(thread.messages) == 2
    assert thread.messages[0].content == "[[echo]] again"
    sent = server.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "Other"} and len(sent) == 2


def test_a_partial_answer_commits_new_and_system_with_it(shell, hostile):
    _keep_conversation(shell)
    use(shell, hostile, "stream_error_key")
    one_line_error(run(shell, "%%chat -c keep -n -s Other\nhello", expect=UsageError))
    thread = session_of(shell).conversations["keep"]
    assert thread.system == "Other" and len(thread.messages) == 2 and thread.messages[1].partial


def test_chat_commands_wait_for_the_state_lock(shell):
    import threading

    run(shell, "%%chat\n[[echo]] one")
    state = session_of(shell)
    done = threading.Event()
    with state.lock:
        worker = threading.Thread(target=lambda: (run(shell, "%chat reset"), done.set()))
        worker.start()
        assert not done.wait(0.3)  # blocked while a "panel thread" records
        assert len(state.conversations["default"].messages) == 2
    worker.join(10)
    assert done.is_set() and state.conversations["default"].messages == []


def test_rate_limit_headers_of_an_error_response_replace_the_previous_ones(
        shell, hostile, notebook):
    use(shell, hostile, "odd_ratelimit")
    run(shell, "%%chat\nhello")
    use(shell, hostile, "error429")
    magics = shell.magics_manager.registry["OAIMagics"]
    magics.max_retries = 0
    try:
        one_line_error(run(shell, "%%chat\nhello", expect=UsageError))
    finally:
        magics.max_retries = 2
    assert session_of(shell).last_headers.get("x-request-id") == "req_h429"
    notebook.reset()
    run(shell, "%oai")
    assert "0 of ? left" in notebook.messages[-1]["data"]["text/plain"]


# --- 6. where requests go -------------------------------------------------------------------------


def test_plain_http_to_another_host_warns_once_per_base_url_and_can_be_silenced(
        shell, magics, capsys):
    magics.max_retries = 0
    try:
        run(shell, "%oai base-url http://classroom.invalid:8000/v1")
        first = capsys.readouterr().out
        assert "plain http" in first and "unencrypted" in first
        one_line_error(run(shell, "%%chat\nhello", expect=UsageError))
        assert "plain http" not in capsys.readouterr().out  # once per base URL per session
        session_of(shell).settings.base_url = "http://other.invalid/v1"
        one_line_error(run(shell, "%%chat\nhello", expect=UsageError))
        assert "[Warning: http://other.invalid/v1 is plain http" in capsys.readouterr().out
        magics.allow_insecure_http = True
        run(shell, "%oai base-url http://third.invalid/v1")
        assert "plain http" not in capsys.readouterr().out
    finally:
        magics.max_retries = 2
        magics.allow_insecure_http = False


def test_loopback_and_https_never_warn(shell, capsys):
    for url in ("http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1",
                "https://example.com/v1"):
        run(shell, f"%oai base-url {url}")
    assert "plain http" not in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["redirect307", "redirect308", "redirect301", "redirect302"])
def test_redirects_are_not_followed_and_name_the_location_without_the_key(shell, hostile, mode):
    use(shell, hostile, mode)
    before = len(hostile.requests)
    error = one_line_error(run(shell, "%%chat --no-stream\nhello", expect=UsageError))
    assert "https://elsewhere.example/v1?leak=sk-…abcd" in error and "not followed" in error
    no_key(error)
    assert len(hostile.requests) == before + 1
    assert session_of(shell).conversation("default").messages == []


@pytest.mark.parametrize(("mode", "flags", "status"), [
    ("redirect307", "--no-stream", 307), ("html200", "--no-stream", 200), ("html200", "", 200)])
def test_an_http_error_names_its_status_once(shell, hostile, mode, flags, status):
    use(shell, hostile, mode)
    error = one_line_error(run(shell, f"%%chat {flags}\nhello", expect=UsageError))
    assert error.count(f"HTTP {status}") == 1, error


# --- 5. Stop and interrupts work in every phase --------------------------------------------------


@pytest.mark.parametrize("mode", ["hang", "retry_later"])
def test_panel_stop_before_headers_or_in_back_off_is_idle_long_before_the_server_would_answer(
        shell, hostile, mode):
    """The server holds the request 30 s ("hang") or asks for a 60 s back-off ("retry_later"):
    Stop makes the panel idle within a tenth of that, however loaded the machine."""
    from oai_magic.ui.panel.panel import ChatPanel

    use(shell, hostile, mode)
    state = session_of(shell)
    panel = ChatPanel(state=state)
    try:
        before = len(hostile.requests)
        panel.send("hello")
        assert hostile.wait_for_requests(before + 1)
        started = time.monotonic()
        panel.stop()
        result = panel.wait(3)
        assert time.monotonic() - started < 3 and not panel.busy
        assert result is None or result.interrupted
        assert state.conversation("default").messages == []
        from .test_widget import shown

        assert "stopped before the answer began" in shown(panel.widget).lower()
    finally:
        panel.close()


def test_ctrl_c_before_any_answer_says_nothing_arrived(shell, hostile, capsys):
    import os
    import signal
    import threading

    use(shell, hostile, "hang")
    before = len(hostile.requests)

    def interrupt():
        if hostile.wait_for_requests(before + 1):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    from oai_magic.errors import CellStopped

    try:
        with real_sigint(release=hostile.release.set):  # on time out, the "hang" replies end
            error = str(run(shell, "%%chat\nhello", expect=CellStopped))  # ends as interrupted, with one line
    finally:
        hostile.release.clear()
    assert "stopped before any answer arrived" in error and "partial" not in error
    assert session_of(shell).conversation("default").messages == []


# --- 7. tools -----------------------------------------------------------------------------------

TOOL_SOURCE = '''
ran = []
def f(x: int, **kwargs):
    ran.append(("f", x, kwargs))
    return x
def g(y: float):
    ran.append(("g", y))
    return y
def h(path: str):
    ran.append(("h", path))
    return path
'''


def tool_messages(hostile):
    return [m for m in json.loads(hostile.requests[-1][2])["messages"] if m["role"] == "tool"]


@pytest.fixture
def tools_defined(shell):
    run(shell, TOOL_SOURCE)
    yield shell.user_ns["ran"]


@pytest.mark.parametrize("mode, reason", [
    ("tools_extra_arg", "takes no argument 'evil'"),
    ("tools_bool_int", "'x' should be integer, got bool"),
])
def test_arguments_outside_the_schema_or_of_the_wrong_type_are_refused_and_the_model_told(
        shell, hostile, tools_defined, mode, reason):
    use(shell, hostile, mode)
    assert run(shell, "%%chat --tools f --auto-tools\nhello").success
    assert tools_defined == []
    [message] = tool_messages(hostile)
    assert reason in message["content"] and "was not run" in message["content"]


def test_an_int_is_fine_for_a_float(shell, hostile, tools_defined):
    use(shell, hostile, "tools_int_float")
    assert run(shell, "%%chat --tools g --auto-tools\nhello").success
    assert tools_defined == [("g", 3)]


def test_a_round_runs_at_most_max_tool_calls_per_round(shell, hostile, tools_defined, magics):
    use(shell, hostile, "tools_many")
    assert magics.max_tool_calls_per_round == 8
    assert run(shell, "%%chat --tools f --auto-tools\nhello").success
    assert [x for _, x, _ in tools_defined] == list(range(8))
    replies = tool_messages(hostile)
    assert len(replies) == 10  # every call is answered, so the history stays valid
    assert all("max_tool_calls_per_round" in m["content"] for m in replies[8:])


def test_the_confirmation_and_the_card_escape_bidi_characters_and_show_the_arguments(
        shell, hostile, tools_defined, notebook, monkeypatch):
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "n")
    use(shell, hostile, "tools_bidi")
    assert run(shell, "%%chat --tools h\nhello").success
    assert tools_defined == []
    [prompt] = asked
    assert "h(" in prompt and "\\u202etxt.exe" in prompt and "\u202e" not in prompt
    pages = " ".join(all_html(notebook))
    assert "\\u202etxt.exe" in pages and "\u202e" not in pages


# --- 8. the practice server ------------------------------------------------------------------------


def _raw_exchange(base_url: str, request: bytes) -> bytes:
    import socket

    host, port = base_url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        conn.settimeout(10)
        return conn.recv(65536)


def test_a_negative_chunk_size_is_refused_at_once(server):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    reply = _raw_exchange(server.base_url, head + b"-1\r\n" + b"x" * 1000)
    assert reply.startswith(b"HTTP/1.1 400")


def test_the_practice_server_of_oai_practice_keeps_a_bounded_log(shell, capsys):
    import requests

    from oai_magic.practice import PracticeServer

    state = session_of(shell)
    state.practice_server = None
    run(shell, "%oai practice")
    started = state.practice_server
    try:
        assert started.log_limit == 100
        for _ in range(103):
            requests.post(started.base_url + "/chat/completions", timeout=10,
                          headers={"Authorization": "Bearer k"},
                          json={"model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": "x" * 20_000}]})
        assert len(started.requests) == 100
        assert all(len(r.body) <= 4096 for r in started.requests)
    finally:
        run(shell, "%oai practice --stop")
    assert PracticeServer().log_limit is None  # fixtures keep everything


@pytest.mark.parametrize("body, param", [
    (b'{"model": "gpt-4o-mini", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
    (json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
                 "response_format": "json"}).encode(), "response_format"),
    (json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
                 "tools": [{"function": "f"}]}).encode(), "tools[0].type"),
])
def test_malformed_requests_get_a_400_in_the_openai_shape_and_print_nothing(
        server, capfd, body, param):
    import requests

    response = requests.post(server.base_url + "/chat/completions", data=body, timeout=30,
                             headers={"Authorization": "Bearer k",
                                      "Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] and error["param"] == param
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err


def test_answers_too_large_to_render_in_bounded_time_are_shown_as_escaped_text():
    from oai_magic.render.markdown import MAX_MARKDOWN_CHARS, render_markdown

    text = "<b>x</b> [" * (MAX_MARKDOWN_CHARS // 9)
    a_tenth = cpu_seconds(lambda: render_markdown(ordinary_markdown(len(text) // 10)))
    html_out = []
    whole = cpu_seconds(lambda: html_out.append(render_markdown(text)))
    assert whole < a_tenth, "escaping costs less than rendering a tenth of it as Markdown"
    assert html_out[0].startswith("<pre") and "<b>" not in html_out[0]


# --- notebooks saved by nbclient, one per surface ---------------------------------------------------

CHAT_MODES = ["echo401", "stream_error_key", "key_everywhere", "tex_headers", "invalid_utf8",
              "surrogate", "list_json", "int_content", "html200", "redirect307"]


def _surface_cells(surface: str, hostile) -> list:
    cells = ["%load_ext oai_magic", "%config OAIMagics.max_retries = 0"]
    if surface == "chat":
        for mode in CHAT_MODES:
            cells.append(f"%oai base-url {hostile.base_url(mode)}")
            flags = "--no-stream " if mode == "html200" else ""
            cells.append(f"%%chat {flags}-o r\nhello")
            cells.append("globals().pop('r', None)")
        cells += ["%oai", "%chat history", "%chat list"]
    elif surface == "transcribe":
        cells.append("open('a.wav', 'wb').write(b'RIFF0000WAVEfmt ' + bytes(64))")
        for mode in ("echo401", "key_everywhere", "segments5"):
            cells.append(f"%oai base-url {hostile.base_url(mode)}")
            cells.append("%transcribe -f verbose_json a.wav -o t")
            cells.append("globals().pop('t', None)")
    elif surface == "models":
        for mode in ("echo401", "key_everywhere"):
            cells.append(f"%oai base-url {hostile.base_url(mode)}")
            cells.append("%oai models")
        cells.append("%oai")
    else:
        cells += [f"%oai base-url {hostile.base_url('key_everywhere')}",
                  "from oai_magic import ChatPanel\npanel = ChatPanel()\npanel"]
        for mode in ("key_everywhere", "echo401", "stream_error_key", "tex_headers"):
            cells.append(f"%oai base-url {hostile.base_url(mode)}")
            cells.append("panel.send('hello'); panel.wait(20)")
        cells.append("panel.load_models(); panel.wait(20); panel.result")
    return cells


@pytest.mark.parametrize("surface", ["chat", "transcribe", "models", "panel"])
def test_a_notebook_saved_after_hostile_replies_holds_no_key_and_no_live_tex(
        hostile, tmp_path, surface):
    import sys

    import nbformat
    from nbclient import NotebookClient

    from .kernels import kernel_env, kernel_manager

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in _surface_cells(surface, hostile)]
    client = NotebookClient(notebook, km=kernel_manager(sys.executable, tmp_path / "jupyter"),
                            timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_env(tmp_path / "jupyter", {"OPENAI_API_KEY": TEST_KEY}))
    saved = tmp_path / "saved.ipynb"
    nbformat.write(notebook, saved)
    text = saved.read_text(encoding="utf-8")
    no_key(text)
    assert "sk-…abcd" in text or surface == "models"
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                assert "Traceback" not in "".join(output.traceback), cell.source
                assert output.ename == "UsageError", (cell.source, output.ename)
            page = (output.get("data") or {}).get("text/html")
            if page:
                assert tex_outside_ignore(page) == [], (cell.source, page[:300])
    if surface == "panel":
        assert "application/vnd.jupyter.widget-state+json" in text


# --- after any reply: the conversation exports, and the next request is valid for the API --------

@pytest.fixture(scope="module")
def chat_request_schema():
    """``CreateChatCompletionRequest`` from OpenAI's OpenAPI spec (MIT, copied verbatim)."""
    from .openapi import validator

    return validator("CreateChatCompletionRequest")


@pytest.mark.parametrize("mode", CHAT_MODES + ["unexpected_tools", "odd_ratelimit", "long_line"])
def test_after_any_reply_the_conversation_exports_and_the_next_request_is_valid(
        shell, hostile, magics, tmp_path, chat_request_schema, mode):
    magics.max_line_bytes = 100_000
    try:
        use(shell, hostile, mode)
        fails = mode in {"echo401", "stream_error_key", "invalid_utf8", "list_json", "int_content",
                         "html200", "redirect307", "long_line"}  # each with its one line
        run(shell, "%%chat --no-stream\nhello" if mode == "html200" else "%%chat\nhello",
            expect=UsageError if fails else None)
    finally:
        magics.max_line_bytes = 8 * 1024 * 1024
    for path in (tmp_path / "c.json", tmp_path / "c.md"):
        assert run(shell, f"%chat export {path}").success
    assert run(shell, f"%chat load {tmp_path / 'c.json'} -c reloaded").success
    for conversation in ("default", "reloaded"):
        use(shell, hostile, "ok")
        assert run(shell, f"%%chat -c {conversation}\nnext").success
        body = json.loads(hostile.requests[-1][2])
        errors = [e.message[:200] for e in chat_request_schema.iter_errors(body)]
        assert errors == [], errors


def test_a_key_split_across_tool_call_fragments_never_shows_in_the_card_or_the_history(
        shell, hostile, tools_defined, notebook):
    use(shell, hostile, "tools_key_split")
    assert run(shell, "%%chat --tools f --auto-tools -o r\nhello").success
    no_key(outputs(notebook), session_of(shell).conversations["default"].to_dict(), repr(shell.user_ns["r"]))
    assert "sk-…abcd" in outputs(notebook)


# --- issue 25, class 2: small responses never exhaust the kernel's memory ----------------------

FLOODS = {  # mode: (cell, what the one line names)
    "gzip_stream": ("%%chat -o r\nhello", "OAIMagics.max_line_bytes"),  # 1 MB of gzip, 1 GB inflated
    "gzip_json": ("%%chat --no-stream -o r\nhello", "OAIMagics.max_body_bytes"),  # 3 MB → 3 GB
    "huge_body": ("%%chat --no-stream -o r\nhello", "OAIMagics.max_body_bytes"),  # 200 MB plain
    "event_flood": ("%%chat -o r\nhello", "OAIMagics.max_event_bytes"),  # one event, 1 MB lines
    "gzip_batch": ("%chat batch results batch_h", "OAIMagics.max_batch_file_lines"),  # 1 GB
}
PROBE = __import__("pathlib").Path(__file__).with_name("flood_probe.py")


def _probe(hostile, tmp_path, mode: str, cell: str, address_space_mb=None) -> dict:
    """Run ``cell`` against ``mode`` in a process of its own (under ``prlimit --as``)."""
    import os
    import subprocess
    import sys

    out, printed = tmp_path / f"{mode}.json", tmp_path / f"{mode}.out"
    command = [sys.executable, str(PROBE), hostile.base_url(mode), cell, str(out)]
    if address_space_mb is not None:
        command = ["prlimit", f"--as={int(address_space_mb) << 20}", "--"] + command
    env = {**os.environ, "OPENAI_API_KEY": TEST_KEY, "PYTHONPATH": str(PROBE.parent.parent)}
    env.pop("OPENAI_BASE_URL", None)
    with open(printed, "wb") as stdout:
        finished = subprocess.run(command, env=env, stdout=stdout, stderr=subprocess.PIPE,
                                  timeout=180, cwd=tmp_path)
    assert out.exists(), finished.stderr.decode(errors="replace")[-2000:]
    report = json.loads(out.read_text())
    report["printed"] = printed.read_text(errors="replace")[-5000:]
    report["stderr"] = finished.stderr.decode(errors="replace")
    return report


@pytest.fixture(scope="module")
def normal_peak_mb(hostile, tmp_path_factory) -> float:
    """The address space a shell uses for a normal answer: the limit is set relative to it."""
    report = _probe(hostile, tmp_path_factory.mktemp("peak"), "ok", "%%chat\nhello")
    assert report["error_type"] is None, report
    return report["vm_peak_mb"]


@pytest.mark.parametrize("mode", sorted(FLOODS))
def test_a_flood_grows_the_peak_by_under_200_mb_and_ends_with_one_line(
        hostile, tmp_path, normal_peak_mb, mode):
    cell, setting = FLOODS[mode]
    report = _probe(hostile, tmp_path, mode, cell, address_space_mb=normal_peak_mb + 512)
    assert report["growth_mb"] < 200, report
    assert "Traceback" not in report["stderr"] + report["printed"], report
    if mode == "gzip_batch":  # the file is cut, the results that arrived are kept
        assert report["error_type"] is None, report
        assert setting in report["printed"], report["printed"]
    else:
        assert report["error_type"] == "UsageError" and "\n" not in report["error"], report
        assert setting in (report["result_error"] or report["error"]), report
        if "stream" in mode or "event" in mode:
            assert report["result_text_chars"] >= len("Start. "), report  # what arrived is kept


# --- issue 25, class 2: every text has its cap, and never more choices than asked -------------


@pytest.fixture
def limits(magics):
    """Set OAIMagics limits for one test, as %config would; the defaults come back after."""
    from oai_magic.core.session import LIMIT_SETTINGS as LIMIT_TRAITS

    before = {name: getattr(magics, name) for name in LIMIT_TRAITS}

    def set_limits(**values):
        for name, value in values.items():
            setattr(magics, name, value)

    yield set_limits
    set_limits(**before)


@pytest.mark.parametrize("mode, setting", [
    ("refusal_flood", "max_answer_chars"),  # a refusal is part of the answer
    ("reasoning_flood", "max_reasoning_chars"),
    ("arguments_flood", "max_tool_argument_chars"),
])
def test_refusal_reasoning_and_tool_arguments_each_have_a_cap_that_keeps_what_arrived(
        shell, hostile, limits, capsys, mode, setting):
    limits(**{setting: 50_000})
    use(shell, hostile, mode)
    error = one_line_error(run(shell, "%%chat -o r\nhello", expect=UsageError))
    r = shell.user_ns["r"]
    assert r.partial and f"OAIMagics.{setting}" in r.error and "50,000 characters" in r.error
    assert r.text.startswith("Kept. ") and "answer cut off" in error
    if mode == "refusal_flood":
        assert len(r.choices[0].refusal) <= 50_000  # what passed the cap is let go
    if mode == "reasoning_flood":
        assert len(r.reasoning) <= 50_000
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("flags, asked", [("", 1), ("-N 2", 2)])
def test_never_more_choices_than_asked(shell, hostile, flags, asked):
    use(shell, hostile, "extra_choices")
    one_line_error(run(shell, f"%%chat {flags} -o r\nhello", expect=UsageError))
    r = shell.user_ns["r"]
    assert len(r.choices) == 1 and r.text == "First choice. "
    assert f"choice 4 but {asked} w" in r.error


# --- issue 25, class 3: numbers from outside are checked where they enter ----------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["-1", "10" + "0" * 400, "-0", "1e400", "NaN", "Infinity", "-Infinity", "1.5",
                     '"12"', '"many"', "true", "null", "[1]", '{"a": 1}', "12.0", "0"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=JSON_NUMBERS)
def test_any_token_count_a_server_sends_leaves_the_answer_and_usage_working(
        shell, hostile, notebook, number):
    """Negative, 10**400, text, fractions, NaN: unreported with a notice, never a traceback."""
    use(shell, hostile, "usage_echo")
    assert run(shell, f"%%chat -o r\n{number}").success
    r = shell.user_ns["r"]
    assert r.text == "Counted." and r.error is None
    value = json.loads(number) if number not in ("NaN", "Infinity", "-Infinity") else None
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**15
    notices = " ".join(r.notices)
    if number == "null":  # not reported, and said so by the server itself: no notice
        assert r.usage.get("prompt_tokens") is None and "not counts" not in notices
    else:
        assert (r.usage.get("prompt_tokens") == value) if valid else "prompt_tokens" not in r.usage
        assert ("not counts" in notices) != valid, (number, r.notices)
    notebook.reset()
    assert run(shell, "%oai usage").success  # and it keeps working for the rest of the session
    assert notebook.messages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.floats(), st.integers(min_value=-(10**20), max_value=10**400),
                       st.sampled_from([float("nan"), float("inf"), -1, "1", 10**400])))
def test_prices_and_budgets_are_finite_and_non_negative_or_refused_when_set(
        shell, magics, caplog, value):
    """A NaN budget would never refuse and a NaN price poisons every sum: refused at %config,
    in one line, and the setting stays as it was."""
    import math

    good = (not isinstance(value, str) and 0 <= value <= 10**12
            and (math.isfinite(value) if isinstance(value, float) else True))
    shell.user_ns["value"] = value
    caplog.clear()
    run(shell, "%config OAIMagics.prices = {'m': {'input': value, 'output': 1}}")
    run(shell, "%config OAIMagics.session_budget_usd = value")
    assert (magics.prices == {"m": {"input": value, "output": 1}}) == good
    assert magics.session_budget_usd == (value if good else None)
    refusals = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(set(refusals)) == (0 if good else 2) and all("\n" not in line for line in refusals)
    magics.prices, magics.session_budget_usd = {}, None
    assert run(shell, "%oai usage").success


@pytest.mark.parametrize("mode, reason, flag", [
    ("digits5000", "a number too long to read", "--schema Point"),
    ("nested", "nested too deeply", "--schema Point"),
    ("nested", None, "--json"),  # shown as text: it does not parse, so it is not pretty-printed
])
def test_a_5000_digit_number_or_100000_deep_nesting_in_a_json_answer_is_one_line(
        shell, hostile, notebook, capsys, mode, reason, flag):
    run(shell, "from dataclasses import dataclass\n@dataclass\nclass Point:\n    x: int")
    use(shell, hostile, mode)
    if flag == "--json":
        assert run(shell, f"%%chat --no-stream {flag} -o r\nhello").success
        assert shell.user_ns["r"].text.startswith('{"x": ')
    else:
        error = one_line_error(run(shell, f"%%chat --no-stream {flag} -o r\nhello",
                                   expect=UsageError))
        assert reason in error
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["chunk_huge", "chunk_negative"])
def test_chunk_sizes_that_cannot_be_read_end_the_answer_in_one_line(shell, hostile, mode, capsys):
    use(shell, hostile, mode)
    error = one_line_error(run(shell, "%%chat -o r\nhello", expect=UsageError))
    r = shell.user_ns["r"]
    assert r.text == "Before the bad chunk. " and r.partial and "connection broke" in r.error
    assert "answer cut off" in error and "Traceback" not in capsys.readouterr().err


# --- issue 25: every wait a server asks for is bounded by OAIMagics.max_wait_s ----------------


def _within(seconds: float, cell: str, shell) -> dict:
    """Run ``cell`` in a thread; whether it ended within ``seconds`` (a hang fails, never hangs)."""
    import threading

    outcome: dict = {}

    def go():
        outcome["result"] = shell.run_cell(cell, store_history=False)

    worker = threading.Thread(target=go, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    outcome["ended"] = not worker.is_alive()
    outcome["seconds"] = time.monotonic() - started
    return outcome


def test_a_retry_after_past_max_wait_fails_at_once_and_one_that_is_no_duration_backs_off(
        shell, hostile, magics):
    magics.max_retries = 1
    try:
        for asked in ("inf", "1e308", "99999999"):
            use(shell, hostile, f"retry_after_{asked}")
            before, started = len(hostile.requests), time.monotonic()
            error = one_line_error(run(shell, "%%chat\nhello", expect=UsageError))
            assert time.monotonic() - started < 5 and len(hostile.requests) == before + 1
            assert "HTTP 429" in error and "OAIMagics.max_wait_s = 60 s" in error, error
        for asked in ("nan", "-5"):  # not a duration: the usual back-off, then the retry
            use(shell, hostile, f"retry_after_{asked}")
            before = len(hostile.requests)
            error = one_line_error(run(shell, "%%chat\nhello", expect=UsageError))
            assert len(hostile.requests) == before + 2 and "max_wait_s" not in error
    finally:
        magics.max_retries = 2


def test_map_rate_limit_resets_never_hang_and_a_wait_past_max_wait_fails_the_item(shell, hostile):
    shell.user_ns["items"] = ["a", "b", "c"]
    for mode in ("reset_inf", "reset_1e308", "reset_hours", "reset_nan", "reset_negative",
                 "reset_none"):
        use(shell, hostile, mode)
        outcome = _within(30, "%%chat --map items --concurrency 1 -o m\nSay {item}", shell)
        assert outcome["ended"], f"--map hung with x-ratelimit-reset-requests of {mode}"
        m = shell.user_ns["m"]
        assert m.results[0].ok  # the first answer carried the headers
        too_long = mode in ("reset_inf", "reset_1e308", "reset_hours")
        for item in m.results[1:]:
            if too_long:
                assert item is not None and not item.ok and "OAIMagics.max_wait_s" in item.error
            else:
                assert item is not None and item.ok, (mode, item)
        assert outcome["seconds"] < 10, mode


@pytest.mark.parametrize("mode", ["deflate_zlib", "deflate_raw", "gzip_members"])
def test_gzip_and_deflate_are_decoded_piece_by_piece_and_only_they_are_asked_for(
        shell, hostile, mode):
    """The body is inflated by oai_magic (requests would inflate whole chunks at once)."""
    use(shell, hostile, mode)
    assert run(shell, "%%chat -o r\nhello").success
    assert shell.user_ns["r"].text == "Compressed answer."
    assert hostile.requests[-1][1].get("Accept-Encoding") == "gzip, deflate"


def test_a_stream_past_max_stream_bytes_ends_with_one_line_and_keeps_the_start(
        shell, hostile, limits):
    limits(max_stream_bytes=200_000)
    use(shell, hostile, "endless")
    one_line_error(run(shell, "%%chat -o r\nhello", expect=UsageError))
    r = shell.user_ns["r"]
    assert r.partial and "OAIMagics.max_stream_bytes" in r.error and "200,000 bytes" in r.error
    assert r.text.startswith("word word") and len(r.text) < 200_000
