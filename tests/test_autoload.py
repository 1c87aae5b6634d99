"""Installed from its wheel, oai_magic loads itself in every new IPython kernel of that environment.

The wheel carries ``etc/ipython/ipython_kernel_config.json`` as shared data; pip puts it under the
environment's ``sys.prefix``, which IPython kernels read at start. The test builds the wheel, installs
it (not editable) into a fresh virtualenv, starts a real kernel there with jupyter_client, and runs
``%%chat`` without ``%load_ext``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from tests.conftest import TEST_KEY
from tests.kernels import kernel_env, kernel_manager

REPO = Path(__file__).resolve().parent.parent
CONFIG_IN_WHEEL = "data/etc/ipython/ipython_kernel_config.json"


@dataclass
class Installed:
    wheel: Path
    venv: Path
    python: Path


def _without_pythonpath() -> Dict[str, str]:
    """This environment without PYTHONPATH: a checkout on it would shadow the installed wheel."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def _run(command: List[str], cwd: Optional[Path] = None) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, cwd=cwd,
                          env=_without_pythonpath())
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """oai_magic's wheel, built from this checkout and installed into a new virtualenv, whose
    dependencies are the ones this environment already has.

    Quicker than the obvious commands, the same wheel (issue 26): the build backend already in
    this environment builds it (no isolated build environment to fill first); the new
    virtualenv gets no pip of its own: this environment's pip installs into it (``--python``);
    and its dependencies are not copied and byte-compiled again (6 s, and 5 s of compiling in
    the first kernel): a ``.pth`` file puts this environment's site-packages after the new one,
    as a plain path (its own ``.pth`` files, such as the editable install of this checkout, are
    not read), and ``pip check`` proves the wheel's requirements are met there."""
    import importlib.util
    import sysconfig

    tmp = tmp_path_factory.mktemp("autoload")
    backend_here = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *backend_here, "-q", "-w", tmp / "dist", REPO])
    wheel = next((tmp / "dist").glob("oai_magic-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "_this_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile", "--no-deps", wheel])
    _run([sys.executable, "-m", "pip", "--python", python, "check"])
    return Installed(wheel, venv, python)


@contextlib.contextmanager
def kernel(python: Path, tmp: Path, env: Optional[Dict[str, str]] = None,
           profile_config: str = "") -> Iterator:
    """A running kernel of ``python`` with an empty IPython profile (or one holding ``profile_config``)."""
    environment = kernel_env(tmp, env)
    environment.pop("PYTHONPATH", None)  # the wheel's oai_magic, not a checkout on PYTHONPATH
    if profile_config:
        profile = Path(environment["IPYTHONDIR"]) / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_kernel_config.py").write_text(profile_config)
    manager = kernel_manager(str(python), tmp)
    manager.start_kernel(env=environment, cwd=str(tmp))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client, code: str) -> tuple:
    """Run ``code``; return (reply content, the iopub messages it produced)."""
    messages: List[dict] = []
    reply = client.execute_interactive(code, output_hook=messages.append, timeout=60)
    return reply["content"], messages


def shown_text(messages: List[dict]) -> str:
    parts = []
    for message in messages:
        content = message["content"]
        if message["msg_type"] == "stream":
            parts.append(content["text"])
        elif message["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            parts.append(str(content["data"].get("text/plain", "")))
    return "".join(parts)


def test_the_wheel_ships_the_kernel_config_and_installs_it_under_the_environment(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(CONFIG_IN_WHEEL))
        shipped = json.loads(wheel.read(name))
    assert shipped == {"InteractiveShellApp": {"extra_extensions": ["oai_magic._autoload"]}}
    assert (installed.venv / "etc" / "ipython" / "ipython_kernel_config.json").is_file()
    where = _run([installed.python, "-c", "import oai_magic; print(oai_magic.__file__)"],
                 cwd=installed.venv)
    assert Path(where.strip()).is_relative_to(installed.venv)  # installed, not the checkout


def test_a_new_kernel_runs_chat_without_load_ext_and_streams_the_answer(installed, server, tmp_path):
    server.token_delay = 0.01
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": TEST_KEY}
    with kernel(installed.python, tmp_path, env) as client:
        reply, messages = execute(client, "%%chat\nHello from a fresh install")
        _, where = execute(client, "import oai_magic; print(oai_magic.__file__)")

    assert Path(shown_text(where).strip()).is_relative_to(installed.venv)

    assert reply["status"] == "ok", reply
    kinds = [m["msg_type"] for m in messages]
    custom = [m for m in messages if m["msg_type"] == "comm_msg"
              and m["content"]["data"].get("method") == "custom"]
    assert len(custom) >= 2, kinds  # the answer grew in the live widget while it streamed
    assert kinds.count("comm_close") == kinds.count("comm_open")  # no widget left behind
    final = [m for m in messages if m["msg_type"] == "update_display_data"][-1]["content"]["data"]
    assert 'class="oai-answer' in final["text/html"]
    assert final["text/plain"].splitlines()[-1].startswith("— practice · ")  # the footer's badge
    assert "You wrote: “Hello from a fresh install”" in final["text/plain"]
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions" and request.json["stream"] is True


def test_loading_it_again_by_hand_is_silent_and_harmless(installed, server, tmp_path):
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": TEST_KEY}
    with kernel(installed.python, tmp_path, env) as client:
        reply, messages = execute(client, "%load_ext oai_magic")
        assert reply["status"] == "ok"
        assert shown_text(messages) == ""  # no "already loaded", which reads like a warning
        reply, messages = execute(client, "%%chat -o r --no-footer\nStill one answer?")
        assert reply["status"] == "ok", reply
        reply, messages = execute(client, "print(r.text.count('## '))")
    assert shown_text(messages).strip() == "1"


def test_a_setting_in_the_users_kernel_profile_turns_autoload_off(installed, tmp_path):
    opt_out = "c.InteractiveShellApp.extra_extensions = []\n"
    with kernel(installed.python, tmp_path, profile_config=opt_out) as client:
        reply, _ = execute(client, "%%chat\nHello")
        assert reply["status"] == "error"
        assert "Cell magic `%%chat` not found" in reply["evalue"]
        reply, messages = execute(client, "%load_ext oai_magic\n%chat list")
    assert reply["status"] == "ok", reply


def test_the_wheel_ships_the_guide_notebooks_for_the_quickstart(installed, tmp_path):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert "oai_magic/notebooks/01-quickstart.ipynb" in names
    assert "oai_magic/notebooks/data/hello.wav" in names
    work = tmp_path / "guides"
    out = _run([installed.venv / "bin" / "oai-magic-quickstart", "--dir", work, "--no-lab"])
    assert str(work) in out
    assert sorted(p.name for p in work.glob("*.ipynb"))[0] == "01-quickstart.ipynb"
    assert (work / "data" / "hello.wav").is_file()


def test_autoload_then_load_ext_is_silent_and_registers_the_magics_once(shell, capsys):
    """In-process twin of the kernel test: the autoload module leaves the name oai_magic free."""
    manager = shell.extension_manager
    magics = shell.magics_manager.registry["OAIMagics"]
    manager.loaded.discard("oai_magic")  # as in a fresh kernel that only ran the autoload
    try:
        assert manager.load_extension("oai_magic._autoload") is None
        capsys.readouterr()
        assert shell.run_cell("%load_ext oai_magic", store_history=False).success
        assert capsys.readouterr().out == ""
        assert shell.magics_manager.registry["OAIMagics"] is magics
    finally:
        manager.loaded.add("oai_magic")
        manager.loaded.discard("oai_magic._autoload")
