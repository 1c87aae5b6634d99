"""Real Jupyter kernels for tests: a kernel spec naming one Python, and an environment of its own.

The kernel runs the interpreter it is given (this virtualenv's, or a fresh one's), with no OpenAI
settings inherited and an empty IPython directory, so a developer's own profile cannot change what
the tests see.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Optional

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager


def kernel_manager(python: str, tmp: Path) -> KernelManager:
    """A manager for a ``python3`` kernel spec whose argv runs ``python`` (not whatever is on PATH)."""
    spec_dir = tmp / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp / "kernels")])
    # Its sockets are files in a folder of its own (ZeroMQ's ipc transport), not TCP ports: a free
    # port is picked by binding and closing it, and under three workers two kernels started at
    # once took the same one ("Address already in use", the kernel died before replying). The
    # folder is short (a socket path has at most 107 bytes), removed when the test process ends.
    sockets = tempfile.mkdtemp(prefix="oai-k-")
    atexit.register(shutil.rmtree, sockets, True)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs, transport="ipc",
                         ip=os.path.join(sockets, "kernel"))


def kernel_env(tmp: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The test process's environment without OpenAI settings, with a private IPYTHONDIR and log.

    Kernels given the same ``tmp`` share one log (a restart that resumes); ``extra`` may set
    ``JPY_SESSION_NAME`` as Jupyter Server does for a notebook's kernel.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OPENAI_", "OAI_MAGIC_"))
    }
    ipython_dir = tmp / "ipython"
    ipython_dir.mkdir(parents=True, exist_ok=True)
    env["IPYTHONDIR"] = str(ipython_dir)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["XDG_DATA_HOME"] = str(tmp / "xdg-data")  # its own log (issue 24), never the user's
    env.pop("JPY_SESSION_NAME", None)
    env.update(extra or {})
    return env
