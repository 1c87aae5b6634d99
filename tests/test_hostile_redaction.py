"""Issue 25, class 1: the key never survives what a renderer or a browser decodes.

Property-based (hypothesis): the key written with HTML character references (decimal, hex,
named, with or without ";", any case, leading zeros), percent-escapes, both nested, split across
deltas and choices, never appears (after decoding with ``html.unescape`` and ``unquote``, again
and again) in what is shown: the redacted text, the stream's joined output, the reasoning, every
display and widget message of a real answer, its result and history, and a notebook saved by
nbclient. What goes to the server never carries the key either, whatever the user interpolated.
"""

from __future__ import annotations

import html
import json
import os
import sys
from urllib.parse import unquote

import nbformat
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nbclient import NotebookClient

from oai_magic.api.accumulator import ChatAccumulator
from oai_magic.core.recording import Recording
from oai_magic.core.results import ChatResult
from oai_magic.core.transcription_result import TranscriptResult
from oai_magic.errors import one_line
from oai_magic.plain_text import shortened
from oai_magic.redaction import StreamRedactor, redact
from oai_magic.state import get_state

from .conftest import TEST_KEY, run
from .hostile_replies import encode_key
from .kernels import kernel_env, kernel_manager

KEY_RUNS = [TEST_KEY[i: i + 12] for i in range(len(TEST_KEY) - 11)]
AROUND = st.text(alphabet="abc xyz<>&%;#019\n*_`[]()", max_size=30)


def decoded(text: str) -> str:
    """What a renderer and then a browser could make of ``text``, decoded until it stops."""
    for _ in range(10):
        again = unquote(html.unescape(text))
        if again == text:
            return text
        text = again
    return text


def no_key(*texts) -> None:
    for text in texts:
        text = text if isinstance(text, str) else json.dumps(text, default=str, ensure_ascii=False)
        shown = decoded(text)
        for run_ in KEY_RUNS:
            assert run_ not in shown, f"key run {run_!r} in {shown[:300]!r}"


# --- the one function ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**6), before=AROUND, after=AROUND)
def test_redact_masks_the_key_in_any_encoding_a_browser_decodes(seed, before, after):
    text = before + encode_key(TEST_KEY, seed) + after
    no_key(redact(text, TEST_KEY))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**6), before=AROUND, after=AROUND, limit=st.integers(0, 200))
@example(seed=63295, before="Here: ", after="", limit=60)  # cut inside "&#X00052E": an "R"
def test_a_redacted_text_shortened_for_a_preview_holds_no_key(seed, before, after, limit):
    text = redact(before + encode_key(TEST_KEY, seed) + after, TEST_KEY)
    short = shortened(text, limit)
    no_key(short)
    assert len(short) <= max(limit, 3) and (short == text or short.endswith("..."))


def test_every_result_repr_and_one_line_shortens_its_text_without_leaving_a_key_run():
    text = redact("Here: " + encode_key(TEST_KEY, 63295) + " and more words after it", TEST_KEY)
    transcript = TranscriptResult(text=text, source="a.wav", filename="a.wav", model="m")
    recording = Recording()
    recording.result = transcript
    no_key(repr(ChatResult(text=text)), repr(transcript), repr(recording), one_line(text, 60))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10**6), cuts=st.lists(st.integers(0, 400), max_size=40), before=AROUND)
def test_streamed_pieces_of_an_encoded_key_are_masked_joined(seed, cuts, before):
    text = before + encode_key(TEST_KEY, seed) + " end"
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cuts]})
    redactor = StreamRedactor(TEST_KEY)
    shown = [redactor.feed(text[a:b]) for a, b in zip(bounds, bounds[1:])] + [redactor.flush()]
    no_key("".join(shown))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10**6), size=st.integers(1, 9))
def test_reasoning_split_across_deltas_is_redacted_as_joined_text(seed, size):
    encoded = encode_key(TEST_KEY, seed)
    pieces = [encoded[i:i + size] for i in range(0, len(encoded), size)] + [TEST_KEY[:6],
                                                                             TEST_KEY[6:]]
    accumulator = ChatAccumulator(new_redactor=lambda: StreamRedactor(TEST_KEY))
    shown = []
    for piece in pieces:
        accumulator.add({"choices": [{"index": 0, "delta": {"reasoning_content": piece}}]})
        shown += [text for _, text in accumulator.reasoning_deltas]
    accumulator.flush()
    shown += [text for _, text in accumulator.reasoning_deltas]
    no_key("".join(shown), accumulator.choices[0].reasoning)


# --- a real answer, everything it shows --------------------------------------------------------------


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), split=st.integers(1, 12))
@example(seed=63295, split=1)  # the repr's cut fell inside the encoded key (suite run, issue 26h)
def test_an_encoded_key_in_a_streamed_answer_is_in_no_output_widget_message_or_result(
        shell, hostile, notebook, frontend, seed, split):
    get_state(shell).settings.base_url = hostile.base_url(f"enc-{seed}-{split}")
    notebook.reset()
    assert run(shell, "%%chat -o r\nhello").success
    r = shell.user_ns["r"]
    no_key([m["data"] for m in notebook.messages], frontend.__dict__, r.text, r.reasoning,
           repr(r), r.headers, r.model,
           [m.content for m in get_state(shell).conversations["default"].messages])


def test_a_header_whose_name_holds_the_key_is_masked_in_the_result(shell, hostile):
    get_state(shell).settings.base_url = hostile.base_url("enc-1-5")
    assert run(shell, "%%chat -o r\nhello").success
    assert all(run_ not in name for name in shell.user_ns["r"].headers for run_ in KEY_RUNS)


# --- what goes to the server -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["%%chat\n[[echo]] {env}", "%%chat --context env\n[[echo]] hi",
                                  "%%chat\n[[echo]] {env!full}"])
def test_the_environment_interpolated_or_attached_never_sends_the_key(shell, hostile, capsys, cell):
    get_state(shell).settings.base_url = hostile.base_url("ok")
    # The key comes first, so a summary of a long environment (CI's is) shows it too.
    shell.user_ns["env"] = {"OPENAI_API_KEY": TEST_KEY, **os.environ}
    sent = len(hostile.requests)
    assert run(shell, cell).success
    [(_, _, body)] = hostile.requests[sent:]
    no_key(body.decode("utf-8"), get_state(shell).conversations["default"].messages[-2].content)
    assert "the API key in `env` was masked" in capsys.readouterr().out


# --- a notebook saved by nbclient ---------------------------------------------------------------------


def test_a_notebook_saved_by_nbclient_holds_no_encoded_key(hostile, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in [
        "%load_ext oai_magic",
        f"%config OAIMagics.base_url = {hostile.base_url('enc-7-3')!r}",
        "%%chat -o r\nhello",
        f"%config OAIMagics.base_url = {hostile.base_url('enc-11-1')!r}",
        "%%chat -N 2\nagain",
        "r",
        "%chat history",
    ]]
    client = NotebookClient(notebook, km=kernel_manager(sys.executable, tmp_path / "jupyter"),
                            timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_env(tmp_path / "jupyter", {"OPENAI_API_KEY": TEST_KEY,
                                                          "PYTHONPATH": os.environ.get("PYTHONPATH", "")}))
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    saved = path.read_text()
    assert "Here: " in saved  # the answers are in it
    no_key(saved, json.loads(saved))
