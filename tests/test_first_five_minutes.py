"""Issue 31, "The first five minutes, again": what a newcomer tripped over in JupyterLab and in
the terminal, each point with the test that shows it is gone. (Point 1, the typed terminal cell,
is in test_first_steps.py, next to the other terminal tests.)"""

from __future__ import annotations

from pathlib import Path

import nbformat
from IPython.core.error import UsageError

from .conftest import run

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def section_cells(notebook: str, heading: str) -> list:
    """The code cells of one "## ..." section of a shipped notebook, in order."""
    cells = nbformat.read(NOTEBOOKS / notebook, as_version=4).cells
    start = next(i for i, c in enumerate(cells) if c.source.startswith(f"## {heading}"))
    end = next((i for i, c in enumerate(cells) if i > start and c.source.startswith("## ")), len(cells))
    return [c.source for c in cells[start:end] if c.cell_type == "code"]


def test_each_prompt_pattern_of_the_classroom_starts_afresh_without_the_graders_role(shell, server):
    """Point 2: the lesson says each pattern has its own conversation; the grader's system
    prompt (the "Role" cell) must not reach the few-shot, step-by-step or delimiter requests."""
    for source in section_cells("05-classroom.ipynb", "2. Prompt patterns"):
        run(shell, source)
    sent = [request.json["messages"] for request in server.requests]
    assert len(sent) == 6
    with_role = [m for m in sent if any("strict grader" in str(x["content"]) for x in m)]
    assert len(with_role) == 1
    assert all([x["role"] for x in m] in (["user"], ["system", "user"]) for m in sent)


def test_text_after_a_dataframe_summary_is_its_own_paragraph_not_a_table_row(shell, server):
    """Point 3: the summary ends with a table; the words after {df} went onto its last row."""
    import pandas as pd

    from oai_magic.render.markdown import render_markdown

    shell.user_ns["df"] = pd.DataFrame({"region": ["north", "south"], "sales": [3, 5]})
    run(shell, "%%chat\nHere is the data: {df} What is the average?")
    sent = server.requests[-1].json["messages"][-1]["content"]
    assert "| south | 5 |\n\nWhat is the average?" in sent
    assert sent.startswith("Here is the data: DataFrame `df`")
    shown = render_markdown(sent)
    assert "<p>What is the average?</p>" in shown and "<td>What is" not in shown
    assert "Here is {df} and {df}.".count("{df}") == 2  # the plain case is unchanged:
    shell.user_ns["x"] = 42
    run(shell, "%%chat\nx is {x} here, {x}!")
    assert server.requests[-1].json["messages"][-1]["content"] == "x is 42 here, 42!"


def test_an_unknown_name_in_braces_is_sent_as_typed_with_a_notice_that_names_it(shell, server, capsys):
    """Point 4 (CONTRACTS 6): after a restart {df} went out as the text "{df}" without a word."""
    shell.user_ns.pop("df", None)
    shell.user_ns["known"] = 1
    run(shell, '%%chat\nSummarise {df} and {dff!full}, {known}; JSON {"a": 1}, LaTeX \\frac{a}{b}, {{x}}')
    sent = server.requests[-1].json["messages"][-1]["content"]
    assert sent.startswith("Summarise {df} and {dff!full}, 1;")
    out = capsys.readouterr().out
    notices = [line for line in out.splitlines() if "no such variable" in line]
    assert notices == ["[{df} and {dff!full}: no such variable, sent as typed]"]
    run(shell, "%%chat --no-interpolate\nSend {df} literally")
    assert "no such variable" not in capsys.readouterr().out


def no_key_for_openai(shell):
    from oai_magic.state import get_state

    settings = get_state(shell).settings
    settings.api_key = None
    settings.base_url = "https://api.openai.com/v1"  # needs a key: refused before any byte leaves


def test_an_error_before_any_answer_is_one_line_with_no_sent_line_in_a_terminal(shell, capsys):
    """Point 8 (CONTRACTS 1): "sent with the prompt: df summary" showed although nothing was sent."""
    shell.user_ns["data"] = list(range(2000))
    no_key_for_openai(shell)
    error = run(shell, "%%chat\nSummarise {data}", expect=UsageError)
    assert str(error).startswith("No API key")
    shown = capsys.readouterr()
    assert shown.out == "" and "sent with the prompt" not in shown.err


