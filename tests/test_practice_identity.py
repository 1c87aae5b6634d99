"""The practice server says what it is in a header, never in the content (CONTRACTS 4), and its
answers reflect the prompt (quoted, capped), the system prompt and the earlier turns."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from oai_magic.core.session import session_of
from oai_magic.practice import PracticeServer, Scripted
from oai_magic.state import Secret

from .conftest import TEST_KEY, run
from .test_practice import call, chat, contents, streamed_chat, user


def answer(server, messages, **body):
    status, _, raw = chat(server, messages=messages, **body)
    assert status == 200, raw
    return json.loads(raw)["choices"][0]["message"]["content"]


# ---------------------------------------------------------------- the header


def test_every_practice_response_carries_the_practice_header(practice):
    with PracticeServer(api_key=TEST_KEY) as keyed:
        refused = call(keyed, "GET", "/v1/models", key=None)
    responses = [
        call(practice, "GET", "/v1/models"),
        chat(practice, messages=user("hi")),
        refused,  # 401: that server was started with a key
        call(practice, "GET", "/v1/nowhere"),  # 404
    ]
    practice.script("/v1/chat/completions", Scripted(500, {}, b'{"error": {"message": "boom"}}'))
    responses.append(chat(practice, messages=user("x")))  # a scripted fault
    statuses = [status for status, _, _ in responses]
    assert statuses[0] == 200 and statuses[2] == 401 and statuses[4] == 500
    assert all(headers.get("x-oai-practice") == "1" for _, headers, _ in responses)
    headers, _, _, _ = streamed_chat(practice, messages=user("hi"))
    assert headers["x-oai-practice"] == "1"


@pytest.mark.parametrize("prompt", ["Hello", "[[tokens=2000]] go", "[[echo]] Hello there", "[[json]] data"])
def test_practice_content_carries_no_label(practice, prompt):
    text = answer(practice, user(prompt))
    assert "practice output" not in text.lower() and "no model was called" not in text


def test_json_answers_stay_plain_json(practice):
    data = json.loads(answer(practice, user("Rate this"), response_format={"type": "json_object"}))
    assert data["prompt"] == "Rate this" and "note" not in data and "practice" not in data


class PlainServer(http.server.ThreadingHTTPServer):
    """Another OpenAI-compatible server: answers one streamed chat and sends no practice header."""

    def __init__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                chunk = {"id": "c", "model": "other-model",
                         "choices": [{"index": 0, "delta": {"content": "From elsewhere."}, "finish_reason": "stop"}]}
                body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(body)))
                self.send_header("x-request-id", "req_plain")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        outer.base_url = f"http://127.0.0.1:{self.server_address[1]}/v1"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_the_footer_badge_follows_the_header_not_the_url(shell, server, capsys):
    assert run(shell, "%%chat -o r\nHello").success
    footer = capsys.readouterr().out.strip().splitlines()[-1]
    assert footer.startswith("— practice · gpt-4o-mini · ")
    other = PlainServer()
    try:
        session_of(shell).settings.base_url = other.base_url
        assert run(shell, "%%chat -o r\nHello").success
    finally:
        other.shutdown()
        other.server_close()
    out = capsys.readouterr().out
    assert "From elsewhere." in out and "practice" not in out
    assert run(shell, "%oai").success
    assert "practice" not in capsys.readouterr().out


def test_oai_status_says_the_practice_server_answered_and_reads_the_key_plainly(shell, server, capsys):
    run(shell, "%%chat\nHello")
    capsys.readouterr()
    run(shell, "%oai")
    status = capsys.readouterr().out
    assert "practice (the last reply came from the practice server)" in status
    assert "sk-…abcd (from session)" in status
    session_of(shell).settings.api_key = None
    run(shell, "%oai")
    status = capsys.readouterr().out
    assert "none needed (requests to this server go without one)" in status  # a local server
    session_of(shell).settings.base_url = "https://api.openai.com/v1"
    run(shell, "%oai")
    status = capsys.readouterr().out
    assert "not set (%oai key, or OPENAI_API_KEY before starting IPython)" in status  # a terminal
    assert "(not set) (from none)" not in status
    session_of(shell).settings.api_key = Secret("sk-practice-offline-0000")
    run(shell, "%oai")
    status = capsys.readouterr().out
    assert "none needed (the practice server takes any key)" in status and "sk-…0000" not in status


def test_the_setup_cell_says_practice_server_when_the_environment_names_a_standalone_one(
        shell, monkeypatch, capsys):
    proc = subprocess.Popen([sys.executable, "-m", "oai_magic.practice", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base_url = line[line.index("http://"):].split()[0].rstrip(".")
        state = session_of(shell)
        state.settings.api_key = None
        state.settings.base_url = None
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        assert run(shell, "%oai practice --if-no-key").success
        said = capsys.readouterr().out
        assert f"Using {base_url} with your key sk-…abcd (from OPENAI_API_KEY): that is a practice server" in said
        assert "real model" not in said
        assert session_of(shell).practice_server is None
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_setup_cell_does_not_ask_a_remote_url(shell, monkeypatch, capsys):
    """Only 127.0.0.1, localhost and ::1 are asked whether they are a practice server: asking a
    remote URL could hang the setup cell on an unreachable network. 127.0.0.2 is not one of those
    names, so it stands for a remote host here, with a listener that must see no connection."""
    state = session_of(shell)
    state.settings.api_key = None
    state.settings.base_url = None
    with socket.socket() as listener:
        listener.bind(("127.0.0.2", 0))
        listener.listen(1)
        listener.setblocking(False)
        url = f"http://127.0.0.2:{listener.getsockname()[1]}/v1"
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        assert run(shell, "%oai practice --if-no-key").success
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    said = capsys.readouterr().out
    assert said.startswith(f"Using {url} with your key sk-…abcd (from OPENAI_API_KEY).")
    assert "real model" not in said


# ---------------------------------------------------------------- the answers


def test_a_huge_prompt_is_quoted_at_about_200_characters(practice):
    """Quoting reads the prompt once: answering costs less CPU (client and server, this process)
    than echoing the same 540 kB back, measured in the same run (about a third of it)."""
    prompt = "word " * 108_000  # 540 kB
    started = time.process_time()
    answer(practice, user("[[echo]] " + prompt))
    echo_cpu = time.process_time() - started
    started = time.process_time()
    text = answer(practice, user(prompt))
    assert time.process_time() - started < echo_cpu
    quoted = text.split("You wrote: “")[1].split("”")[0]
    assert 190 <= len(quoted.split("…")[0]) <= 200 and "more characters" in quoted
    assert len(text) < 2000


@pytest.mark.parametrize("prompt", [
    "line one\n  line two with  double  spaces\n\nand ünïcödé ✓ 日本語\n",
    "x" * 5000,
])
def test_echo_returns_the_prompt_exactly_and_is_not_capped(practice, prompt):
    assert answer(practice, user("[[echo]] " + prompt)) == prompt
    _, _, events, _ = streamed_chat(practice, messages=user("[[echo]] " + prompt))
    assert "".join(contents(events)) == prompt


def test_a_haiku_system_prompt_gives_short_lines_that_quote_it(practice):
    messages = [{"role": "system", "content": "Answer every question as a haiku."},
                *user("What is the speed of light in vacuum?")]
    text = answer(practice, messages)
    verse = text.split("\n\n")[0].splitlines()
    assert len(verse) == 3 and all(len(line) <= 40 for line in verse)
    assert "System prompt: “Answer every question as a haiku.”" in text
    assert text != answer(practice, user("What is the speed of light in vacuum?"))


def test_a_terse_system_prompt_gives_one_line(practice):
    messages = [{"role": "system", "content": "Be terse."}, *user("Explain entropy in detail please")]
    text = answer(practice, messages)
    assert text.count("\n") == 1 and text.startswith("Terse, as the system prompt asks")


def test_the_answer_counts_the_earlier_turns_and_quotes_the_system_prompt(shell, server):
    run(shell, '%%chat -s "You are a patient physics tutor." -o r\nWhat is a force?')
    first = shell.user_ns["r"].text
    run(shell, "%%chat -o r\nAnd mass?")
    second = shell.user_ns["r"].text
    assert "System prompt: “You are a patient physics tutor.”" in first
    assert "first turn" in first and "Earlier turns in this conversation: 1." in second
    assert "| earlier turns | 1 |" in second


def test_delay_ms_waits_before_answering(practice):
    started = time.monotonic()
    assert answer(practice, user("[[delay_ms=300]] hi")).startswith("## ")
    assert time.monotonic() - started >= 0.3
    assert "delay_ms" not in answer(practice, user("[[delay_ms=1]] [[echo]] exact"))
