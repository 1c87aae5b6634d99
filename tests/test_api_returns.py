"""Issue 29, "What the API returns, shown": citations, logprobs, tiers, files, identity and
cache keys, extra headers, and real prices, each against the practice server over a socket.

Request bodies are checked against OpenAI's spec (tests/fixtures/openapi, MIT).
"""

from __future__ import annotations

import json
import math
import re

import pytest
from IPython.core.error import UsageError
from traitlets import TraitError

from oai_magic.core import costs
from oai_magic.core.cache_keys import conversation_cache_key, prompt_cache_key
from oai_magic.practice import Scripted, sse_event
from oai_magic.state import get_state

from .conftest import TEST_KEY, run
from .test_api_today import assert_valid_chat_request

CHAT = "/chat/completions"


def magics(shell):
    return shell.magics_manager.registry["OAIMagics"]


def last_body(server):
    return server.requests[-1].json


def final_html(shell, cell, frontend):
    from .recording import Notebook

    with Notebook(shell) as publisher:
        assert run(shell, cell).success
    return publisher.messages[-1]["data"]["text/html"]


# --- 2. citations ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_web_search_sends_its_options_and_the_sources_are_kept_and_listed_before_the_footer(
        shell, server, frontend, stream):
    flags = "--web-search high" + ("" if stream else " --no-stream")
    html = final_html(shell, f"%%chat {flags} -o r\n[[echo]] Where is Oslo?", frontend)
    body = last_body(server)
    assert body["web_search_options"] == {"search_context_size": "high"}
    assert_valid_chat_request(body)
    r = shell.user_ns["r"]
    assert [c["url"] for c in r.citations] == [
        f"https://example.com/practice/source-{n}?context=high" for n in (1, 2)]
    assert r.citations[0] == {"url": r.citations[0]["url"], "title": "Practice source 1",
                              "start_index": 0, "end_index": len(r.text) // 2}
    link = ('<a href="https://example.com/practice/source-1?context=high" '
            'rel="noopener noreferrer nofollow" target="_blank">Practice source 1</a>')
    assert link in html
    assert html.index("oai-answer") < html.index("oai-sources") < html.index("oai-footer")
    assert r.text == "Where is Oslo?"  # the sources are not part of the answer


def test_web_search_without_a_size_sends_empty_options(shell, server):
    assert run(shell, "%%chat --web-search\n[[echo]] hi").success
    assert last_body(server)["web_search_options"] == {}
    assert_valid_chat_request(last_body(server))


def test_sources_are_printed_as_numbered_lines_before_the_footer_in_a_terminal(shell, server,
                                                                               capsys):
    assert run(shell, "%%chat --web-search low\n[[echo]] hi there").success
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-3] == "[1] Practice source 1 — https://example.com/practice/source-1?context=low"
    assert lines[-2].startswith("[2] Practice source 2") and lines[-1].startswith("— ")


