"""What goes to the browser stays linear in the text shown (issue 25, class 5).

A real kernel streams from the hostile server on 127.0.0.1, and the test adds up every byte the
kernel publishes for the page: widget opens, the live surface's messages, and the display and
update messages of the final block. For megabytes of reasoning or of tool-call arguments that
stays within 3x the text shown, as it does for answers; redrawing a region whole at each frame
once sent 485 MB for 2 MB of reasoning.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List

import pytest

from .conftest import TEST_KEY
from .hostile_server import MORE_MODES, _stream, chunk, sse

REASONING_CHARS = 2_000_000
ARGUMENT_CHARS = 990_000  # under the default max_tool_argument_chars (1,000,000)
DELTA = 400  # characters per streamed delta: a fast model's large tokens
PROSE = "The user asks about x; consider the cases one by one, then check each. "


def _prose(chars: int) -> str:
    return (PROSE * (chars // len(PROSE) + 1))[:chars]


def _reasoning_flood(endpoint: str, key: str, body: bytes):
    text = _prose(REASONING_CHARS)
    pieces = [sse(chunk(None, reasoning_content=text[i:i + DELTA]))
              for i in range(0, len(text), DELTA)]
    return _stream(pieces + [sse(chunk("Done.", "stop")), sse("[DONE]")])


def _arguments_flood(endpoint: str, key: str, body: bytes):
    messages = json.loads(body or b"{}").get("messages") or []
    if any(m.get("role") == "tool" for m in messages):
        return _stream([sse(chunk("Done.", "stop")), sse("[DONE]")])
    arguments = '{"x": "' + _prose(ARGUMENT_CHARS) + '"}'
    first = {"index": 0, "id": "call_big", "type": "function",
             "function": {"name": "measure", "arguments": arguments[:DELTA]}}
    pieces = [sse(chunk(None, tool_calls=[first]))]
    pieces += [sse(chunk(None, tool_calls=[{"index": 0, "function": {"arguments": arguments[i:i + DELTA]}}]))
               for i in range(DELTA, len(arguments), DELTA)]
    return _stream(pieces + [sse(chunk(None, "tool_calls")), sse("[DONE]")])


MORE_MODES["bytes_reasoning"] = _reasoning_flood
MORE_MODES["bytes_arguments"] = _arguments_flood


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    from .kernels import kernel_env, kernel_manager

    tmp = tmp_path_factory.mktemp("bytes-kernel")
    manager = kernel_manager(sys.executable, tmp / "jupyter")
    manager.start_kernel(env=kernel_env(tmp / "jupyter", {"OPENAI_API_KEY": TEST_KEY}))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    execute(client, "%load_ext oai_magic\n%config OAIMagics.max_retries = 0")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def execute(client, code: str) -> List[Dict[str, Any]]:
    messages: List[Dict[str, Any]] = []
    reply = client.execute_interactive(code, output_hook=messages.append, timeout=300)
    assert reply["content"]["status"] == "ok", (reply["content"], messages[-3:])
    return messages


PAGE_MESSAGES = ("comm_open", "comm_msg", "display_data", "update_display_data", "execute_result")


def page_bytes(messages: List[Dict[str, Any]]) -> int:
    """The bytes of every message's content that carries something for the page."""
    return sum(len(json.dumps(m["content"], ensure_ascii=False).encode("utf-8"))
               for m in messages if m["msg_type"] in PAGE_MESSAGES)


