"""The processes of stdio servers: their stderr file, their PIDs, and the last-resort kill.

The SDK starts each stdio server in a session of its own (so a Ctrl-C meant for the kernel does
not reach it), which also means the kernel's process-group kill misses it. It does not tell us
the PID, so the command runs through a one-line launcher that writes its PID to the server's
stderr file and ``exec``s the real command (same process, same PID, same stdin). ``close``
can then kill by PID whatever did not stop in time. A server's stderr goes to
``$XDG_STATE_HOME/oai_magic/mcp/NAME.log``, not to the Jupyter server's log, and a server that
fails to start is reported with the tail of that file.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

from ...errors import one_line
from ...redaction import redact
from ..tools import visible

MAX_LOG_BYTES = 1024 * 1024  # a log past this is started afresh at the next start
TAIL_BYTES = 8192
TAIL_CHARS = 300
_PID_LINE = re.compile(rb"^oai_magic: pid (\d+)$", re.MULTILINE)

# -I -S: the launcher needs os and sys only, whatever PYTHONPATH says; exec keeps the environment
# the SDK gave it, so the server sees exactly what it would have seen.
_LAUNCHER = (
    "import os,sys\n"
    "os.write(2,b'oai_magic: pid %d\\n'%os.getpid())\n"
    "try:os.execvp(sys.argv[1],sys.argv[1:])\n"
    "except OSError as e:\n"
    " os.write(2,('cannot start %s: %s\\n'%(sys.argv[1],e.strerror)).encode());os._exit(127)\n"
)


def log_dir() -> Path:
    """``$XDG_STATE_HOME/oai_magic/mcp`` (default ``~/.local/state/oai_magic/mcp``), mode 0700."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "oai_magic" / "mcp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def sdk_log_to_file(directory: Optional[Path] = None) -> None:
    """The SDK's own log lines (a server that prints junk on stdout, a kill that did not take)
    go to ``sdk.log`` beside the servers' logs: on the kernel's stderr they would land in
    whatever cell runs next, as red tracebacks. Done once, only if nobody configured it."""
    import logging

    logger = logging.getLogger("mcp")
    if logger.handlers:
        return
    folder = directory or log_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.FileHandler(folder / "sdk.log", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False


def launched(command: str, args: Tuple[str, ...]) -> Tuple[str, List[str]]:
    """(command, args) that start the server through the PID launcher (POSIX; elsewhere as is)."""
    if os.name != "posix":
        return command, list(args)
    return sys.executable, ["-I", "-S", "-c", _LAUNCHER, command, *args]


class ServerLog:
    """One server's stderr file: opened for a start, read for its PID and its last lines."""

    def __init__(self, name: str, directory: Optional[Path] = None) -> None:
        self.name = name
        self.directory = Path(directory) if directory is not None else None
        self.offset = 0  # where this start's lines begin

    @property
    def path(self) -> Path:
        """The file (its folder is made when a server first starts, not when it is added)."""
        return (self.directory or log_dir()) / f"{self.name}.log"

    def open_for_start(self):
        """The file a new start writes its stderr to (the caller closes it once the child has it)."""
        mode = "ab"
        try:
            if self.path.stat().st_size > MAX_LOG_BYTES:  # the folder is made here
                mode = "wb"
        except OSError:
            pass
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(path, mode, buffering=0)  # noqa: SIM115 - closed by the caller
        os.chmod(path, 0o600)
        handle.write(f"--- oai_magic: started {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        self.offset = handle.tell()
        return handle

    def _since_start(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                return handle.read(MAX_LOG_BYTES)
        except OSError:
            return b""

    def pid(self) -> Optional[int]:
        found = _PID_LINE.search(self._since_start()[:200])
        return int(found.group(1)) if found else None

    def tail(self, key: Optional[str]) -> str:
        """The last lines this start wrote, as one safe line (key masked, controls escaped)."""
        text = self._since_start()[-TAIL_BYTES:].decode("utf-8", "replace")
        lines = [line.strip() for line in text.splitlines()
                 if line.strip() and not _PID_LINE.match(line.strip().encode())]
        if not lines:
            return "it wrote nothing to stderr"
        return visible(one_line(redact(" | ".join(lines[-3:]), key), TAIL_CHARS))


def kill_group(pid: Optional[int]) -> bool:
    """SIGKILL a server's process group (its PID: it leads its own session); True if sent."""
    if pid is None or os.name != "posix" or pid <= 1:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            return False