def hostile_citation_chunks():
    annotations = [
        {"type": "url_citation", "url_citation": {
            "url": "javascript:alert(document.cookie)", "title": "$\\href{https://evil.example}{click}$",
            "start_index": 0, "end_index": 3}},
        {"type": "url_citation", "url_citation": {
            "url": "https://ok.example/a?b=1&c=<2>", "title": "<b>bold</b> \\(x^2\\)",
            "start_index": 0, "end_index": 3}},
        {"type": "url_citation", "url_citation": {
            "url": "data:text/html,<script>alert(1)</script>", "title": "data", "start_index": 1,
            "end_index": 2}},
        {"type": "file_citation", "file_citation": {"file_id": "f"}},  # not a url: not listed
    ]
    head = {"id": "chatcmpl-h", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    return [sse_event({**head, "choices": [{"index": 0, "delta": {"content": "Yes."}}]}),
            sse_event({**head, "choices": [{"index": 0, "delta": {"annotations": annotations}}]}),
            sse_event({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            sse_event("[DONE]")]


def test_a_javascript_url_and_a_tex_title_in_citations_stay_inert_text(shell, server, frontend):
    server.script(CHAT, Scripted(chunks=hostile_citation_chunks()))
    html = final_html(shell, "%%chat -o r\nhi", frontend)
    r = shell.user_ns["r"]
    assert len(r.citations) == 3 and r.text == "Yes."
    sources = html[html.index("oai-sources") - 12:html.index("oai-footer")]
    assert "tex2jax_ignore mathjax_ignore" in sources[:80]
    assert 'href="javascript' not in html.lower() and 'href="data' not in html.lower()
    assert "<code>javascript:alert(document.cookie)</code>" in sources
    assert "$\\href{https://evil.example}{click}$" in sources  # text, inside the MathJax-ignored list
    assert "&lt;b&gt;bold&lt;/b&gt;" in sources and "<b>bold" not in sources
    assert "<script" not in html
    assert sources.count("<a ") == 1
    assert 'href="https://ok.example/a?b=1&amp;c=&lt;2&gt;" rel="noopener noreferrer nofollow"' in sources


# --- 3. logprobs -------------------------------------------------------------------------------


def test_logprobs_are_asked_for_and_kept_token_by_token(shell, server):
    assert run(shell, "%%chat --logprobs 2 -o r\n[[echo]] Hello there, world").success
    body = last_body(server)
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert_valid_chat_request(body)
    r = shell.user_ns["r"]
    assert "".join(t["token"] for t in r.logprobs) == r.text == "Hello there, world"
    for token in r.logprobs:
        assert set(token) == {"token", "logprob", "top_logprobs"}
        assert token["logprob"] <= 0 and len(token["top_logprobs"]) == 2
        assert set(token["top_logprobs"][0]) == {"token", "logprob"}


def test_logprobs_without_k_ask_for_three_alternatives_and_out_of_range_is_one_line(shell, server):
    assert run(shell, "%%chat --logprobs -o r\n[[echo]] hi").success
    assert last_body(server)["top_logprobs"] == 3
    before = len(server.requests)
    line = str(run(shell, "%%chat --logprobs 21\nhi", expect=UsageError))
    assert "--logprobs K takes 0..20" in line and len(server.requests) == before


def test_the_confidence_view_tints_tokens_with_their_alternatives_in_one_static_block(
        shell, server, frontend):
    html = final_html(shell, "%%chat --confidence -o r\n[[echo]] Hello <b>there</b>", frontend)
    assert last_body(server)["logprobs"] is True
    r = shell.user_ns["r"]
    assert html.count('<div class="oai-answer') == 1 and "oai-confidence" in html
    assert "<script" not in html and "&lt;b&gt;" in html and "<b>there" not in html
    first = r.logprobs[0]
    assert f'title="{round(math.exp(first["logprob"]) * 100)}% · alternatives: ' in html
    assert html.index("oai-confidence") < html.index("oai-footer")


def test_map_results_keep_their_logprobs(shell, server):
    shell.user_ns["xs"] = ["one", "two"]
    assert run(shell, "%%chat --map xs --logprobs 1 -o out\n[[echo]] {item}").success
    out = shell.user_ns["out"]
    assert [[t["token"] for t in item.logprobs] for item in out] == [["one"], ["two"]]
    assert out[0].to_dict()["logprobs"] == out[0].logprobs
    again = type(out[0]).from_dict(json.loads(json.dumps(out[0].to_dict())))
    assert again.logprobs == out[0].logprobs


def test_a_key_split_across_logprob_tokens_is_masked():
    from oai_magic.masking import redact_pieces

    pieces = ["Your key: ", TEST_KEY[:10], TEST_KEY[10:20], TEST_KEY[20:], " ok"]
    shown = redact_pieces(pieces, TEST_KEY)
    assert TEST_KEY[5:17] not in "".join(shown) and shown[0] == "Your key: " and shown[-1] == " ok"
    assert shown[2:4] == ["", ""]


# --- 4. identity and caching -------------------------------------------------------------------


def test_user_is_sent_as_safety_identifier(shell, server):
    assert run(shell, "%%chat --user student-7\n[[echo]] hi").success
    body = last_body(server)
    assert body["safety_identifier"] == "student-7" and "user" not in body
    assert_valid_chat_request(body)


def test_prompt_cache_keys_are_per_conversation_hashes_never_the_names(shell, server, magics,
                                                                        monkeypatch):
    assert run(shell, "%%chat\n[[echo]] hi").success
    assert "prompt_cache_key" not in last_body(server)  # "auto": api.openai.com only
    magics.prompt_cache_key = "conversation"
    try:
        monkeypatch.setenv("JPY_SESSION_NAME", "lessons/week1.ipynb")
        keys = {}
        for name in ("algebra", "geometry", "algebra"):
            assert run(shell, f"%%chat -c {name}\n[[echo]] hi").success
            body = last_body(server)
            assert_valid_chat_request(body)
            keys.setdefault(name, set()).add(body["prompt_cache_key"])
        assert len(keys["algebra"]) == 1 and keys["algebra"] != keys["geometry"]
        key = next(iter(keys["algebra"]))
        assert "algebra" not in key and "week1" not in key and len(key) <= 64
        monkeypatch.setenv("JPY_SESSION_NAME", "lessons/week2.ipynb")
        assert run(shell, "%%chat -c algebra\n[[echo]] hi").success
        assert last_body(server)["prompt_cache_key"] not in keys["algebra"]
        magics.prompt_cache_key = None
        assert run(shell, "%%chat -c algebra\n[[echo]] hi").success
        assert "prompt_cache_key" not in last_body(server)
        with pytest.raises(TraitError, match="auto"):
            magics.prompt_cache_key = "always"
    finally:
        magics.prompt_cache_key = "auto"


def test_auto_sends_the_cache_key_to_openai_only(shell):
    state = get_state(shell)
    state.settings.base_url = "https://api.openai.com/v1"
    assert prompt_cache_key(state, "notes") == conversation_cache_key("terminal", "notes")
    state.settings.base_url = "http://localhost:8080/v1"
    assert prompt_cache_key(state, "notes") is None


def test_a_server_refusing_the_cache_key_is_asked_again_without_it_and_remembered(
        shell, server, magics, capsys):
    refusal = json.dumps({"error": {"message": "Unrecognized request argument supplied: "
                                    "prompt_cache_key", "type": "invalid_request_error",
                                    "param": "prompt_cache_key", "code": None}}).encode()
    server.script(CHAT, Scripted(status=400, body=refusal,
                                 headers={"Content-Type": "application/json"}))
    magics.prompt_cache_key = "conversation"
    try:
        assert run(shell, "%%chat -o r\n[[echo]] hello").success
        assert shell.user_ns["r"].text == "hello"
        first, second = server.requests[-2].json, server.requests[-1].json
        assert "prompt_cache_key" in first and "prompt_cache_key" not in second
        assert "refused prompt_cache_key" in capsys.readouterr().out
        assert run(shell, "%%chat\n[[echo]] again").success
        assert "prompt_cache_key" not in last_body(server)
    finally:
        magics.prompt_cache_key = "auto"


# --- 5. tiers ----------------------------------------------------------------------------------


def test_the_service_tier_is_sent_and_the_serving_tier_is_shown_and_priced(shell, server, capsys):
    assert run(shell, "%%chat --service-tier flex -m o4-mini -o r\n[[echo]] hi").success
    body = last_body(server)
    assert body["service_tier"] == "flex"
    assert_valid_chat_request(body)
    r = shell.user_ns["r"]
    assert r.service_tier == "flex"
    assert r.cost == pytest.approx(costs.estimate_cost(r.usage, "o4-mini", tier="flex"))
    assert r.cost < costs.estimate_cost(r.usage, "o4-mini")
    footer = capsys.readouterr().out.strip().splitlines()[-1]
    assert "o4-mini · flex tier" in footer and costs.format_cost(r.cost) in footer
    assert run(shell, "%%chat --service-tier auto -o r\n[[echo]] hi").success
    assert " tier" not in capsys.readouterr().out  # served at the default tier: nothing to say
    assert "--service-tier" in str(run(shell, "%%chat --service-tier cheap\nhi", expect=UsageError))


# --- 6. files ----------------------------------------------------------------------------------


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"x" * (12595 - 9))  # 12.3 KiB
    return path


def test_a_file_is_sent_as_a_file_part_acknowledged_and_listed_in_the_sent_line(
        shell, server, pdf, capsys):
    assert run(shell, f"%%chat --file {pdf} -o r\nSummarise it.").success
    body = last_body(server)
    assert_valid_chat_request(body)
    part = body["messages"][-1]["content"][-1]
    assert part["type"] == "file" and part["file"]["filename"] == "report.pdf"
    assert part["file"]["file_data"].startswith("data:application/pdf;base64,JVBERi0xLjQK")
    assert "I received a PDF, 12.3 KiB." in shell.user_ns["r"].text
    out = capsys.readouterr().out
    assert "sent with the prompt: report.pdf (application/pdf, 12.3 KiB)" in out


def test_history_export_and_load_keep_a_file_part(shell, server, pdf, tmp_path):
    assert run(shell, f"%%chat -c docs --file {pdf}\nRead this.").success
    assert run(shell, "%%chat -c docs\n[[echo]] and then?").success
    sent = last_body(server)["messages"]
    assert any(p.get("type") == "file" for p in sent[0]["content"])  # sent again with history
    path = tmp_path / "docs.json"
    run(shell, f"%chat export {path} -c docs")
    run(shell, f"%chat load {path} -c copy")
    copy = get_state(shell).conversations["copy"]
    assert copy.messages[0].content == get_state(shell).conversations["docs"].messages[0].content
    markdown = tmp_path / "docs.md"
    run(shell, f"%chat export {markdown} -c docs")
    assert "[file: report.pdf]" in markdown.read_text()


def test_a_missing_or_too_big_file_is_one_line_and_nothing_is_sent(shell, server, pdf):
    from oai_magic.core.files import resolve_file
    from oai_magic.errors import InputError

    before = len(server.requests)
    line = str(run(shell, "%%chat --file /no/such.pdf\nhi", expect=UsageError))
    assert line == "--file /no/such.pdf: no such file; nothing sent." and len(server.requests) == before
    with pytest.raises(InputError, match="over the 1.0 KiB limit"):
        resolve_file(str(pdf), max_bytes=1024)


def test_a_server_refusing_files_gets_a_one_line_hint(shell, server, pdf):
    refusal = json.dumps({"error": {"message": "Invalid content type: file is not supported.",
                                    "type": "invalid_request_error", "param": "messages",
                                    "code": None}}).encode()
    server.script(CHAT, Scripted(status=400, body=refusal,
                                 headers={"Content-Type": "application/json"}))
    line = str(run(shell, f"%%chat --file {pdf}\nhi", expect=UsageError))
    assert "may not accept files (--file)" in line and "\n" not in line


# --- 7. headers --------------------------------------------------------------------------------


def test_extra_headers_go_with_every_request_and_secret_values_show_masked(shell, server, magics,
                                                                          capsys):
    secret = "azure-0123456789abcdefSECRET"
    magics.extra_headers = {"api-key": secret, "X-Team": "physics"}
    try:
        assert run(shell, "%%chat\n[[echo]] hi").success
        headers = {k.lower(): v for k, v in server.requests[-1].headers.items()}
        assert headers["api-key"] == secret and headers["x-team"] == "physics"
        capsys.readouterr()
        run(shell, "%oai")
        status = capsys.readouterr().out
        assert "X-Team: physics" in status and secret not in status and "…CRET" in status
        assert secret not in repr(magics.extra_headers) and secret not in str(magics.extra_headers)
        with pytest.raises(TraitError, match="one line"):
            magics.extra_headers = {"X-Bad": "a\r\nInjected: yes"}
        with pytest.raises(TraitError, match="set by oai_magic"):
            magics.extra_headers = {"Content-Type": "text/plain"}
    finally:
        magics.extra_headers = {}


# --- 8. small things ---------------------------------------------------------------------------


def test_stream_options_from_param_are_merged_and_include_usage_stays(shell, server):
    flags = "--param 'stream_options={\"include_obfuscation\": false}'"
    assert run(shell, f"%%chat {flags} -o r\n[[echo]] hi").success
    body = last_body(server)
    assert body["stream_options"] == {"include_usage": True, "include_obfuscation": False}
    assert_valid_chat_request(body)
    assert shell.user_ns["r"].usage  # the footer's tokens still arrive


def test_an_audio_answer_says_so_in_one_line(shell, server, capsys):
    completion = {"id": "chatcmpl-audio", "object": "chat.completion", "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                      "role": "assistant", "content": None,
                      "audio": {"id": "audio_1", "data": "UklGRg==", "expires_at": 1,
                                "transcript": "Hello"}}}],
                  "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    server.script(CHAT, Scripted(body=json.dumps(completion).encode(),
                                 headers={"Content-Type": "application/json"}))
    assert run(shell, "%%chat --no-stream -o r\nSay hello").success
    out = capsys.readouterr().out
    assert out.count("audio answers are not shown") == 1
    assert not shell.user_ns["r"].partial


