"""MCP server specs in the shape other clients use, validated as the untrusted input they are.

Claude Desktop, Cursor and VS Code keep their servers in ``{"mcpServers": {NAME: {...}}}``
(VS Code also writes ``"servers"``): ``command``/``args``/``env`` start a stdio server,
``url``/``headers`` reach a streamable-HTTP one. A file copied from the web may be anything, so
every problem is one line naming the server and the field, all of them are found before
anything changes, and nothing here imports the SDK.

Env values and header values are how these files carry tokens: they are masked wherever a spec
is shown (``repr``, ``describe``), as are URL passwords and query values, and the values of
arguments named like a secret (``--api-key X``, ``TOKEN=X``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from ...errors import InputError
from ...redaction import mask_key

MAX_CONFIG_BYTES = 1024 * 1024  # an mcpServers file is a few KB; a bigger one is not one
MAX_SERVERS = 100
MAX_FIELD_CHARS = 8192  # one command, argument, env value, URL or header
MAX_ITEMS = 256  # arguments, env variables or headers of one server
SERVER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # no "/" or ",": "mcp:NAME/TOOL" must parse
_SECRET_WORD = re.compile(r"(key|token|secret|passw|auth|cred|bearer|cookie)", re.IGNORECASE)
_STDIO_TYPES = {"stdio"}
_HTTP_TYPES = {"http", "streamable-http", "streamableHttp", "streamable_http"}


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one MCP server: a command (stdio) or a URL (streamable HTTP)."""

    name: str
    command: Optional[str] = None
    args: Tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Optional[str] = None
    url: Optional[str] = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"

    def describe(self) -> str:
        """One line for listings, secrets masked: ``npx -y srv  env GITHUB_TOKEN=…abcd``."""
        if self.command is not None:
            text = " ".join([self.command, *masked_args(self.args)])
            if self.env:
                text += "  env " + " ".join(f"{k}={mask_key(v)}" for k, v in self.env.items())
            return text
        text = masked_url(self.url or "")
        if self.headers:
            text += "  headers " + " ".join(f"{k}: {mask_key(v)}" for k, v in self.headers.items())
        return text

    def __repr__(self) -> str:
        return f"ServerSpec({self.name!r}, {self.transport}: {self.describe()})"


def masked_args(args: Tuple[str, ...]) -> List[str]:
    """Arguments with the values of secret-looking options masked (``--token X``, ``KEY=X``)."""
    shown: List[str] = []
    hide_next = False
    for arg in args:
        name, eq, value = arg.partition("=")
        if hide_next:
            shown.append(mask_key(arg))
        elif eq and _SECRET_WORD.search(name):
            shown.append(f"{name}={mask_key(value)}")
        else:
            shown.append(masked_url(arg) if "://" in arg else arg)
        hide_next = arg.startswith("-") and not eq and bool(_SECRET_WORD.search(arg))
    return shown


