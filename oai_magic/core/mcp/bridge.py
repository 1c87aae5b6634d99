"""One server's connection on the MCP thread, and the pending calls other threads wait on.

The only module that imports the SDK (``mcp``), and only once a server starts. Everything here
that is ``async`` runs on the MCP thread; :class:`PendingCall` is what the kernel's thread (or
the panel's) holds: a bounded wait that Ctrl-C or ``abort()`` from another thread ends at once,
while the SDK tells the server the request is cancelled, so the server goes on answering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import os
import threading
from typing import Any, Callable, Dict, List, Optional

from ...errors import OAIError, one_line
from ...redaction import redact
from ..tools import visible
from . import sdk_version
from .config import ServerSpec, masked_url
from .offer import Listing, tools_from_wire
from .processes import ServerLog, kill_group, launched
from .results import McpToolError, result_text, wire

MAX_TOOL_PAGES = 50  # tools/list pages; a server that pages forever cannot hang a request
RESTARTS = 1


class McpServerError(OAIError):
    """A server could not be reached, did not start, stopped, or took too long: one line."""


class McpCallStopped(KeyboardInterrupt):
    """A call stopped by the user (Ctrl-C, or the panel's Stop from another thread).

    A KeyboardInterrupt, so the tool loop ends the exchange as interrupted whichever thread
    stopped it, as it does for Ctrl-C.
    """


class PendingCall:
    """A request running on the MCP thread: ``wait()`` for it, ``abort()`` it from anywhere."""

    def __init__(self, future: concurrent.futures.Future, timeout_s: float, what: str) -> None:
        self._future = future
        self._timeout_s = timeout_s
        self.what = what

    def abort(self) -> None:
        """Stop waiting now; the SDK sends ``notifications/cancelled`` to the server."""
        self._future.cancel()

    def wait(self) -> Any:
        try:
            return self._future.result(timeout=self._timeout_s)
        except concurrent.futures.CancelledError:
            raise McpCallStopped(f"{self.what}: stopped.") from None
        except concurrent.futures.TimeoutError:
            self._future.cancel()
            raise McpServerError(f"{self.what}: no answer within {self._timeout_s:g} s "
                                 "(OAIMagics.mcp_timeout_s): stopped.") from None
        except KeyboardInterrupt:
            self._future.cancel()
            raise


class Connection:
    """One configured server: its spec, its live client (if started), and how it ended."""

    def __init__(self, spec: ServerSpec, log_directory: Any = None) -> None:
        self.spec = spec
        self.log = ServerLog(spec.name, log_directory) if spec.command is not None else None
        self._log_directory = log_directory
        self.client: Any = None
        self.task: Optional[asyncio.Task] = None
        self._stop_event: Optional[asyncio.Event] = None
        self._starting: Optional[asyncio.Lock] = None
        self.deaths = 0
        self.last_error: Optional[str] = None
        self.auth_challenge: Optional[str] = None
        self.last_listing: Optional[Listing] = None  # what tools/list said last, for listings
        self._guard = threading.Lock()

    def reset(self) -> None:
        self.deaths, self.last_error = 0, None

    def forget_loop(self) -> None:
        """The MCP thread's loop is gone (``close``): a later use starts with a new one."""
        self._starting = self._stop_event = None

    def status(self) -> str:
        with self._guard:
            if self.client is not None:
                return "running"
            if self.last_error is not None:
                return ("failed: " if self.deaths > RESTARTS else "stopped: ") + self.last_error
            return "not started"

    def kill(self) -> None:
        """The last resort, from any thread: SIGKILL the server's process group."""
        if self.log is not None:
            kill_group(self.log.pid())

    # --- on the MCP thread ----------------------------------------------------------------

    async def list_tools(self, key: Optional[str]) -> Listing:
        client = await self._started(key)
        listed: List[Dict[str, Any]] = []
        cursor = None
        for _ in range(MAX_TOOL_PAGES):
            page = await self._guarded(client.list_tools(cursor=cursor) if cursor else client.list_tools(),
                                       key, "tools/list")
            page = wire(page, key)
            listed.extend(t for t in page.get("tools") or [] if isinstance(t, dict))
            cursor = page.get("nextCursor")
            if not cursor:
                break
        listing = tools_from_wire(self.spec.name, listed, key)
        self.last_listing = listing
        return listing

    async def call_tool(self, name: str, arguments: Dict[str, Any], key: Optional[str],
                        on_progress: Optional[Callable[..., None]] = None) -> str:
        client = await self._started(key)

        async def progress(done: float, total: Optional[float], message: Optional[str]) -> None:
            if on_progress is not None:
                on_progress(done, total, redact(message, key) if message else message)

        result = await self._guarded(client.call_tool(name, arguments, progress_callback=progress),
                                     key, "the call")
        try:
            return result_text(wire(result, key), key)
        except McpToolError as exc:
            raise McpToolError(self._refusal_if_elicitation(str(exc))) from None

    async def stop(self) -> None:
        """Leave the client (the SDK closes stdin, waits, then ends the process group)."""
        task = self.task
        if task is None:
            return
        if self._stop_event is not None:
            self._stop_event.set()
        with contextlib.suppress(BaseException):
            await task

    async def _started(self, key: Optional[str]) -> Any:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.client is not None and not self._process_gone():
                return self.client
            if self.client is not None:  # the process ended while idle
                self._died(f"it exited ({self.log.tail(key) if self.log else 'gone'})")
                await self.stop()
            if self.deaths > RESTARTS:
                raise McpServerError(f"MCP server {self.spec.name} stopped again ({self.last_error}); "
                                     "it is not restarted again: remove it and add it to retry.")
            self.auth_challenge = None
            ready: asyncio.Future = asyncio.get_running_loop().create_future()
            self._stop_event = asyncio.Event()
            self.task = asyncio.ensure_future(self._own(ready, key))
            try:
                return await asyncio.shield(ready)
            except asyncio.CancelledError:  # the wait ran out, or the user stopped it
                ready.cancel()  # nobody reads how the start ends now
                await self.stop()
                raise

    async def _guarded(self, awaitable: Any, key: Optional[str], what: str) -> Any:
        """Await a request; a closed connection is a death (restarted once), other protocol
        errors are the tool's (the model is told)."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        try:
            return await awaitable
        except MCPError as exc:
            message = one_line(redact(str(exc), key))
            if self.auth_challenge is not None:
                raise McpServerError(self._oauth_refusal()) from None
            # A remote server that restarted forgot our session: as good as a closed connection.
            if exc.code != CONNECTION_CLOSED and message != "Session terminated":
                raise McpToolError(self._refusal_if_elicitation(message)) from None
            reason = self.log.tail(key) if self.log else message
        except ValueError as exc:  # pydantic's ValidationError: an answer that is not MCP
            raise McpToolError(f"{self.spec.name} sent an answer that is not valid MCP: "
                               f"{one_line(redact(_leaf(exc), key), 200)}") from None
        except Exception as exc:  # the transport broke under us (closed streams, HTTP errors)
            reason = self.log.tail(key) if self.log else one_line(redact(_leaf(exc), key))
        self._died(reason)
        await self.stop()
        raise McpServerError(f"MCP server {self.spec.name} stopped during {what} ({reason}); "
                             + ("it starts again on next use." if self.deaths <= RESTARTS
                                else "it is not restarted again."))

    def _refusal_if_elicitation(self, message: str) -> str:
        """A tool that asks the user a question (elicitation) gets one line instead of the SDK's
        words, whichever way the refusal came back (a protocol error or the tool's error)."""
        if "elicitation" not in message.lower():
            return message
        return (f"{self.spec.name} asked for input (MCP elicitation), which oai_magic does not "
                "support yet: refused.")

    def _oauth_refusal(self) -> str:
        return (f"MCP server {self.spec.name} needs an OAuth sign-in, which oai_magic does not "
                "support yet: refused (a server that takes a token in a header works: --header "
                "Authorization='Bearer …').")

    def _died(self, reason: str) -> None:
        with self._guard:
            self.deaths += 1
            self.last_error = reason

    def _process_gone(self) -> bool:
        pid = self.log.pid() if self.log is not None else None
        if pid is None or os.name != "posix":
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    async def _own(self, ready: asyncio.Future, key: Optional[str]) -> None:
        """Hold the client open until told to stop; the SDK wants one task to enter and leave it."""
        from mcp import Client
        from mcp.types import Implementation

        errlog = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.spec.command is not None:
                    from mcp import StdioServerParameters, stdio_client

                    assert self.log is not None
                    errlog = self.log.open_for_start()
                    command, args = launched(self.spec.command, self.spec.args)
                    target: Any = stdio_client(StdioServerParameters(
                        command=command, args=args, env=dict(self.spec.env), cwd=self.spec.cwd),
                        errlog=errlog)
                else:
                    target = await self._http_transport(stack)
                me = Implementation(name="oai-magic", version=sdk_version("oai-magic"))
                client = Client(target, client_info=me)
                await stack.enter_async_context(client)
                with self._guard:
                    self.client, self.last_error = client, None
                ready.set_result(client)
                asyncio.get_running_loop().run_in_executor(None, _import_result_validator)
                assert self._stop_event is not None
                await self._stop_event.wait()
        except BaseException as exc:  # noqa: BLE001 - reported on `ready`, or as a death
            if not ready.done():
                ready.set_exception(McpServerError(self._start_failure(exc, key)))
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            with self._guard:
                self.client = None
            self.task = None
            if errlog is not None:
                errlog.close()

    async def _http_transport(self, stack: contextlib.AsyncExitStack) -> Any:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        http = create_mcp_http_client(headers=dict(self.spec.headers) or None)

        async def watch(response: Any) -> None:
            if response.status_code == 401:
                self.auth_challenge = str(response.headers.get("www-authenticate", "")) or "401"

        http.event_hooks = {"response": [watch]}
        await stack.enter_async_context(http)
        return streamable_http_client(self.spec.url, http_client=http)

    def _start_failure(self, exc: BaseException, key: Optional[str]) -> str:
        name = self.spec.name
        if self.auth_challenge is not None:
            return self._oauth_refusal()
        if self.log is not None:
            return f"MCP server {name} did not start ({visible(self.spec.command or '')[:80]}): " \
                   f"{self.log.tail(key)} (log: {self.log.path})"
        return (f"MCP server {name} at {masked_url(self.spec.url or '')} did not answer: "
                f"{one_line(redact(_leaf(exc), key), 200)}")


def _import_result_validator() -> None:
    """The SDK imports jsonschema to check the first tool result; importing it now, beside the
    model's request, keeps the seconds that takes on a busy machine out of the first call."""
    with contextlib.suppress(ImportError):
        importlib.import_module("jsonschema.validators")


def _leaf(exc: BaseException) -> str:
    """The first real error inside anyio's exception groups, as text."""
    while getattr(exc, "exceptions", None):  # an ExceptionGroup
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return visible(f"{type(exc).__name__}: {exc}")