def test_an_error_before_any_answer_leaves_no_sent_line_in_a_notebook(shell, notebook):
    shell.user_ns["data"] = list(range(2000))
    no_key_for_openai(shell)
    run(shell, "%%chat\nSummarise {data}", expect=UsageError)
    cleared = max((i for i, m in enumerate(notebook.messages) if m["kind"] == "clear"), default=-1)
    left = [m["data"] for m in notebook.messages[cleared + 1:]]
    assert not any("sent with the prompt" in str(data) for data in left), left


def test_the_standalone_practice_server_answers_a_request_without_a_key(tmp_path):
    """Point 5: OPENAI_BASE_URL at ``python -m oai_magic.practice`` and no key gave HTTP 401."""
    import http.client
    import json
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "oai_magic.practice", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        base_url = process.stdout.readline().strip()
        host, port = base_url.split("//")[1].split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[[echo]] no key"}]}
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.close()
    finally:
        process.terminate()
        said = process.communicate(timeout=10)[1]
    assert response.status == 200 and answer["choices"][0]["message"]["content"] == "no key"
    assert "no API key needed" in said and "non-empty" not in said


def test_the_url_jupyterlab_prints_opens_the_quickstart_notebook(tmp_path):
    """Point 6: with no browser, the printed URL opened the Launcher; it must open the quickstart.
    The URL is read from what the real command prints (JupyterLab logs it before it listens, so
    it is not fetched here)."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "oai_magic.cli.quickstart", "--dir", str(tmp_path / "work"),
         "--no-browser", "--ServerApp.port=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
        start_new_session=True)  # its JupyterLab child is stopped with it, by its group
    try:
        printed = ""
        for line in process.stdout:
            printed += line
            if "?token=" in line:
                break
    finally:
        # The quickstart itself must stop; what its JupyterLab spawned as it started (jupyter-lsp
        # runs `npm prefix -g`) may have joined the group after the signal and still hold the
        # pipe, so the test waits for the process, not for the pipe's end, then ends the rest.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.stdout.close()
    url = "http" + printed.rsplit("?token=", 1)[0].rsplit("http", 1)[1]
    assert url.endswith("/lab/tree/01-quickstart.ipynb"), printed  # JupyterLab's route to a file
    assert (tmp_path / "work" / "01-quickstart.ipynb").is_file()


def test_the_readmes_sample_paths_exist_in_the_work_folder_and_beside_the_notebooks(tmp_path):
    """Point 7: ``notebooks/data/hello.wav`` does not exist in ~/oai-magic-notebooks. The README
    names the files as a notebook sees them in the work folder and in the checkout's notebooks/."""
    import re

    from oai_magic.cli import quickstart

    quickstart.copy_notebooks(quickstart.shipped_notebooks(), tmp_path)
    readme = (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"[\w./*-]*data/[\w.*-]+\.(?:wav|m4a|png)", readme))
    assert named
    for path in named:
        for folder in (tmp_path, NOTEBOOKS):
            assert list(folder.glob(path)), f"{path} is not in {folder}"


def test_map_takes_an_expression_evaluated_in_the_kernel_quotes_and_spaces_kept(shell, server):
    """Point 9: ``--map df["region"]`` and ``--map df.region`` said "no such variable"; the line
    is split shell-style, which made ``df[region]`` of the first."""
    import pandas as pd

    shell.user_ns["df"] = pd.DataFrame({"region": ["north", "south"], "sales": [3, 5]})
    for items in ('df["region"]', "df.region", "df[df['sales'] > 4]['region']", "df['region'].tolist()"):
        server.requests.clear()
        run(shell, f"%%chat --map {items} -o r\n[[echo]] {{item}}")
        sent = sorted(request.json["messages"][-1]["content"] for request in server.requests)
        expected = ["south"] if ">" in items else ["north", "south"]
        assert sent == [f"[[echo]] {region}" for region in expected], items
        assert [item.text for item in shell.user_ns["r"].results] == expected


