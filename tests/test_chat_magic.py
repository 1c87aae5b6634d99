"""%%chat and %oai as a user drives them, against the practice server over a real socket."""

from __future__ import annotations

import getpass
import threading

from IPython.core.error import UsageError

from oai_magic.core.results import ChatResult
from oai_magic.core.session import session_of
from oai_magic.practice import Scripted, sse_event

from .conftest import TEST_KEY, run
from .recording import Notebook
from .synthetic import delta_chunk

CHAT = "/chat/completions"


def test_chat_streams_the_answer_and_records_the_exchange(shell, server, capsys):
    result = run(shell, "%%chat -o r\n[[echo]] Hello there, notebook")
    assert result.success
    out = capsys.readouterr().out
    assert "Hello there, notebook" in out
    thread = session_of(shell).conversations["default"]
    assert [(m.role, m.content) for m in thread.messages] == [
        ("user", "[[echo]] Hello there, notebook"),
        ("assistant", "Hello there, notebook"),
    ]
    body = server.requests[-1].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_out_variable_holds_text_usage_model_finish_reason_request_id_and_headers(shell, server):
    run(shell, "%%chat -o r -m gpt-4o\n[[echo]] four words right here")
    r = shell.user_ns["r"]
    assert isinstance(r, ChatResult)
    assert r.text == "four words right here"
    assert r.model == "gpt-4o"
    assert r.finish_reason == "stop"
    assert r.usage["completion_tokens"] > 0
    assert r.request_id.startswith("req_")
    assert "x-ratelimit-remaining-tokens" in r.headers


def test_history_is_sent_with_the_next_prompt_and_system_prompt_first(shell, server):
    run(shell, "%%chat -s 'Be terse.'\n[[echo]] first")
    run(shell, "%%chat\n[[echo]] second")
    messages = server.requests[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Be terse."),
        ("user", "[[echo]] first"),
        ("assistant", "first"),
        ("user", "[[echo]] second"),
    ]


def test_named_conversations_are_separate_and_new_starts_afresh(shell, server):
    run(shell, "%%chat -c a\n[[echo]] in a")
    run(shell, "%%chat -c b\n[[echo]] in b")
    assert len(server.requests[-1].json["messages"]) == 1
    run(shell, "%%chat -c a -n\n[[echo]] again")
    assert len(server.requests[-1].json["messages"]) == 1
    assert len(session_of(shell).conversations["a"].messages) == 2


def test_temperature_zero_and_max_tokens_are_sent(shell, server):
    run(shell, "%%chat -t 0 --max-tokens 5\n[[echo]] hi")
    body = server.requests[-1].json
    assert body["temperature"] == 0
    assert body["max_completion_tokens"] == 5


def test_partial_answer_is_kept_visible_and_recorded_after_a_disconnect(shell, server, capsys):
    chunks = [sse_event(delta_chunk("The start ")), sse_event(delta_chunk("of it")), sse_event(delta_chunk("!"))]
    server.script(CHAT, Scripted(chunks=chunks, abort_after=2))
    error = run(shell, "%%chat -o r\nTell me", expect=UsageError)
    captured = capsys.readouterr()
    assert "The start of it" in captured.out
    assert str(error) == "answer cut off — kept in 'default' as partial; %chat undo removes it"
    assert "⚠ cut off: " in captured.out and "broke" in captured.out
    assert "Traceback" not in captured.err
    message = session_of(shell).conversations["default"].messages[-1]
    assert (message.content, message.partial) == ("The start of it", True)


def test_stream_without_done_or_finish_reason_is_an_error_and_keeps_the_text(shell, server, capsys):
    server.script(CHAT, Scripted(chunks=[sse_event(delta_chunk("cut sh"))]))
    error = run(shell, "%%chat\nTell me", expect=UsageError)
    assert "cut off" in str(error)
    out = capsys.readouterr().out
    assert "cut sh" in out and "ended before the answer was finished" in out
    assert session_of(shell).conversations["default"].messages[-1].partial


def test_error_before_any_token_records_nothing(shell, server, capsys):
    server.script(CHAT, Scripted(400, {}, b'{"error": {"message": "model not found", "type": "x"}}'))
    error = run(shell, "%%chat\nhello", expect=UsageError)
    assert "model not found" in str(error)
    assert session_of(shell).conversations["default"].messages == []


def test_unknown_option_is_a_one_line_usage_error(shell, capsys):
    run(shell, "%%chat --bogus\nhello", expect=UsageError)
    assert "Traceback" not in capsys.readouterr().err


