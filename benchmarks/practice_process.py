"""The practice server in its own process, for every benchmark that needs one (CONTRACTS 4).

A server in the measured process shares its GIL: its sending slows what is measured, and the
figures are not what a user sees. ``practice_server`` starts ``python -m oai_magic.practice
--port 0`` (this checkout's code), yields the base URL it prints, and stops it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def practice_server(delay: float = 0.02, *options: str) -> Iterator[str]:
    """The base URL of a practice server in its own process, sending a token every ``delay`` s."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "oai_magic.practice", "--port", "0", "--delay", str(delay), *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(REPO), env=env)
    try:
        base = (process.stdout.readline() if process.stdout else "").strip()
        if not base.startswith("http"):
            raise SystemExit("the practice server did not start (python -m oai_magic.practice)")
        yield base
    finally:
        process.terminate()
        process.wait(10)