def final_message(messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    return [m for m in messages if m["msg_type"] == "update_display_data"][-1]


def final_html(messages: List[Dict[str, Any]]) -> str:
    return final_message(messages)["content"]["data"]["text/html"]


def measured(messages: List[Dict[str, Any]], shown: int) -> Dict[str, float]:
    """Bytes sent per character shown: all of them, and the live ones (all but the final block,
    which carries the text twice, as HTML and as text/plain, as every answer's does)."""
    sent = page_bytes(messages)
    final = page_bytes([final_message(messages)])
    return {"total": sent / shown, "live": (sent - final) / shown, "of_final": sent / final}


def test_two_megabytes_of_reasoning_send_under_three_times_their_size(kernel, hostile):
    execute(kernel, f"%oai base-url {hostile.base_url('bytes_reasoning')}")
    messages = execute(kernel, "%%chat -o r\nThink hard")
    assert execute_value(kernel, "len(r.reasoning)") == REASONING_CHARS
    assert "Done." in final_html(messages) and "Thought (2,000,000 chars)" in final_html(messages)
    ratios = measured(messages, REASONING_CHARS)
    print(f"reasoning: {ratios}")
    assert ratios["total"] <= 3 and ratios["live"] <= 2, ratios
    custom = [m for m in messages if m["msg_type"] == "comm_msg"
              and m["content"]["data"].get("method") == "custom"]
    assert len(custom) >= 3, len(custom)  # it streamed: the page saw it grow, not only the end


def test_a_megabyte_of_tool_arguments_sends_under_three_times_the_final_block(kernel, hostile):
    execute(kernel, "def measure(x: str) -> int:\n    'How long x is.'\n    return len(x)")
    execute(kernel, f"%oai base-url {hostile.base_url('bytes_arguments')}")
    messages = execute(kernel, "%%chat --tools measure --auto-tools -o r\nMeasure it")
    html = final_html(messages)
    assert "Done." in html and "✓ returned" in html and str(ARGUMENT_CHARS) in html
    ratios = measured(messages, ARGUMENT_CHARS + len('{"x": ""}'))
    print(f"arguments: {ratios}")
    assert ratios["live"] <= 2 and ratios["of_final"] <= 3, ratios


def execute_value(client, expression: str) -> Any:
    messages = execute(client, f"print(repr({expression}))")
    text = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
    return eval(text.strip())  # noqa: S307 (our own repr of an int)


def test_a_key_split_across_argument_fragments_never_reaches_the_page(kernel, hostile):
    """The card appends its arguments a piece at a time: a key cut across two pieces must be
    masked before either is sent (each message alone would pass the outbound redaction)."""
    execute(kernel, "def f(x: int, note: str = '') -> int:\n    'Echo x.'\n    return x")
    execute(kernel, f"%oai base-url {hostile.base_url('tools_key_split')}")
    messages = execute(kernel, "%%chat -n --tools f --auto-tools\nhello")  # a fresh conversation
    sent = json.dumps([m["content"] for m in messages], ensure_ascii=False)
    assert "sk-…abcd" in sent
    for start in range(len(TEST_KEY) - 11):
        assert TEST_KEY[start:start + 12] not in sent


def panel_cards(panel) -> List[Any]:
    from .test_widget import all_widgets

    return [w for w in all_widgets(panel.transcript)
            if type(w).__name__ == "HTML" and "oai-panel-tool" in (w.value or "")]


def test_a_megabyte_of_tool_arguments_in_the_panel_sends_under_three_times_the_final_card(
        shell, panel, frontend, hostile):
    """The panel's tool card (in-process: every widget message a frontend receives is counted)."""
    from oai_magic.core.session import session_of

    from .conftest import run

    run(shell, "def measure(x: str) -> int:\n    'How long x is.'\n    return len(x)")
    session_of(shell).settings.base_url = hostile.base_url("bytes_arguments")
    p = panel()
    p.tools.value, p.auto_tools.value = "measure", True
    before, messages_before = frontend.bytes, frontend.received
    p.send("Measure it")
    result = p.wait(300)
    assert result.text == "Done."
    [card] = panel_cards(p)
    assert "✓ returned" in card.value and str(ARGUMENT_CHARS) in card.value
    final = len(json.dumps({"value": card.value}, ensure_ascii=False).encode("utf-8"))
    sent = frontend.bytes - before
    print(f"panel arguments: {sent / final:.2f}x the final card ({sent:,} bytes, "
          f"{frontend.received - messages_before} messages)")
    assert sent <= 3 * final, (sent, final)
    streamed = [c for model, c in frontend.customs.items() if model in frontend.pages
                and any("measure" in str(m) for m in c)]
    assert streamed and len(streamed[0]) >= 3  # the card grew on the page as the arguments came