def test_non_streamed_request(shell, server, capsys):
    run(shell, "%%chat --no-stream -o r\n[[echo]] all at once")
    assert "stream" not in server.requests[-1].json
    assert shell.user_ns["r"].text == "all at once"


def test_oai_org_and_project_apply_to_later_requests_and_clear(shell, server):
    run(shell, "%oai org org-class")
    run(shell, "%oai project proj_demo")
    run(shell, "%%chat\n[[echo]] x")
    headers = server.requests[-1].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-class", "proj_demo")
    run(shell, "%oai org --clear")
    run(shell, "%%chat\n[[echo]] y")
    assert "openai-organization" not in server.requests[-1].headers


def test_org_and_project_for_one_request_only(shell, server):
    run(shell, "%%chat --org org-once --project proj_once\n[[echo]] x")
    assert server.requests[-1].headers["openai-organization"] == "org-once"
    run(shell, "%%chat\n[[echo]] y")
    assert "openai-organization" not in server.requests[-1].headers


def test_config_sets_the_default_model(shell, server):
    run(shell, "%config OAIMagics.model = 'gpt-4.1'")
    try:
        run(shell, "%%chat\n[[echo]] x")
        assert server.requests[-1].json["model"] == "gpt-4.1"
    finally:
        run(shell, "%config OAIMagics.model = 'gpt-4o-mini'")


def test_oai_status_shows_the_masked_key_and_last_request(shell, server, capsys):
    run(shell, "%oai org org-x")
    run(shell, "%%chat\n[[echo]] hi")
    capsys.readouterr()
    run(shell, "%oai")
    out = capsys.readouterr().out
    assert "sk-…abcd" in out
    assert "org-x" in out
    assert session_of(shell).last_request_id in out
    assert "requests" in out and "left" in out


def test_oai_key_prompt_is_hidden_and_the_key_is_used(shell, server, monkeypatch, capsys):
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or "sk-typed-key-99998888")
    run(shell, "%oai key")
    assert prompts and "hidden" in prompts[0]
    run(shell, "%oai models")
    assert server.requests[-1].headers["authorization"] == "Bearer sk-typed-key-99998888"
    out = capsys.readouterr().out
    assert "sk-typed-key-99998888" not in out and "sk-…8888" in out


def test_oai_key_refuses_a_key_typed_into_the_cell(shell, capsys):
    error = run(shell, "%oai key sk-pasted-in-cell-1234", expect=UsageError)
    assert "sk-pasted-in-cell-1234" not in str(error)


def test_oai_models_lists_sorted_models(shell, server, capsys):
    run(shell, "%oai models")
    out = capsys.readouterr().out
    ids = [line.split()[0] for line in out.splitlines()[2:] if line.strip()]
    assert ids == sorted(ids) and "gpt-4o-mini" in ids


def test_oai_base_url_switches_servers(shell, server):
    run(shell, "%oai base-url http://127.0.0.1:9/v1")
    error = run(shell, "%oai models", expect=UsageError)
    assert "127.0.0.1:9" in str(error)
    run(shell, f"%oai base-url {server.base_url}")
    assert run(shell, "%oai models").success


def test_the_key_never_appears_in_outputs_errors_or_reprs(shell, server, capsys):
    server.script("/models", Scripted(401, {}, b'{"error": {"message": "Incorrect API key provided"}}'))
    cells = [
        "%oai",
        "%oai models",
        "%%chat -o r\n[[echo]] hi",
        "%chat history",
        "r",
        "import oai_magic.core.session as s; s.session_of(get_ipython())",
        "get_ipython().magics_manager.registry['OAIMagics'].client",
        "get_ipython().magics_manager.registry['OAIMagics'].state.settings",
    ]
    for cell in cells:
        run(shell, cell, expect=UsageError if cell == "%oai models" else None)  # the scripted 401
    captured = capsys.readouterr()
    assert TEST_KEY not in captured.out + captured.err
    assert TEST_KEY[-12:] not in captured.out + captured.err
    for request in server.requests:
        assert TEST_KEY.encode() not in request.body


def test_ipython_config_sets_model_base_url_org_project_timeout_and_retries(shell, server):
    from traitlets.config import Config

    from oai_magic.magics import OAIMagics

    config = Config()
    config.OAIMagics.model = "gpt-4.1-mini"
    config.OAIMagics.base_url = server.base_url
    config.OAIMagics.organization = "org-config"
    config.OAIMagics.project = "proj_config"
    config.OAIMagics.timeout = 42.0
    config.OAIMagics.max_retries = 0
    magics = OAIMagics(shell=shell, config=config)
    settings = magics.state.settings
    assert (settings.model, settings.timeout, settings.max_retries) == ("gpt-4.1-mini", 42.0, 0)
    magics.client.list_models()
    headers = server.requests[-1].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-config", "proj_config")
    magics.organization = None
    magics.project = None


