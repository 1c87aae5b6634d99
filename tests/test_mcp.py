"""Tools from MCP servers (issue 27), against real servers written with the SDK.

The servers live in tests/mcp_servers/ (``everyday.py``: MCPServer over stdio or streamable HTTP
on 127.0.0.1; ``many.py``: the low-level Server with as many tools as asked, oddly named) and
notebooks/data/mcp_notes_server.py (the notebook's). Starting one takes seconds on a loaded
machine, so the shared ones start once per module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from oai_magic.core.mcp import MISSING
from oai_magic.core.mcp.bridge import McpCallStopped, McpServerError
from oai_magic.core.mcp.config import ServerSpec, parse_config
from oai_magic.core.mcp.results import McpToolError
from oai_magic.core.mcp.servers import McpServers
from oai_magic.core.tools import run_call
from oai_magic.errors import InputError

from .conftest import TEST_KEY
from .interrupts import real_sigint

HERE = Path(__file__).parent / "mcp_servers"
EVERYDAY = str(HERE / "everyday.py")
MANY = str(HERE / "many.py")
NOTES = str(Path(__file__).parent.parent / "notebooks" / "data" / "mcp_notes_server.py")
HOSTILE = f"<img src=x onerror=alert(1)> $\\frac{{a}}{{b}}$ \u202etxt.exe \x1b[31mred\x1b[0m {TEST_KEY}"
START_S = 120.0  # a loaded CI machine takes seconds to import the SDK


def wait_until(condition, timeout_s: float = 30.0) -> bool:
    """Wait for a condition another process brings about (no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def gone(pid: int) -> bool:
    """The process has exited (reaped, or a zombie nobody reaps in this container)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def servers_for(tmp_path, timeout_s: float = START_S) -> McpServers:
    return McpServers(timeout_s=timeout_s, key=lambda: TEST_KEY, log_directory=tmp_path)


def tool(servers: McpServers, reference: str):
    return servers.resolve([reference]).tools[0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    servers = servers_for(tmp_path_factory.mktemp("mcp"))
    servers.add_stdio("every", sys.executable, [EVERYDAY], env={"HOSTILE": HOSTILE})
    servers.add_stdio("many", sys.executable, [MANY, "200"], env={"HOSTILE": HOSTILE})
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path_factory.mktemp("http") / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, EVERYDAY, "http", str(port)], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as client:
            return client.connect_ex(("127.0.0.1", port)) == 0

    assert wait_until(listening, START_S), "the HTTP MCP server did not start"
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(10)
    log.close()


# --- use ---------------------------------------------------------------------------------


def test_a_stdio_server_lists_its_tools_and_answers_a_call(shared):
    listing = shared.tools("every")
    assert {"add", "echo", "slow", "crash", "picture"} <= {t.name for t in listing.tools}
    add = next(t for t in listing.tools if t.name == "add")
    assert add.spec()["function"]["parameters"]["properties"].keys() == {"a", "b"}
    assert shared.call(add, {"a": 2, "b": 3}) == "5"  # its text and its structured content, once
    assert shared.status("every") == "running"
    assert "add" in [t.name for t in shared.listed_tools("every").tools]


def test_a_streamable_http_server_answers_with_its_headers_masked(http_server, tmp_path):
    servers = servers_for(tmp_path)
    try:
        servers.add_http("web", http_server, headers={"Authorization": "Bearer ghp_0123456789abcdefXYZ"})
        assert shared_text(servers) and "ghp_0123456789" not in shared_text(servers)
        assert servers.call(tool(servers, "mcp:web/echo"), {"text": "über"}) == "über"
    finally:
        servers.close()


def shared_text(servers: McpServers) -> str:
    return "\n".join(servers.describe()) + repr(servers)


def test_the_tool_loop_runs_mcp_tools_like_kernel_functions(shared):
    offered = shared.resolve(["mcp:every/add", "mcp:every/fail", "mcp:every/echo"])
    tools = shared.as_tools(offered)

    def call(name, arguments):
        return run_call({"id": "c1", "function": {"name": name, "arguments": json.dumps(arguments)}},
                        tools, limit=100)

    assert call("add", {"a": 1, "b": 2}).content == "3"
    failed = call("fail", {"reason": "the disk is full"})
    assert failed.status == "error" and "the disk is full" in failed.content  # isError → error
    long = call("echo", {"text": "x" * 500})
    assert long.status == "ok" and "[truncated:" in long.content  # the tool-result cap applies
    assert call("add", {"a": "one", "b": 2}).status == "bad-arguments"  # checked by its schema


def test_images_are_one_line_and_the_server_sees_no_api_key(shared, monkeypatch):
    assert shared.call(tool(shared, "mcp:every/picture"), {}) == (
        "a red dot\n[image image/png, 8 bytes: not shown to the model]")
    names = shared.call(tool(shared, "mcp:every/environment"), {})
    assert "OPENAI_API_KEY" not in names and "PATH" in names


def test_elicitation_is_refused_in_one_line(shared):
    with pytest.raises(McpToolError, match=r"^every asked for input \(MCP elicitation\), which "
                                           r"oai_magic does not support yet: refused\.$"):
        shared.call(tool(shared, "mcp:every/ask"), {})


def test_an_unknown_server_or_tool_is_one_line_naming_it(shared):
    with pytest.raises(InputError, match=r"no MCP server named 'nope' \(every, many\)"):
        shared.resolve(["mcp:nope/add"])
    with pytest.raises(InputError, match=r"mcp:every/nope: every has no tool of that name"):
        shared.resolve(["mcp:every/nope"])
    with pytest.raises(InputError, match="write mcp:SERVER or mcp:SERVER/TOOL"):
        shared.resolve(["mcp:every/"])


def test_two_hundred_tools_are_refused_in_one_line_and_one_of_them_is_fine(shared):
    with pytest.raises(InputError, match=r"^--tools: 203 tools for one request; the API takes at most 128"):
        shared.resolve(["mcp:many"])
    assert [t.offered for t in shared.resolve(["mcp:many/tool_199"]).tools] == ["tool_199"]


def test_names_fit_the_api_and_collisions_are_renamed_visibly(shared):
    offered = shared.resolve(["mcp:many/not.an/api name!", "mcp:many/" + "x" * 80, "mcp:every/add",
                              "mcp:many/tool_1"], taken=["add", "tool_1"])
    names = [t.offered for t in offered.tools]
    assert names == ["not_an_api_name", "x" * 64, "every_add", "many_tool_1"]
    assert "every/add is offered as every_add (add was taken)." in offered.notes
    assert all(len(n) <= 64 for n in names)


def test_hostile_descriptions_and_results_are_data_with_the_key_masked(shared):
    from oai_magic.render.chrome import terminal_safe
    from oai_magic.ui.tool_cards import card_html, outcome_text

    shout = tool(shared, "mcp:many/shout")
    spec = json.dumps(shout.spec())
    assert TEST_KEY not in spec and "sk-…abcd" in shout.description
    assert "<img src=x onerror=alert(1)>" in shout.description  # kept as data, escaped when shown
    hostile = tool(shared, "mcp:every/hostile")
    assert TEST_KEY not in hostile.description
    answer = shared.call(shout, {"x": "hi"})
    assert TEST_KEY not in answer and "\u202etxt.exe" in answer
    outcome = run_call({"id": "c", "function": {"name": "shout", "arguments": "{}"}},
                       shared.as_tools(shared.resolve(["mcp:many/shout"])))
    html = card_html({"function": {"name": "shout", "arguments": "{}"}}, outcome)
    assert "<img" not in html and "&lt;img" in html and TEST_KEY not in html
    terminal = terminal_safe(outcome_text(outcome))  # what the terminal view prints
    assert "\x1b" not in terminal and "\u202e" not in terminal and TEST_KEY not in terminal
    assert TEST_KEY not in shared.call(hostile, {})


# --- lifecycle ---------------------------------------------------------------------------


def test_a_server_starts_on_first_use_not_when_added(tmp_path):
    servers = servers_for(tmp_path)
    servers.add_stdio("every", sys.executable, [EVERYDAY])
    assert servers.status("every") == "not started" and servers.listed_tools("every") is None
    assert servers._thread is None  # not even the MCP thread
    servers.close()


def test_servers_closed_start_again_on_next_use(tmp_path):
    with servers_for(tmp_path) as servers:
        servers.add_stdio("notes", sys.executable, [NOTES, str(tmp_path / "notes.json")])
        assert servers.call(tool(servers, "mcp:notes/list_notes"), {}) == '{"result": ["birthday", "bus", "tea"]}'
        servers.close()
        assert servers.status("notes") == "not started"
        assert servers.call(tool(servers, "mcp:notes/read_note"), {"title": "bus"}).startswith("The 42")


def test_a_slow_tool_is_stopped_from_another_thread_within_half_a_second(shared):
    started = threading.Event()
    pending = shared.start_call(tool(shared, "mcp:every/slow"), {"seconds": 60},
                                on_progress=lambda *progress: started.set())
    assert started.wait(START_S)
    stopped_at = []

    def stop():
        stopped_at.append(time.monotonic())
        pending.abort()  # what the panel's Stop does, through core.results.Cancellation

    threading.Thread(target=stop).start()
    with pytest.raises(McpCallStopped):
        pending.wait()
    assert time.monotonic() - stopped_at[0] < 0.5
    assert shared.call(tool(shared, "mcp:every/add"), {"a": 1, "b": 1}) == "2"


def test_ctrl_c_stops_a_slow_tool_within_half_a_second(shared):
    interrupted_at = []

    def ctrl_c(*progress):
        interrupted_at.append(time.monotonic())
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    slow = tool(shared, "mcp:every/slow")
    # real_sigint: SIGINT raises KeyboardInterrupt even in a suite started with it ignored (a
    # background job), where this test once waited, then failed with "DID NOT RAISE".
    with pytest.raises(KeyboardInterrupt), real_sigint():
        shared.call(slow, {"seconds": 60}, on_progress=ctrl_c)
    assert time.monotonic() - interrupted_at[0] < 0.5
    assert shared.call(tool(shared, "mcp:every/add"), {"a": 2, "b": 2}) == "4"


def test_a_call_longer_than_mcp_timeout_s_is_stopped_and_the_server_answers_after(tmp_path):
    servers = servers_for(tmp_path)
    try:
        servers.add_stdio("every", sys.executable, [EVERYDAY])
        slow, add = tool(servers, "mcp:every/slow"), tool(servers, "mcp:every/add")
        servers._timeout = 1.0
        with pytest.raises(McpServerError, match=r"every/slow: no answer within 1 s \(OAIMagics.mcp_timeout_s\)"):
            servers.call(slow, {"seconds": 60})
        assert servers.call(add, {"a": 1, "b": 2}) == "3"
    finally:
        servers.close()


def test_a_server_that_crashes_mid_call_is_restarted_once_then_one_line(tmp_path):
    servers = servers_for(tmp_path)
    try:
        servers.add_stdio("every", sys.executable, [EVERYDAY])
        crash, add = tool(servers, "mcp:every/crash"), tool(servers, "mcp:every/add")
        with pytest.raises(McpServerError, match=r"^MCP server every stopped during the call \(.*crashing on "
                                                 r"purpose\); it starts again on next use\.$"):
            servers.call(crash, {})
        assert servers.call(add, {"a": 1, "b": 1}) == "2"  # restarted
        with pytest.raises(McpServerError, match="it is not restarted again"):
            servers.call(crash, {})
        with pytest.raises(McpServerError, match=r"^MCP server every stopped again \(.*\); it is not "
                                                 r"restarted again: remove it and add it to retry\.$"):
            servers.call(add, {"a": 1, "b": 1})
        assert servers.status("every").startswith("failed: ")
    finally:
        servers.close()


def test_a_server_that_fails_to_start_shows_the_tail_of_its_stderr(tmp_path):
    servers = servers_for(tmp_path)
    script = f"import sys; sys.stderr.write('boom: no token {TEST_KEY}\\x1b[2J\\n'); sys.exit(2)"
    servers.add_stdio("broken", sys.executable, ["-c", script])
    with pytest.raises(McpServerError) as caught:
        servers.tools("broken")
    message = str(caught.value)
    assert message.startswith("MCP server broken did not start (")
    assert "boom: no token sk-…abcd" in message and "\x1b" not in message and TEST_KEY not in message
    assert "\n" not in message and str(tmp_path / "broken.log") in message
    assert "boom: no token" in (tmp_path / "broken.log").read_text()  # ours, not the Jupyter log
    servers.close()


def test_a_server_that_writes_junk_on_stdout_is_bounded_and_the_sdk_log_is_ours(tmp_path, capfd):
    servers = servers_for(tmp_path, timeout_s=3)
    junk = "import sys; print('hello, not JSON', flush=True); sys.stdin.read()"
    servers.add_stdio("junk", sys.executable, ["-c", junk])
    with pytest.raises(McpServerError, match=r"^junk tools/list: no answer within 3 s"):
        servers.tools("junk")
    servers.close()
    assert "Traceback" not in capfd.readouterr().err  # not on the kernel's stderr, in a cell
    sdk_log = Path(logging.getLogger("mcp").handlers[0].baseFilename)
    assert "Failed to parse JSONRPC message" in sdk_log.read_text()


def test_a_remote_server_that_wants_oauth_is_refused_in_one_line(tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class WantsOAuth(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer resource_metadata="http://127.0.0.1/x"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), WantsOAuth)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    servers = servers_for(tmp_path)
    try:
        servers.add_http("gh", f"http://127.0.0.1:{http.server_port}/mcp")
        with pytest.raises(McpServerError, match=r"^MCP server gh needs an OAuth sign-in, which oai_magic "
                                                 r"does not support yet: refused"):
            servers.tools("gh")
    finally:
        servers.close()
        http.shutdown()


def test_close_kills_by_pid_what_has_not_stopped_within_two_seconds(tmp_path):
    servers = servers_for(tmp_path)
    for name in ("stubborn1", "stubborn2"):
        servers.add_stdio(name, sys.executable, [EVERYDAY], env={"STUBBORN": "1"})
    pids = [int(servers.call(tool(servers, f"mcp:{n}/pid"), {}))
            for n in ("stubborn1", "stubborn2")]
    began = time.monotonic()
    servers.close()
    took = time.monotonic() - began
    assert all(wait_until(lambda pid=pid: gone(pid), 5) for pid in pids)
    assert took < 3.9, took  # both at once, killed at 2 s (the SDK alone escalates at 4 s)


OWNER = """
import sys, json
from oai_magic.core.mcp.servers import McpServers
servers = McpServers(timeout_s=120)
servers.add_stdio("every", sys.executable, [sys.argv[1]])
tool = servers.resolve(["mcp:every/pid"]).tools[0]
print(servers.call(tool, {}), flush=True)
if sys.argv[2] == "wait":
    sys.stdin.readline()
"""


def owner(mode: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent))
    return subprocess.Popen([sys.executable, "-c", OWNER, EVERYDAY, mode], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True, env=env)


def test_no_server_outlives_the_process_that_owns_it():
    process = owner("exit")
    pid = int(process.stdout.readline())
    assert process.wait(60) == 0
    assert wait_until(lambda: gone(pid), 5)


def test_after_kill_9_of_the_owner_a_stdio_server_exits_when_its_stdin_closes():
    process = owner("wait")
    pid = int(process.stdout.readline())
    assert not gone(pid)
    process.kill()
    process.wait(10)
    assert wait_until(lambda: gone(pid), 30)


def test_no_server_outlives_a_kernel_shut_down(tmp_path):
    from .kernels import kernel_env, kernel_manager

    manager = kernel_manager(sys.executable, tmp_path)
    manager.start_kernel(env=kernel_env(tmp_path, {"PYTHONPATH": str(Path(__file__).parent.parent)}))
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        code = OWNER.replace("sys.argv[1]", repr(EVERYDAY)).split("if sys.argv[2]")[0]
        outputs = []
        client.execute_interactive(code, timeout=START_S,
                                   output_hook=lambda m: outputs.append(m["content"].get("text", "")))
        pid = int("".join(outputs).strip())
        assert not gone(pid)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    assert wait_until(lambda: gone(pid), 5)


# --- configuration -----------------------------------------------------------------------


def test_servers_from_an_mcp_servers_file_with_secrets_masked(tmp_path):
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps({"mcpServers": {
        "notes": {"command": sys.executable, "args": [NOTES, str(tmp_path / "notes.json")],
                  "env": {"NOTES_TOKEN": "tok_live_0123456789abcdef"}},
        "remote": {"url": "https://user:hunter2hunter2@example.com/mcp?key=abcdef0123456789",
                   "headers": {"X-Api-Key": "secret_0123456789abcdef"}},
    }}))
    servers = servers_for(tmp_path)
    try:
        assert servers.load(str(config)) == ["notes", "remote"]
        shown = shared_text(servers) + repr(servers.spec("notes")) + repr(servers.spec("remote"))
        for secret in ("tok_live_0123456789", "hunter2", "abcdef0123456789", "secret_0123456789"):
            assert secret not in shown
        assert "NOTES_TOKEN=…cdef" in shown and "not started" in shown
        search = tool(servers, "mcp:notes/search_notes")
        assert servers.call(search, {"query": "TEA"}) == '{"result": ["tea"]}'
        servers.call(tool(servers, "mcp:notes/add_note"), {"title": "milk", "text": "buy oat milk"})
        assert servers.call(tool(servers, "mcp:notes/read_note"), {"title": "milk"}) == "buy oat milk"
        with pytest.raises(McpToolError, match="there is no note titled 'nope'"):
            servers.call(tool(servers, "mcp:notes/read_note"), {"title": "nope"})
    finally:
        servers.close()


def test_every_problem_of_a_config_file_is_one_line_and_nothing_is_added(tmp_path):
    bad = {"mcpServers": {
        "ok": {"command": "python"},
        "bad name/": {"command": "x"},
        "both": {"command": "x", "url": "http://127.0.0.1/mcp"},
        "envs": {"command": "x", "env": {"TOKEN": 12345678}},
        "old": {"type": "sse", "url": "http://127.0.0.1/sse"},
        "ftp": {"url": "ftp://example.com"},
    }}
    with pytest.raises(InputError) as caught:
        parse_config(bad, source="f.json")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("f.json: ")
    for part in ("'bad name/' must be 1-64 letters", "'both' needs exactly one of",
                 "env TOKEN must be a string, got int", "the older SSE transport is not supported",
                 "url must start with http:// or https://"):
        assert part in message
    assert "12345678" not in message  # a value that may be a secret is not echoed
    servers = servers_for(tmp_path)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(InputError):
        servers.load(str(path))
    assert servers.names == []
    path.write_text("{" * 10)
    with pytest.raises(InputError, match="is not JSON"):
        servers.load(str(path))
    path.write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="an mcpServers file is at most"):
        servers.load(str(path))


def test_add_list_remove(tmp_path):
    servers = servers_for(tmp_path)
    servers.add_stdio("a", "npx", ["-y", "server", "--api-key", "sk-live-0123456789abcdef"])
    with pytest.raises(InputError, match="an MCP server named 'a' exists"):
        servers.add_stdio("a", "other")
    assert "--api-key sk-…cdef" in servers.describe()[0]
    servers.remove("a")
    assert servers.names == []
    with pytest.raises(InputError, match="no MCP server named 'a'"):
        servers.remove("a")


def test_configured_servers_are_replaced_when_the_configuration_changes(tmp_path):
    servers = servers_for(tmp_path)
    servers.add_all(parse_config({"mcpServers": {"a": {"command": "one"}, "b": {"command": "two"}}}))
    with pytest.raises(InputError, match="MCP servers a exist"):
        servers.add_all(parse_config({"a": {"command": "three"}}))
    servers.add_all(parse_config({"a": {"command": "three"}}), replace=True)
    assert [line.split(" —")[0] for line in servers.describe()] == ["a (stdio): three", "b (stdio): two"]


def test_a_schema_that_is_not_an_object_schema_is_refused_per_tool():
    from oai_magic.core.mcp.offer import tools_from_wire

    listing = tools_from_wire("s", [
        {"name": "good", "inputSchema": {"type": "object", "properties": {}}},
        {"name": "scalar", "inputSchema": {"type": "string"}},
        {"name": "none"},
    ], key=None)
    assert [t.name for t in listing.tools] == ["good"]
    assert listing.notes == ["s/scalar: refused, its input schema has type 'string', not 'object'.",
                             "s/none: refused, its input schema is a NoneType, not a JSON object."]


def test_results_describe_resources_and_raise_on_is_error():
    from oai_magic.core.mcp.results import result_text

    text = result_text({"content": [
        {"type": "text", "text": "see"},
        {"type": "resource_link", "uri": "file:///a.txt", "name": "a"},
        {"type": "resource", "resource": {"uri": "file:///b.bin", "mimeType": "application/pdf",
                                          "blob": "AAAA"}},
        {"type": "resource", "resource": {"uri": "file:///c.txt", "text": "inside"}},
    ]}, key=None)
    assert text == ("see\n[resource link file:///a.txt (a)]\n[resource file:///b.bin application/pdf, "
                    "3 bytes: binary, not shown to the model]\n[resource file:///c.txt]\ninside")
    assert result_text({"content": [{"type": "text", "text": "Found two."}],
                        "structuredContent": {"n": 2}}, None) == 'Found two.\n{"n": 2}'
    assert result_text({"content": [], "structuredContent": {"n": 2}}, None) == '{"n": 2}'
    with pytest.raises(McpToolError, match="^no such file$"):
        result_text({"content": [{"type": "text", "text": "no such file"}], "isError": True}, None)


def test_without_the_sdk_any_use_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(InputError, match="^" + re.escape(MISSING) + "$"):
        servers_for(tmp_path).add(ServerSpec("a", command="x"))


def test_load_ext_never_imports_mcp():
    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "InteractiveShell.instance().run_line_magic('load_ext', 'oai_magic')\n"
            "import oai_magic.core.mcp, oai_magic.core.mcp.servers\n"
            "print('mcp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent)))
    assert out.stdout.strip().splitlines()[-1] == "False"