def test_a_map_expression_that_fails_is_one_line_and_sends_nothing(shell, server, capsys):
    shell.user_ns["df"] = {"region": ["north"]}
    for items, message in (('dff["region"]', "--map dff[\"region\"]: name 'dff' is not defined"),
                           ('df["nope"]', "--map df[\"nope\"]: KeyError: 'nope'"),
                           ("df[", "--map df[: not a Python expression ('[' was never closed)"),
                           ("missing", "--map missing: no such variable in the kernel.")):
        error = run(shell, f"%%chat --map {items}\n{{item}}", expect=UsageError)
        assert str(error) == message
        assert "Traceback" not in capsys.readouterr().err
    assert server.requests == []


def test_a_stopped_answer_counts_estimated_usage_in_its_footer_the_usage_table_and_a_budget(
        shell, server, capsys, magics):
    """Point 10: after a stop the footer said "usage not reported", %oai usage 0 tokens, and a
    budget let the next request through. Estimated from characters, and marked so."""
    from .test_cell_endings import _interrupt_after

    _interrupt_after(server, shell, "%%chat\nTell me everything", chunks_before=2)
    footer = [line for line in capsys.readouterr().out.splitlines() if line.startswith("— ")]
    assert footer and "tokens (estimated)" in footer[0] and "usage not reported" not in footer[0]
    run(shell, "%oai usage")
    report = capsys.readouterr().out
    total = next(line for line in report.splitlines() if line.startswith("total"))
    assert "1 estimated: stopped answers" in report and "total: requests 1, prompt " in total
    prompt_tokens = int(total.split("prompt ")[1].split(",")[0])
    assert prompt_tokens >= len("Tell me everything") // 4
    magics.session_budget_tokens = 5
    try:
        error = run(shell, "%%chat\nAnd then?", expect=UsageError)
    finally:
        magics.session_budget_tokens = None
    assert str(error).startswith("Session budget reached")


def test_oai_budget_sets_shows_and_clears_the_session_budget_and_oai_shows_it(shell, server, capsys, magics):
    """Point 11: a teacher sets the budget with %oai budget USD and finds it in %oai."""
    run(shell, "%oai")
    assert "session budget" in capsys.readouterr().out  # "none" said, with how to set one
    try:
        run(shell, "%oai budget 0.50")
        assert capsys.readouterr().out.strip().startswith("Session budget: $0.5")
        assert magics.session_budget_usd == 0.5
        run(shell, "%%chat\n[[echo]] hi")
        capsys.readouterr()
        run(shell, "%oai")
        row = next(line for line in capsys.readouterr().out.splitlines() if "session budget" in line)
        assert "$0.5" in row and "spent" in row
        for bad in ("-1", "nan", "inf", "lots", "1 2"):
            error = run(shell, f"%oai budget {bad}", expect=UsageError)
            assert str(error).startswith("usage: %oai budget USD"), bad
        assert magics.session_budget_usd == 0.5  # a refused value changed nothing
        run(shell, "%oai budget --clear")
        assert "Session budget: none (%oai budget USD sets one)" in capsys.readouterr().out
        assert magics.session_budget_usd is None
    finally:
        magics.session_budget_usd = None


def test_usage_reset_says_plainly_that_it_does_not_lift_the_budget_and_does_not(shell, server, capsys, magics):
    magics.session_budget_tokens = 10
    try:
        run(shell, "%%chat\n[[echo]] a first request of more than ten tokens, surely")
        run(shell, "%oai usage --reset")
        said = capsys.readouterr().out
        assert "does not lift the session budget" in said
        error = run(shell, "%%chat\nagain", expect=UsageError)
        assert str(error).startswith("Session budget reached")
    finally:
        magics.session_budget_tokens = None


def test_the_classroom_notebook_has_a_budget_and_cost_section_that_runs(shell, server, capsys):
    cells = section_cells("05-classroom.ipynb", "4. Budget and cost")
    assert any("%oai budget" in c for c in cells) and any("%oai usage" in c for c in cells)
    magics = shell.magics_manager.registry["OAIMagics"]
    try:
        for source in cells:
            run(shell, source)
    finally:
        magics.session_budget_usd = None
    assert "Session budget" in capsys.readouterr().out


def test_the_quickstarts_next_list_names_every_other_guide():
    """Point 12: its "Next" list stopped at 05; 06-09 were never mentioned."""
    cells = nbformat.read(NOTEBOOKS / "01-quickstart.ipynb", as_version=4).cells
    following = next(c.source for c in cells if c.source.startswith("## Next"))
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if path.name != "01-quickstart.ipynb":
            assert f"`{path.name}`" in following, path.name