def test_the_completion_id_is_kept(shell, server):
    assert run(shell, "%%chat -o r\n[[echo]] hi").success
    assert re.fullmatch(r"chatcmpl-practice[0-9a-f]{16}", shell.user_ns["r"].id)


# --- 1. prices ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "o4-mini", "gpt-5-mini", "gpt-5.1"])
def test_current_models_are_priced_with_cached_input_and_reasoning_output(model):
    plain = {"prompt_tokens": 10_000, "completion_tokens": 2_000}
    cached = {**plain, "prompt_tokens_details": {"cached_tokens": 8_000}}
    reasoning = {**plain, "completion_tokens_details": {"reasoning_tokens": 1_500}}
    cost = costs.estimate_cost(plain, model)
    assert cost is not None and cost > 0
    assert costs.estimate_cost(cached, model) < cost  # cached input is cheaper
    assert costs.estimate_cost(reasoning, model) == pytest.approx(cost)  # reasoning is output
    assert costs.estimate_cost(plain, model, tier="batch") < cost


def test_whisper_is_priced_by_the_second_and_a_transcribe_model_by_its_tokens():
    assert costs.estimate_cost({"type": "duration", "seconds": 60}, "whisper-1") == pytest.approx(0.006)
    assert costs.estimate_cost(None, "whisper-1", seconds=30) == pytest.approx(0.003)
    assert costs.estimate_cost(None, "whisper-1") is None  # no duration: unknown, not zero
    tokens = {"type": "tokens", "input_tokens": 1000, "output_tokens": 100,
              "input_token_details": {"audio_tokens": 900, "text_tokens": 100}}
    assert costs.estimate_cost(tokens, "gpt-4o-mini-transcribe") > 0