def test_sampling_options_are_sent_as_the_api_names_them(shell, server):
    run(shell, "%%chat --top-p 0.5 --seed 7 --stop END --stop 'NEXT Q' --user u-42\n[[echo]] hi")
    body = server.requests[-1].json
    assert (body["top_p"], body["seed"], body["stop"], body["safety_identifier"]) == (0.5, 7, ["END", "NEXT Q"], "u-42")
    assert "user" not in body  # deprecated by the spec
    assert "temperature" not in body and "response_format" not in body


def test_max_tokens_can_be_sent_under_its_old_name_for_servers_that_need_it(shell, server):
    run(shell, "%config OAIMagics.max_tokens_param = 'max_tokens'")
    try:
        run(shell, "%%chat --max-tokens 3\n[[echo]] one two three four")
        body = server.requests[-1].json
        assert body["max_tokens"] == 3 and "max_completion_tokens" not in body
    finally:
        run(shell, "%config OAIMagics.max_tokens_param = 'max_completion_tokens'")


def test_to_cell_puts_the_last_code_block_into_the_next_input(shell, server):
    shell.rl_next_input = None
    run(shell, "%%chat --to-cell\nShow me code")  # the practice answer has a fenced python block
    assert "def practice_answer" in shell.rl_next_input




def test_json_mode_asks_for_a_json_object_and_shows_it_pretty_printed(shell, server):
    with Notebook(shell) as publisher:
        run(shell, "%%chat --json\nGive me a JSON summary")
    assert server.requests[-1].json["response_format"] == {"type": "json_object"}
    final = publisher.messages[-1]["data"]
    assert final["text/plain"].startswith("```json\n{\n  ")
    assert 'class="language-json"' in final["text/html"] or "json" in final["text/html"]


def test_notebook_answer_ends_as_one_block_with_footer_and_plain_hides_markdown(shell, server, frontend):
    with Notebook(shell) as publisher:
        run(shell, "%%chat -o r\n[[echo]] # Title <script>x()</script>")
    final = publisher.messages[-1]
    # one output: the live widget, replaced in place by the final block; the widget is closed
    assert publisher.kinds() == ["display", "update"]
    assert publisher.messages[0]["display_id"] == final["display_id"]
    assert "application/vnd.jupyter.widget-view+json" in publisher.messages[0]["data"]
    assert set(frontend.closed) == set(frontend.models)
    html = final["data"]["text/html"]
    r = shell.user_ns["r"]
    assert "<h1>" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert r.request_id in html and "gpt-4o-mini" in html and "billed to" in html
    with Notebook(shell) as publisher:
        run(shell, "%%chat --plain --no-footer\n[[echo]] # Title")
    html = publisher.messages[-1]["data"]["text/html"]
    assert "<pre" in html and "<h1>" not in html and "oai-footer" not in html


def test_tokens_that_arrive_just_before_a_pause_are_drawn_during_the_pause(shell, server, frontend):
    """Coalescing holds back tokens that arrive within render_interval of a draw; if the model then
    pauses, they must still reach the screen while it pauses, not only when the next token comes."""
    gate = threading.Event()
    first_two = sse_event(delta_chunk("Alpha ")) + sse_event(delta_chunk("Omega"))  # one HTTP chunk
    chunks = [first_two, sse_event(delta_chunk(" end", "stop")), sse_event("[DONE]")]
    server.script(CHAT, Scripted(chunks=chunks, gate=gate, gate_before=1))
    seen_during_pause = threading.Event()

    with Notebook(shell) as publisher:

        def drawn(content):
            if "Omega" in frontend.visible_anywhere() and not gate.is_set():
                seen_during_pause.set()

        frontend.on_custom = drawn

        def open_gate_when_drawn():
            seen_during_pause.wait(timeout=10)
            gate.set()

        opener = threading.Thread(target=open_gate_when_drawn)
        opener.start()
        try:
            run(shell, "%%chat\nhello")
        finally:
            gate.set()
            opener.join()
    assert seen_during_pause.is_set()
    assert "Alpha Omega end" in publisher.messages[-1]["data"]["text/plain"]