def test_the_quickstart_copy_is_what_jupyterlab_would_save_after_opening_it_untouched(tmp_path):
    """Point 12: JupyterLab marked the quickstart modified as soon as it opened. On opening it
    writes the kernel's ``language_info`` and the kernel spec into the metadata, and a value
    that differs from the file's makes the notebook dirty. The copy the README's first command
    makes must already hold both, in the bytes Jupyter's save writes."""
    import json
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from oai_magic.cli import quickstart

    from .kernels import kernel_env, kernel_manager

    quickstart.copy_notebooks(quickstart.shipped_notebooks(), tmp_path / "work")
    copy = tmp_path / "work" / "01-quickstart.ipynb"
    manager = kernel_manager(sys.executable, tmp_path / "jupyter")
    manager.start_kernel(env=kernel_env(tmp_path / "jupyter"))
    try:
        client = manager.client()
        client.start_channels()
        reply = client.kernel_info(reply=True, timeout=60)  # what JupyterLab asks on opening
        client.stop_channels()
    finally:
        manager.shutdown_kernel(now=True)
    spec = KernelSpecManager().get_kernel_spec("python3")
    opened = json.loads(copy.read_text(encoding="utf-8"))
    opened["metadata"]["language_info"] = reply["content"]["language_info"]
    opened["metadata"]["kernelspec"] = {"name": "python3", "display_name": spec.display_name,
                                        "language": spec.language}
    saved = nbformat.writes(nbformat.from_dict(opened)) + "\n"  # as jupyter_server saves it
    assert copy.read_text(encoding="utf-8") == saved
    assert all(cell.get("id") for cell in opened["cells"])


# --- point 12: smaller things --------------------------------------------------------------


def test_a_long_option_typed_with_one_dash_gets_the_option_it_meant(shell, server):
    """``-temperature 0.2`` was read as ``-t emperature``: "invalid float value: 'emperature'"."""
    error = run(shell, "%%chat -temperature 0.2\nhello", expect=UsageError)
    assert str(error) == "%%chat: unknown option -temperature: did you mean --temperature?"
    error = run(shell, "%%chat -max-tokens=5\nhello", expect=UsageError)
    assert str(error) == "%%chat: unknown option -max-tokens=5: did you mean --max-tokens?"
    assert run(shell, "%%chat -t 0.2 -c one-dash\n[[echo]] fine").success  # short options still work
    assert len(server.requests) == 1


def test_a_misspelt_chat_command_gets_the_closest_command(shell):
    error = run(shell, "%chat hisotry", expect=UsageError)
    assert str(error) == "%chat: unknown command hisotry: did you mean history?"
    error = run(shell, "%chat undoo -c physics", expect=UsageError)
    assert str(error) == "%chat: unknown command undoo: did you mean undo?"
    error = run(shell, "%chat History of Rome in three lines", expect=UsageError)
    assert "is not a %chat command: to ask the model" in str(error)  # a question, not a typo


def test_terminal_messages_never_say_jupyter_or_run_this_cell_again(shell, capsys, monkeypatch):
    from oai_magic.state import get_state

    state = get_state(shell)
    state.settings.api_key = None
    state.settings.base_url = "https://api.openai.com/v1"
    try:
        run(shell, "%oai practice --if-no-key")
        run(shell, "%oai practice --stop")
        run(shell, "%oai")
        said = capsys.readouterr().out
    finally:
        run(shell, "%oai practice --stop")
    assert "PRACTICE OUTPUT" in said and "then %oai practice --stop" in said
    assert "Jupyter" not in said and "run this cell again" not in said
    assert "OPENAI_API_KEY before starting IPython" in said


def test_oai_status_describes_only_the_server_in_use(shell, server, capsys):
    """After switching away from the practice server, %oai still said "answered by: practice"
    with the practice server's rate limits."""
    from oai_magic.state import get_state

    run(shell, "%%chat\n[[echo]] from practice")
    capsys.readouterr()
    run(shell, "%oai")
    before = capsys.readouterr().out
    assert "answered by" in before and "last request id" in before
    get_state(shell).settings.base_url = "https://api.openai.com/v1"  # switched to a real key's server
    run(shell, "%oai")
    after = capsys.readouterr().out
    assert "answered by" not in after and "practice" not in after
    assert "last request id" not in after and "rate limit" not in after.lower()
    assert "last reply" in after and "none from this server yet" in after