def test_an_override_wins_and_an_unknown_model_is_price_unknown(shell, server, magics, capsys):
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    assert costs.estimate_cost(usage, "gpt-5-mini", {"gpt-5-mini": {"input": 1, "output": 1}}) == 2
    assert costs.estimate_cost(usage, "no-such-model-9") is None
    assert costs.format_cost(costs.estimate_cost(usage, "no-such-model-9")) == "price unknown"
    magics.prices = {"practice-1": {"input": 1.0, "output": 2.0}}
    try:
        assert run(shell, "%%chat -m practice-1 -o r\n[[echo]] hi").success
        r = shell.user_ns["r"]
        assert r.cost == pytest.approx((r.usage["prompt_tokens"] + 2 * r.usage["completion_tokens"]) / 1e6)
    finally:
        magics.prices = {}
    assert run(shell, "%%chat -m practice-1\n[[echo]] hi").success
    assert "price unknown" in capsys.readouterr().out.strip().splitlines()[-1]


def test_the_first_priced_footer_and_oai_usage_say_where_prices_come_from(shell, server, capsys):
    import genai_prices

    assert run(shell, "%%chat\n[[echo]] one").success
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"genai-prices {genai_prices.__version__}, OpenAI data as of " in first
    assert run(shell, "%%chat\n[[echo]] two").success
    assert "genai-prices" not in capsys.readouterr().out  # once
    run(shell, "%oai usage")
    assert f"prices: genai-prices {genai_prices.__version__}" in capsys.readouterr().out