def masked_url(url: str) -> str:
    """A URL with its password and query values masked (tokens travel there too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_key(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':')[0]}:{mask_key(user.partition(':')[2])}@{host}" if ":" in user \
            else f"{mask_key(user)}@{host}"
    query = "&".join(
        f"{k}={mask_key(v)}" if eq else k
        for k, eq, v in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --- parsing ------------------------------------------------------------------------------


def load_config(path: str) -> List[ServerSpec]:
    """The servers of an ``mcpServers`` JSON file: every problem at once, as one line each."""
    file = Path(path).expanduser()
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise InputError(f"mcp load: cannot read {path}: {exc.strerror or exc}.") from None
    if size > MAX_CONFIG_BYTES:
        raise InputError(f"mcp load: {path} is {size:,} bytes; an mcpServers file is at most "
                         f"{MAX_CONFIG_BYTES:,}.")
    try:
        data = json.loads(file.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"mcp load: {path} is not JSON ({str(exc)[:120]}).") from None
    return parse_config(data, source=path)


def parse_config(data: Any, source: str = "mcp_servers") -> List[ServerSpec]:
    """``{"mcpServers": {NAME: {...}}}`` (or ``{"servers": ...}``, or the inner mapping) as specs."""
    if isinstance(data, dict) and isinstance(data.get("mcpServers", data.get("servers")), dict):
        data = data.get("mcpServers", data.get("servers"))
    elif isinstance(data, dict) and ("mcpServers" in data or "servers" in data):
        raise InputError(f"{source}: \"mcpServers\" must map server names to their settings.")
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected {{\"mcpServers\": {{NAME: {{...}}}}}}, got "
                         f"{type(data).__name__}.")
    if len(data) > MAX_SERVERS:
        raise InputError(f"{source}: {len(data)} servers; at most {MAX_SERVERS} in one file.")
    problems: List[str] = []
    specs: List[ServerSpec] = []
    for name, entry in data.items():
        try:
            specs.append(parse_server(name, entry))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError(f"{source}: " + " ".join(problems))
    return specs


def parse_server(name: Any, entry: Any) -> ServerSpec:
    """One server's settings; InputError names the first field that is wrong."""
    if not isinstance(name, str) or not SERVER_NAME.match(name):
        raise InputError(f"server name {str(name)[:70]!r} must be 1-64 letters, digits, '_', '.' "
                         "or '-'.")
    if not isinstance(entry, dict):
        raise InputError(f"server {name!r} must be an object with command or url.")
    kind = entry.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in _STDIO_TYPES | _HTTP_TYPES):
        hint = " (the older SSE transport is not supported)" if kind == "sse" else ""
        raise InputError(f"server {name!r}: type {str(kind)[:30]!r} is not supported; use stdio "
                         f"or http{hint}.")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise InputError(f"server {name!r} needs exactly one of \"command\" (stdio) or \"url\" "
                         "(streamable HTTP).")
    if command is not None:
        for wrong in ("headers",):
            if entry.get(wrong):
                raise InputError(f"server {name!r}: \"{wrong}\" goes with \"url\", not \"command\".")
        return ServerSpec(
            name=name, command=_text(name, "command", command),
            args=tuple(_texts(name, "args", entry.get("args", []))),
            env=_mapping(name, "env", entry.get("env", {})),
            cwd=_text(name, "cwd", entry["cwd"]) if entry.get("cwd") is not None else None,
        )
    for wrong in ("args", "env"):
        if entry.get(wrong):
            raise InputError(f"server {name!r}: \"{wrong}\" goes with \"command\", not \"url\".")
    url = _text(name, "url", url)
    if not re.match(r"^https?://[^\s/]", url, re.IGNORECASE):
        raise InputError(f"server {name!r}: url must start with http:// or https://.")
    return ServerSpec(name=name, url=url, headers=_mapping(name, "headers", entry.get("headers", {})))


def _text(server: str, what: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"server {server!r}: {what} must be a non-empty string, got "
                         f"{type(value).__name__}.")
    if len(value) > MAX_FIELD_CHARS or "\x00" in value:
        raise InputError(f"server {server!r}: {what} is longer than {MAX_FIELD_CHARS} characters "
                         "or holds a NUL.")
    return value


def _texts(server: str, what: str, values: Any) -> List[str]:
    if not isinstance(values, list) or len(values) > MAX_ITEMS:
        raise InputError(f"server {server!r}: {what} must be a list of at most {MAX_ITEMS} strings.")
    checked = []
    for value in values:
        if not isinstance(value, str):
            raise InputError(f"server {server!r}: {what} must hold strings, got "
                             f"{type(value).__name__}.")
        checked.append(_text(server, what, value) if value else value)
    return checked


def _mapping(server: str, what: str, values: Any) -> Dict[str, str]:
    if not isinstance(values, dict) or len(values) > MAX_ITEMS:
        raise InputError(f"server {server!r}: {what} must map names to strings (at most "
                         f"{MAX_ITEMS}).")
    checked: Dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$", key):
            raise InputError(f"server {server!r}: {what} name {str(key)[:40]!r} is not a valid name.")
        if not isinstance(value, str):
            # the value is not echoed: it is likely a secret
            raise InputError(f"server {server!r}: {what} {key} must be a string, got "
                             f"{type(value).__name__}.")
        checked[key] = _text(server, f"{what} {key}", value) if value else value
    return checked
