"""Real kernels and the log (issue 24): a kernel killed mid-answer loses nothing, two kernels
writing at once lose nothing, and a re-run cell (JupyterLab's cellId) replaces its turn."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .conftest import TEST_KEY
from .kernels import kernel_env, kernel_manager


def log_file(tmp: Path) -> Path:
    return tmp / "jupyter" / "xdg-data" / "oai_magic" / "history.db"


@contextmanager
def kernel(tmp: Path, server, notebook: str = "work/a.ipynb"):
    """A kernel for ``notebook`` (JPY_SESSION_NAME), its log under ``tmp``, oai_magic loaded."""
    km = kernel_manager(sys.executable, tmp / "jupyter")
    km.start_kernel(env=kernel_env(tmp / "jupyter", {
        "JPY_SESSION_NAME": notebook, "OPENAI_API_KEY": TEST_KEY,
        "OPENAI_BASE_URL": server.base_url}))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        run_cell(client, "%load_ext oai_magic\n%config OAIMagics.display_mode = 'plain'")
        yield km, client
    finally:
        client.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)


def _collect(client, msg_id, output, printed) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        message = client.get_iopub_msg(timeout=120)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        output(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            text = "".join(printed)
            assert "ERROR" not in text, text
            return text
    raise AssertionError("the cell did not finish")


def send(client, code: str, cell_id: str | None = None) -> str:
    """Send an execute request (with JupyterLab's ``cellId`` when given); returns its id."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": True}
    message = client.session.msg("execute_request", content)
    if cell_id is not None:
        message["metadata"]["cellId"] = cell_id
    client.shell_channel.send(message)
    return message["header"]["msg_id"]


def run_cell(client, code: str, cell_id: str | None = None) -> str:
    printed: list = []

    def output(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] in ("execute_result", "display_data"):
            printed.append(message["content"]["data"].get("text/plain", ""))
        elif message["msg_type"] == "error":
            printed.append("ERROR " + message["content"]["ename"] + ": " + message["content"]["evalue"])

    return _collect(client, send(client, code, cell_id), output, printed)


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling a file another process writes: no event to wait on
    raise AssertionError("the condition was not met in time")


def rows(path: Path, sql: str):
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


SHOW = ("import json, oai_magic\ns = oai_magic.session()\n"
        "print(json.dumps({n: [[m.role, m.partial, m.content] for m in c.messages]"
        " for n, c in s.conversations.items()}))")


def test_a_kernel_killed_mid_answer_comes_back_with_the_partial_turn(tmp_path, server):
    path = log_file(tmp_path)
    with kernel(tmp_path, server) as (km, client):
        run_cell(client, "%%chat\n[[echo]] the first question")
        send(client, "%%chat\n[[tokens=3000]] [[pace=20]] a long answer please")
        wait_for(lambda: rows(path, "SELECT 1 FROM turns WHERE status = 'streaming'"
                                    " AND length(answer) > 20"))
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait()
    with kernel(tmp_path, server) as (km, client):
        assert json.loads(run_cell(client, SHOW)) == {}  # nothing restored by itself
        said = run_cell(client, "%chat resume")
        assert "default: 2 exchanges, 1 partial" in said
        messages = json.loads(run_cell(client, SHOW))["default"]
    assert [(role, partial) for role, partial, _ in messages] == [
        ("user", False), ("assistant", False), ("user", False), ("assistant", True)]
    assert "the first question" in messages[1][2]
    assert len(messages[3][2]) > 20


def test_a_rerun_cell_replaces_its_turn_and_another_cell_appends(tmp_path, server):
    path = log_file(tmp_path)
    with kernel(tmp_path, server) as (km, client):
        run_cell(client, "%%chat\n[[echo]] cell A, first run", cell_id="cell-a")
        said = run_cell(client, "%%chat\n[[echo]] cell A, second run", cell_id="cell-a")
        assert "replaced this cell's earlier answer in 'default'" in said
        run_cell(client, "%%chat\n[[echo]] cell B", cell_id="cell-b")
        run_cell(client, "%%chat\n[[echo]] cell A, third run", cell_id="cell-a")  # not the last
        messages = json.loads(run_cell(client, SHOW))["default"]
    prompts = [content for role, _, content in messages if role == "user"]
    assert prompts == ["[[echo]] cell A, second run", "[[echo]] cell B", "[[echo]] cell A, third run"]
    statuses = rows(path, "SELECT cell_id, status FROM turns ORDER BY id")
    assert statuses == [("cell-a", "replaced"), ("cell-a", "committed"), ("cell-b", "committed"),
                        ("cell-a", "committed")]


def test_an_nbclient_saved_notebook_keeps_each_answers_provenance(tmp_path, server):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext oai_magic"),
                      nbformat.v4.new_code_cell("%%chat -c notes\n[[echo]] where from")]
    client = NotebookClient(notebook, km=kernel_manager(sys.executable, tmp_path / "jupyter"),
                            timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_env(tmp_path / "jupyter", {
        "JPY_SESSION_NAME": "work/a.ipynb", "OPENAI_API_KEY": TEST_KEY,
        "OPENAI_BASE_URL": server.base_url}))
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    saved = nbformat.read(path, as_version=4)
    made = [o["metadata"]["oai_magic"] for o in saved.cells[1].outputs
            if "oai_magic" in o.get("metadata", {})]
    assert len(made) == 1, saved.cells[1].outputs
    assert made[0]["conversation"] == "notes" and made[0]["practice"] is True
    assert made[0]["model"] and made[0]["request_id"] and made[0]["usage"]["total_tokens"] > 0
    assert made[0]["finish_reason"] == "stop" and made[0]["version"]
    assert TEST_KEY[:12] not in path.read_text()


def test_two_kernels_chatting_at_once_lose_no_turn(tmp_path, server):
    path = log_file(tmp_path)
    loop = ("for i in range(12):\n"
            "    get_ipython().run_cell_magic('chat', '-c {name}', f'[[echo]] {name} {{i}}')")
    with kernel(tmp_path, server, "work/a.ipynb") as (_, first), \
            kernel(tmp_path, server, "work/b.ipynb") as (_, second):
        sent = [(client, send(client, loop.format(name=name)))
                for client, name in ((first, "one"), (second, "two"))]
        for client, msg_id in sent:
            _collect(client, msg_id, lambda message: None, [])
    assert rows(path, "SELECT notebook, count(*) FROM turns WHERE status = 'committed'"
                      " GROUP BY notebook ORDER BY notebook") == [("work/a.ipynb", 12),
                                                                  ("work/b.ipynb", 12)]