def test_load_ext_does_not_import_the_price_data():
    import subprocess
    import sys

    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "InteractiveShell.instance().run_line_magic('load_ext', 'oai_magic')\n"
            "print('genai_prices' in sys.modules, 'pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_chat_help_documents_every_option_of_issue_29(shell):
    doc = magics(shell).chat.__doc__
    for option in ("--web-search", "--logprobs", "--confidence", "--service-tier", "--file",
                   "safety_identifier", "result.citations", "result.logprobs"):
        assert option in doc, option


def test_the_python_api_takes_the_same_options_with_the_same_checks(shell, server, pdf):
    from oai_magic import session
    from oai_magic.errors import InputError

    chat = session()
    result = chat.chat("[[echo]] hi there", web_search="low", logprobs=2, service_tier="flex",
                       model="o4-mini", conversation="api").result()
    body = last_body(server)
    assert body["web_search_options"] == {"search_context_size": "low"}
    assert body["top_logprobs"] == 2 and body["service_tier"] == "flex"
    assert result.citations and result.logprobs and result.service_tier == "flex"
    result = chat.chat("Summarise.", file=str(pdf), conversation="api-file").result()
    assert "I received a PDF, 12.3 KiB." in result.text
    with pytest.raises(InputError, match="--logprobs K takes 0..20"):
        chat.chat("hi", logprobs=99)
    with pytest.raises(InputError, match="--service-tier must be one of"):
        chat.chat("hi", service_tier="cheap")


