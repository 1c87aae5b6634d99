"""The MCP servers of one session: configured by name, started on first use, closed together.

The SDK is asynchronous and the kernel's own event loop is busy running the cell, so every
client session runs on one background event-loop thread that :class:`McpServers` owns, started
with the first server. Each server has an owner task that holds its ``Client`` open (anyio
needs one task to enter and leave it) until told to stop; calls from the kernel's thread or the
panel's go through :class:`~.bridge.PendingCall`, which bounds the wait
(``OAIMagics.mcp_timeout_s``) and can be stopped from any thread.

A server that died is started again on next use, once; after a second death it stays stopped
with one line saying why (the tail of its stderr). :meth:`McpServers.close` stops them all in
parallel and kills by PID whatever has not stopped within 2 s (jupyter_client kills the kernel
after 5 s, and its process-group kill misses servers that lead their own session).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ...errors import InputError
from ..tools import visible
from . import require_sdk
from .bridge import Connection, McpServerError, PendingCall
from .config import ServerSpec, load_config, parse_config, parse_server
from .offer import Listing, McpTool, check_tool_count, offer, parse_reference
from .processes import sdk_log_to_file

CLOSE_GRACE_S = 2.0
Number = Union[float, Callable[[], float]]


class McpServers:
    """Configured MCP servers by name, their connections, and the thread that runs them."""

    def __init__(self, timeout_s: Number = 60.0, key: Callable[[], Optional[str]] = lambda: None,
                 log_directory: Any = None) -> None:
        self._timeout = timeout_s
        self._key = key
        self._log_directory = log_directory
        self._lock = threading.RLock()
        self._servers: Dict[str, Connection] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._closes_at_exit = False
        self._configured: Dict[str, Any] = {}  # the OAIMagics.mcp_servers last applied

    @property
    def timeout_s(self) -> float:
        return float(self._timeout() if callable(self._timeout) else self._timeout)

    # --- configuration -------------------------------------------------------------------

    def add(self, spec: ServerSpec, replace: bool = False) -> None:
        """Add a server (not started: that waits for its first use)."""
        require_sdk()
        with self._lock:
            if spec.name in self._servers and not replace:
                raise InputError(f"an MCP server named {spec.name!r} exists; remove it first.")
            old = self._servers.pop(spec.name, None)
            self._servers[spec.name] = Connection(spec, self._log_directory)
        if old is not None:
            self._stop([old])

    def add_stdio(self, name: str, command: str, args: Sequence[str] = (),
                  env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None) -> ServerSpec:
        """``%oai mcp add NAME -- COMMAND [ARGS...]``: validated like a config file entry."""
        require_sdk()
        entry: Dict[str, Any] = {"command": command, "args": list(args), "env": env or {}}
        if cwd is not None:
            entry["cwd"] = cwd
        spec = parse_server(name, entry)
        self.add(spec)
        return spec

    def add_http(self, name: str, url: str, headers: Optional[Dict[str, str]] = None) -> ServerSpec:
        """``%oai mcp add NAME URL [--header K=V]``: a streamable-HTTP server."""
        require_sdk()
        spec = parse_server(name, {"url": url, "headers": headers or {}})
        self.add(spec)
        return spec

    def load(self, path: str) -> List[str]:
        """Add every server of an ``mcpServers`` file: all validated before any is added."""
        require_sdk()
        specs = load_config(path)
        self.add_all(specs, source=path)
        return [spec.name for spec in specs]

    def add_all(self, specs: List[ServerSpec], source: str = "mcp_servers", replace: bool = False
                ) -> None:
        """Add several servers at once; none if one name is taken, unless ``replace`` (the
        configured ``c.OAIMagics.mcp_servers`` changed): a replaced server that runs is stopped,
        one whose spec did not change is kept as it is."""
        require_sdk()
        with self._lock:
            taken = [s.name for s in specs if s.name in self._servers]
            if taken and not replace:
                raise InputError(f"{source}: MCP servers {', '.join(taken)} exist; remove them first.")
            old = [self._servers[s.name] for s in specs
                   if s.name in self._servers and self._servers[s.name].spec != s]
            for spec in specs:
                if spec.name not in self._servers or self._servers[spec.name].spec != spec:
                    self._servers[spec.name] = Connection(spec, self._log_directory)
        self._stop(old)

    def configure(self, servers: Dict[str, Any]) -> None:
        """Apply ``c.OAIMagics.mcp_servers`` (the mcpServers shape) when it changed since the
        last time: its servers are added, or replace those of the same name."""
        if servers == self._configured:
            return
        self.add_all(parse_config(servers, "OAIMagics.mcp_servers"), "OAIMagics.mcp_servers",
                     replace=True)
        self._configured = dict(servers)

    def remove(self, name: str) -> None:
        """Stop (if running) and forget a server."""
        with self._lock:
            connection = self._servers.pop(self._known(name).spec.name)
        self._stop([connection])

    def restart(self, name: str) -> None:
        """Stop a server and clear its deaths: it starts afresh on next use."""
        connection = self._known(name)
        self._stop([connection])
        connection.reset()

    @property
    def names(self) -> List[str]:
        with self._lock:
            return list(self._servers)

    def __contains__(self, name: object) -> bool:
        return name in self._servers

    def __len__(self) -> int:
        return len(self._servers)

    def spec(self, name: str) -> ServerSpec:
        return self._known(name).spec

    def status(self, name: str) -> str:
        """``not started``, ``running``, ``stopped: …`` or ``failed: …`` (one line)."""
        return self._known(name).status()

    def describe(self) -> List[str]:
        """One line per server for listings: name, transport, status; secrets masked."""
        with self._lock:
            connections = list(self._servers.values())
        return [f"{c.spec.name} ({c.spec.transport}): {c.spec.describe()} — {c.status()}"
                for c in connections]

    def __repr__(self) -> str:
        return f"<McpServers {', '.join(self.describe()) or 'none'}>"

    # --- tools ----------------------------------------------------------------------------

    def tools(self, name: str) -> Listing:
        """The server's usable tools and a note per refused one (starts the server if needed)."""
        connection = self._known(name)
        return self._wait(self._submit(connection.list_tools(self._key())), connection, "tools/list")

    def listed_tools(self, name: str) -> Optional[Listing]:
        """What the server listed last (None before its first use): a listing starts nothing."""
        return self._known(name).last_listing

    def resolve(self, references: Sequence[str], taken: Sequence[str] = ()) -> Listing:
        """``["mcp:fs", "mcp:gh/search"]`` → the tools they name, each offered under a distinct
        API name (``taken``: the kernel functions' names), plus notes on renames and refusals.
        An unknown server or tool is one line naming it; more than 128 tools is refused."""
        require_sdk()
        wanted = [parse_reference(r) for r in references]
        for server, _ in wanted:
            self._known(server)
        offered = Listing()
        listed: Dict[str, Listing] = {}
        for server, tool in wanted:
            if server not in listed:
                listed[server] = self.tools(server)
                offered.notes.extend(listed[server].notes)
            available = {t.name: t for t in listed[server].tools}
            if tool is None:
                chosen = list(available.values())
            elif tool in available:
                chosen = [available[tool]]
            else:
                names = ", ".join(sorted(available)[:20]) or "none"
                raise InputError(f"mcp:{server}/{visible(tool)[:80]}: {server} has no tool of that "
                                 f"name (it has: {visible(names)[:300]}).")
            for item in chosen:
                if all(item is not t for t in offered.tools):
                    offered.tools.append(item)
        check_tool_count(len(offered.tools) + len(taken))
        offered.tools = [McpTool(t.server, t.name, t.offered, t.description, t.parameters)
                         for t in offered.tools]
        offered.notes.extend(offer(offered.tools, taken))
        return offered

    def call(self, tool: McpTool, arguments: Dict[str, Any], cancellation: Any = None,
             on_progress: Optional[Callable[[float, Optional[float], Optional[str]], None]] = None
             ) -> str:
        """Run ``tool`` with ``arguments`` and return the text for the model.

        Raises McpToolError (the tool failed: the model is told), McpServerError (the server
        could not answer: one line), McpCallStopped (Ctrl-C, or ``cancellation.cancel()`` from
        another thread, e.g. the panel's Stop) within 0.5 s.
        """
        return self.start_call(tool, arguments, cancellation, on_progress).wait()

    def start_call(self, tool: McpTool, arguments: Dict[str, Any], cancellation: Any = None,
                   on_progress: Optional[Callable[..., None]] = None) -> PendingCall:
        connection = self._known(tool.server)
        coroutine = connection.call_tool(tool.name, arguments, self._key(), on_progress)
        pending = PendingCall(self._submit(coroutine), self.timeout_s, f"{tool.server}/{tool.name}")
        if cancellation is not None:
            cancellation.attach(pending)  # core.results.Cancellation: Stop calls pending.abort()
        return pending

    def as_tools(self, offered: Listing, cancellation: Any = None) -> List[Any]:
        """The resolved tools as ``core.tools.Tool`` objects the tool loop runs."""
        return [t.as_tool(lambda tool, arguments: self.call(tool, arguments, cancellation))
                for t in offered.tools]

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server in parallel; kill by PID what has not stopped within 2 s."""
        with self._lock:
            connections = list(self._servers.values())
        self._stop(connections)
        for connection in connections:
            connection.forget_loop()
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            with contextlib.suppress(Exception):  # a loop already gone has nothing left to end
                asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(CLOSE_GRACE_S)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CLOSE_GRACE_S)
            if not thread.is_alive():
                loop.close()

    def __enter__(self) -> McpServers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _stop(self, connections: List[Connection]) -> None:
        running = [c for c in connections if c.task is not None]
        if not running or self._loop is None:
            return
        futures = [asyncio.run_coroutine_threadsafe(c.stop(), self._loop) for c in running]
        concurrent.futures.wait(futures, timeout=CLOSE_GRACE_S)
        for connection, future in zip(running, futures):
            if not future.done():
                connection.kill()
        concurrent.futures.wait(futures, timeout=CLOSE_GRACE_S)

    def _known(self, name: str) -> Connection:
        with self._lock:
            connection = self._servers.get(name)
        if connection is None:
            configured = ", ".join(self._servers) or "none is configured"
            raise InputError(f"no MCP server named {visible(str(name))[:64]!r} ({configured}); "
                             "add it with %oai mcp add or %oai mcp load.")
        return connection

    def _submit(self, coroutine: Any) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())

    def _wait(self, future: concurrent.futures.Future, connection: Connection, what: str) -> Any:
        return PendingCall(future, self.timeout_s, f"{connection.spec.name} {what}").wait()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                sdk_log_to_file(self._log_directory and Path(self._log_directory))
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="oai-mcp", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
                _close_at_exit(self)
            return self._loop


async def _cancel_the_rest() -> None:
    """Cancel what still runs on the MCP thread (HTTP sessions ending), so the loop closes
    without "Task was destroyed but it is pending" on the kernel's stderr."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=CLOSE_GRACE_S / 4)


def _close_at_exit(servers: McpServers) -> None:
    """Close at interpreter exit (a kernel shutdown or restart), once per object.

    A strong reference: servers dropped without ``close()`` (a session replaced) still have
    their processes stopped when the kernel exits, not left to their stdin closing.
    """
    if not servers._closes_at_exit:
        servers._closes_at_exit = True
        atexit.register(servers.close)


__all__ = ["McpServers", "McpServerError", "PendingCall"]
