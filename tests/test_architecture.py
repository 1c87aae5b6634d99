"""The import direction of STYLE.md, and a light %load_ext, checked on the source itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "oai_magic"

# The layers of STYLE.md, lowest first: a module may import its own layer and the layers listed.
# The folder names are the layers; the few modules at the top level are named one by one.
# stdlib only: exceptions, kernel state, chat history, the key's redaction, image headers
BASE = {"errors", "state", "settings", "history", "redaction", "plain_text", "image_header",
        "masking", "audio_header"}
MAY_IMPORT = {
    "base": set(),
    "api": {"base", "root"},  # root: the package's __version__ for the User-Agent
    # core owns the Session: it starts and stops the practice server (a stdlib leaf that imports
    # nothing of ours back) and opens the log in store/ on first use.
    "core": {"base", "api", "practice", "store"},
    # the coming SQLite log (CONTRACTS 9): stdlib sqlite3, the base, and core's result types only
    "store": {"base"},
    "render": {"base", "core"},
    "ui": {"base", "core", "render"},
    "magics": {"base", "api", "core", "render", "ui", "practice"},
    "cli": {"base", "api", "core", "render", "ui", "magics", "practice", "root"},
    "practice": {"image_header", "audio_header"},  # stands alone: a stdlib leaf at most, so it runs anywhere
    "root": {"magics", "ui", "core"},  # __init__ (load_ipython_extension and lazy public names)
    "shim": {"core"},
}
# What store/ may take from core: the result and event types it writes, nothing that runs.
STORE_MAY_IMPORT_FROM_CORE = {"core.results", "core.events", "core.mapping", "core.batch",
                              "core.transcribe"}
# Foreign libraries with exactly one home: the module (or package) named may import them.
ONLY_IMPORTER = {
    "mcp": "core.mcp",  # MCP servers and their tools (CONTRACTS 8)
    "genai_prices": "core.costs",  # the price data, read by the one cost function
}
# Kept so that users' code keeps working where the README sends them; each re-exports one layer.
SHIMS = {"tools", "events"}  # oai_magic.tools.function_schema, oai_magic.events.TextDelta
ROOT_MODULES = {"__init__", "_autoload"}
LAYER_PACKAGES = {"api", "core", "store", "render", "ui", "magics", "cli", "practice"}
MAY_IMPORT_IPYTHON = {"render", "ui", "magics", "cli", "root"}
MAY_IMPORT_WIDGETS = {"render", "ui"}
MAY_IMPORT_HTTP = {"api"}


def modules():
    """Every module of the package as (dotted name, path)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(parts), path


def layer_of(dotted: str) -> str:
    head = dotted.split(".")[0]
    if head in LAYER_PACKAGES:
        return head
    if dotted in BASE:
        return "base"
    if dotted in SHIMS:
        return "shim"
    if dotted in ROOT_MODULES or dotted == "":
        return "root"
    return "none"