def test_the_panel_lists_an_answers_sources_with_inert_titles(shell, server, panel):
    from .test_widget import shown

    server.script(CHAT, Scripted(chunks=hostile_citation_chunks()))
    p = panel()
    p.send("hi")
    assert p.wait(10).citations
    text = shown(p.transcript)
    assert 'rel="noopener noreferrer nofollow" target="_blank"' in text
    assert 'href="javascript' not in text.lower() and "<b>bold" not in text
    assert text.index("oai-sources") < text.index("oai-footer")


def test_a_cited_url_carrying_the_key_percent_encoded_is_masked_and_not_a_link(shell, server,
                                                                                frontend):
    from urllib.parse import quote

    encoded = "".join(f"%{ord(c):02X}" for c in TEST_KEY)
    annotation = {"type": "url_citation", "url_citation": {
        "url": f"https://evil.example/?k={encoded}", "title": f"t {quote(TEST_KEY)}",
        "start_index": 0, "end_index": 2}}
    head = {"id": "chatcmpl-k", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    server.script(CHAT, Scripted(chunks=[
        sse_event({**head, "choices": [{"index": 0, "delta": {"content": "Ok."}}]}),
        sse_event({**head, "choices": [{"index": 0, "delta": {"annotations": [annotation]},
                                        "finish_reason": "stop"}]}),
        sse_event("[DONE]")]))
    html = final_html(shell, "%%chat -o r\nhi", frontend)
    assert encoded not in html
    assert TEST_KEY not in html
    url = shell.user_ns["r"].citations[0]["url"]
    assert encoded not in url and TEST_KEY not in url and "sk-…abcd" in url