def test_the_practice_badge_is_not_muted_with_the_rest_of_the_footer():
    """The badge was grey text at 65% opacity, like the footer it starts."""
    from html.parser import HTMLParser

    from oai_magic.render.chrome import footer_html

    class Ancestors(HTMLParser):
        def __init__(self):
            super().__init__()
            self.open, self.badge_styles = [], None

        def handle_starttag(self, tag, attrs):
            self.open.append(dict(attrs).get("style") or "")

        def handle_endtag(self, tag):
            self.open.pop()

        def handle_data(self, data):
            if data.strip() == "practice":
                self.badge_styles = list(self.open)

    parser = Ancestors()
    parser.feed(footer_html(["practice", "gpt-4o-mini", "5 prompt → 9 completion tokens"]))
    assert parser.badge_styles is not None
    assert not any("opacity" in style for style in parser.badge_styles)
    assert "border" in parser.badge_styles[-1] or "background" in parser.badge_styles[-1]
    muted = footer_html(["gpt-4o-mini", "req_1"])
    assert "opacity" in muted  # the rest of the footer stays muted


def test_usage_before_any_request_says_nothing_yet_and_the_total_row_lines_up(shell, server, capsys):
    from oai_magic.state import get_state
    from oai_magic.ui.usage import usage_report

    run(shell, "%oai usage")
    shown = capsys.readouterr().out
    assert shown.startswith("Nothing yet") and "model" not in shown.split("\n")[0]
    empty = usage_report(get_state(shell))._repr_html_()
    assert "<table" not in empty and "Nothing yet" in empty
    run(shell, "%%chat -c lesson\n[[echo]] one")
    html = usage_report(get_state(shell))._repr_html_()
    assert html.count("<table") == 1  # sections and total in one table: the columns line up
    rows = html.split("<tr>")[1:]
    widths = {row.count("<td") + row.count("<th") - row.count("colspan") for row in rows
              if "colspan" not in row}
    assert len(widths) == 1, widths
    assert "<tfoot><tr><td><b>total</b>" in html


def test_a_second_turn_on_a_conversation_waits_for_the_first_so_answers_never_interleave(shell, server):
    """Point 12: two turns on one conversation at once (a cell and the panel, two threads)
    sent the second before the first had answered and recorded them crossed. The second now
    waits: it is sent with the first's answer in its history, and the history is in order."""
    import io
    import threading

    from oai_magic.core.turn import ChatTurn, TurnOptions
    from oai_magic.practice import Scripted, sse_event
    from oai_magic.state import get_state
    from oai_magic.ui.notebook import TerminalChatView

    from .synthetic import delta_chunk

    state = get_state(shell)
    client = shell.magics_manager.registry["OAIMagics"].client
    gate, second_is_on_its_way = threading.Event(), threading.Event()
    chunks = [sse_event(delta_chunk("First ")), sse_event(delta_chunk("answer.", "stop")), sse_event("[DONE]")]
    server.script("/chat/completions", Scripted(chunks=chunks, gate=gate, gate_before=1))
    state.subscribe(lambda event, info: event == "turn waiting" and second_is_on_its_way.set())

    def ask(prompt, shown):
        ChatTurn(state, client, TurnOptions(conversation="shared")).run(prompt, TerminalChatView(stream=shown))

    first_shown, second_shown = io.StringIO(), io.StringIO()
    first = threading.Thread(target=ask, args=("one", first_shown))
    first.start()
    server.wait_for_requests(1)
    second = threading.Thread(target=ask, args=("[[echo]] two", second_shown))
    second.start()
    threading.Thread(target=lambda: (server.wait_for_requests(2, timeout=30), second_is_on_its_way.set()),
                     daemon=True).start()
    second_is_on_its_way.wait(30)  # waiting for the first (fixed), or already sent (the bug)
    gate.set()
    first.join(30)
    second.join(30)
    sent_second = server.requests[1].json["messages"]
    assert [m["content"] for m in sent_second] == ["one", "First answer.", "[[echo]] two"]
    recorded = [m.content for m in state.conversations["shared"].messages]
    assert recorded == ["one", "First answer.", "[[echo]] two", "two"]
    assert first_shown.getvalue().startswith("First answer.") and "two" in second_shown.getvalue()