def imports_of(dotted: str, path: Path, typing_only: bool = True) -> tuple:
    """The modules of ours (dotted, relative to the package) and the foreign top-level names imported
    (``typing_only=False`` leaves out the imports under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
    package = dotted.split(".")[:-1]  # for a package's __init__, the package itself
    ours, foreign = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else list(package)
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                candidate = ".".join(target + [alias.name])
                ours.add(candidate if (PACKAGE / candidate.replace(".", "/")).with_suffix(".py").exists()
                         or (PACKAGE / candidate.replace(".", "/")).is_dir() else ".".join(target))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "oai_magic":
                ours.add(".".join(node.module.split(".")[1:]))
            else:
                foreign.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "oai_magic":
                    ours.add(".".join(alias.name.split(".")[1:]))
                else:
                    foreign.add(alias.name.split(".")[0])
    return ours, foreign


def test_every_module_is_in_a_layer():
    homeless = [dotted for dotted, _ in modules() if layer_of(dotted.removesuffix(".__init__")) == "none"]
    assert not homeless, f"place these modules in a layer (tests/test_architecture.py): {homeless}"


def test_imports_point_down_the_layers():
    wrong = []
    for dotted, path in modules():
        layer = layer_of(dotted.removesuffix(".__init__"))
        ours, _ = imports_of(dotted, path)
        for target in ours:
            target_layer = layer_of(target)
            allowed = MAY_IMPORT[layer] | {layer}
            if layer == "practice":
                allowed = {"practice"}
                if target in MAY_IMPORT["practice"]:
                    continue
            if layer == "store" and target in STORE_MAY_IMPORT_FROM_CORE:
                continue
            if target_layer not in allowed:
                wrong.append(f"{dotted} ({layer}) imports {target} ({target_layer})")
    assert not wrong, "\n".join(wrong)


def test_foreign_libraries_stay_in_their_layers():
    wrong = []
    for dotted, path in modules():
        layer = layer_of(dotted.removesuffix(".__init__"))
        _, foreign = imports_of(dotted, path)
        if foreign & {"requests", "sseclient", "urllib3"} and layer not in MAY_IMPORT_HTTP:
            wrong.append(f"{dotted} imports the HTTP stack")
        if foreign & {"IPython", "traitlets"} and layer not in MAY_IMPORT_IPYTHON:
            wrong.append(f"{dotted} imports IPython")
        if foreign & {"ipywidgets", "anywidget"} and layer not in MAY_IMPORT_WIDGETS:
            wrong.append(f"{dotted} imports a widget library")
        for library, home in ONLY_IMPORTER.items():
            module = dotted.removesuffix(".__init__")
            if library in foreign and module != home and not module.startswith(home + "."):
                wrong.append(f"{dotted} imports {library}: only {home} may")
        if layer == "practice":
            stdlib = set(sys.stdlib_module_names)
            assert foreign <= stdlib, f"{dotted} imports {foreign - stdlib}: practice is stdlib only"
    assert not wrong, "\n".join(wrong)


def test_the_coming_homes_are_placed():
    """Parallel work lands where the layer table says (README, "How the code is laid out")."""
    assert layer_of("core.session") == layer_of("core.events") == layer_of("core.mcp.servers") == "core"
    assert layer_of("store.log") == "store"
    assert "store" in MAY_IMPORT["core"] and "core" not in MAY_IMPORT["store"]
    assert "practice" in MAY_IMPORT["core"] and MAY_IMPORT["practice"] == {"image_header", "audio_header"}


def test_no_module_is_over_400_lines():
    """Past ~400 lines a module holds a second idea (STYLE.md, Habits): split it by that idea."""
    long = {dotted: n for dotted, path in modules() if (n := len(path.read_text().splitlines())) > 400}
    assert not long, f"split these by their second idea: {long}"


def test_the_import_rules_see_relative_imports():
    """The parser above must resolve ``from ..core import chat`` to the module, or the rules test nothing."""
    ours, _ = imports_of("ui.notebook", PACKAGE / "ui" / "notebook.py")
    assert any(layer_of(t) == "core" for t in ours), ours


def test_no_forbidden_runtime_dependencies():
    for dotted, path in modules():
        _, foreign = imports_of(dotted, path)
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


def test_no_two_modules_import_each_other():
    """An import cycle means two modules share one job (``magics/chat.py`` and
    ``magics/map_command.py`` did, and ``core/exchange.py`` and ``core/turn.py``): none is left,
    counting imports made inside functions too."""
    graph = {}
    for dotted, path in modules():
        name = dotted.removesuffix(".__init__")
        graph[name] = {t for t in imports_of(dotted, path, typing_only=False)[0] if t != name}
    cycles = set()

    def visit(node, trail):
        for target in graph.get(node, ()):
            if target in trail:
                cycles.add(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in done:
                visit(target, trail + [target])
        done.add(node)

    done: set = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    assert not cycles, "\n".join(sorted(cycles))
