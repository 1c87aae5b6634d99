"""The import direction of STYLE.md, and a light %load_ext, checked on the source itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "oai_magic"

# module -> the modules of ours it may import
ALLOWED = {
    "errors": set(),
    "state": {"errors"},
    "request": {"errors", "state"},
    "sse": {"errors"},
    "client": {"errors", "sse", "state", "__version__"},
    "accumulator": set(),
    "interpolate": set(),
    "practice": {"_practice_answers", "_practice_audio", "_practice_batch", "_practice_quirks"},
    "_practice_batch": {"_practice_answers"},
    "pacer": set(),  # stdlib only: rate-limit arithmetic, tested with a fake clock
    "mapping": {"costs", "errors", "request", "state"},
    "map_run": {"client", "costs", "errors", "mapping", "pacer", "state"},
    "batch": {"errors", "mapping", "state"},
    "_practice_quirks": {"_practice_answers"},
    "_practice_answers": {"_practice_tools", "_practice_corpus", "image_header"},
    "image_header": set(),  # stdlib only: the client and the practice server read image headers
    "context": {"errors", "image_header", "render", "state"},
    "_practice_tools": set(),
    "_practice_corpus": set(),
    "surface": {"render"},
    "tools": {"errors"},
    "structured": {"errors"},
    "costs": {"errors"},
    "_practice_audio": {"_practice_answers"},
    "subtitles": set(),
    "audio_sources": {"errors"},
    "transcribe": {"audio_sources", "costs", "errors", "state", "subtitles"},
}
ONLY_IMPORTS_REQUESTS = {"client"}
MAY_IMPORT_IPYTHON = {
    "magics", "render", "live", "views", "widget", "__init__", "tools_confirm", "columns", "tool_view",
    "transcribe_view", "surface", "map_command", "map_view",
}


def imports_of(path: Path) -> tuple:
    tree = ast.parse(path.read_text())
    ours, foreign = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if node.module:
                    ours.add(node.module.split(".")[0])
                else:
                    ours.update(alias.name for alias in node.names)
            elif node.module:
                foreign.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            foreign.update(alias.name.split(".")[0] for alias in node.names)
    return ours, foreign


def test_modules_import_only_what_the_architecture_allows():
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        ours, foreign = imports_of(path)
        if name in ALLOWED:
            assert ours <= ALLOWED[name], f"{name} imports {ours - ALLOWED[name]}"
        if "requests" in foreign or "urllib3" in foreign:
            assert name in ONLY_IMPORTS_REQUESTS, f"{name} imports requests"
        if "ipywidgets" in foreign:
            assert name.startswith("widget") or name in ("columns", "map_view"), (
                f"{name} imports ipywidgets")


def test_no_forbidden_runtime_dependencies():
    for path in PACKAGE.glob("*.py"):
        _, foreign = imports_of(path)
        assert not foreign & {"openai", "httpx", "langchain", "litellm"}, path.name


def test_load_ext_imports_nothing_heavy():
    heavy = ("ipywidgets", "markdown_it", "pygments.lexers", "requests", "sseclient", "mdit_py_plugins",
             "pandas", "numpy", "matplotlib", "PIL")  # context objects are duck-typed (issue 15)
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        f"heavy = {heavy!r}\n"
        "before = {m for m in heavy if m in sys.modules}\n"  # some IPython versions bring pygments
        "ip.run_line_magic('load_ext', 'oai_magic')\n"
        "print(','.join(m for m in heavy if m in sys.modules and m not in before) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "none", out.stdout
