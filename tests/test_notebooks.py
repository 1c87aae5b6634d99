"""Every notebook in notebooks/ runs top to bottom in a real kernel, with no key, on the practice server.

The kernel is this virtualenv's Python, started by jupyter_client as Jupyter would; it runs in a
temporary directory holding a copy of notebooks/data, so exports land there and not in the repo.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Dict, Optional

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import TEST_KEY
from tests.kernels import kernel_env, kernel_manager

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
GUIDES = ["01-quickstart", "02-conversations", "03-transcribe", "04-chat-panel", "05-classroom",
          "06-choices-and-tools", "07-context-and-images", "08-structured-output-and-cost",
          "09-many-prompts"]
SETUP_LINES = ["%load_ext oai_magic", "%oai practice --if-no-key"]
# One guide runs as saved, paced at %oai practice's default 20 ms a token: a paced %%chat and a
# paced panel answer through a real kernel stay proven (tests/test_e2e_browser.py runs the
# quickstart paced in JupyterLab). The others run at zero delay, the same answers sent at once:
# that takes the notebook tests from minutes to seconds.
PACED = "04-chat-panel"

# What a reader must see in each notebook's outputs when it runs on the practice server.
EXPECTED = {
    "01-quickstart": [
        "&lt;script&gt;alert(",  # the tag in the answer is shown as text
        "completion_tokens",  # answer.usage
        "practice server",  # %oai status
        "list comprehensions",  # {topic} was filled in
    ],
    "02-conversations": [
        "Exported 'physics'",
        "# Conversation: physics",
        "Loaded ",
        "physics-review",
        "Removed the last exchange",
        "aluminium",
        "{material}",  # sent literally with --no-interpolate
    ],
    "03-transcribe": [
        "[practice transcript] hello.wav",
        "[practice translation] german.m4a",
        "00:00.00",  # subtitles
        "('B', 'This is not a real transcription.')",  # -f diarized_json: speakers
        "('german.m4a', '[practice transcript]",  # -o with several files: a list
        "friendly text message: [practice translation]",  # {english} in the prompt
        "The microphone recorder needs a browser",  # --mic under nbclient (issue 28)
        "<Recording memo waiting: no audio yet, text=None>",
    ],
    "10-mcp-tools": [
        "Added the MCP server notes (stdio)",
        "not started",
        "search_notes",  # %oai mcp list once it runs
        "[&quot;tea&quot;]",  # the server's answer in the tool card
        "The 42 leaves the station",  # read from Python
        "Removed the MCP server notes.",
    ],
    "04-chat-panel": [
        "<ChatPanel conversation='panel'",
        "You wrote: “Give me three ideas",  # the scripted panel's answer
        "scripted",  # ... is in %chat list
    ],
    "05-classroom": [
        "option 3 of 3",  # -N 3
        "Recorded choice 2",
        "billed to org-classroom-demo / proj_physics_101",  # the footer
        "'openai-project': 'proj_physics_101'",
        '"sentiment"',  # --json
        "organization: (none)",
        "Session budget: $0.5",  # %oai budget (issue 31)
    ],
    "06-choices-and-tools": [
        "Choice 3/3 · stop",  # -N 3 columns
        "'t=0': [1, 1]",  # lines_changed: only the title differs at temperature 0
        "Recorded choice 2",
        "&quot;name&quot;: &quot;Mars&quot;",  # the call, pretty-printed and escaped
        "day_hours",  # what planet_facts returned
        "'required': ['low']",  # the schema
        "planets_with_moons",
        "raised KeyError",  # the error went back to the model
        "### tool",  # the exchange is in the history
    ],
    "07-context-and-images": [
        "sent with the prompt: traceback (",  # %chat fix, above its answer
        "The traceback ends in ZeroDivisionError (division by zero), raised at line 2",
        "sent with the prompt: traceback of the last error (",  # {error}
        "sent with the prompt: df summary (",
        "DataFrame `df`: 6 rows × 3 columns",
        "Context: (",  # %chat history: the context block, collapsed
        "sent with the prompt: figure ",  # --image figure, after the inline backend closed it
        "I received a PNG image, 320×200.",  # data/bars.png
        'class="oai-thumbnail"',
        "2 images from earlier turns sent again",
        "and 2 images to images/",
    ],
    "08-structured-output-and-cost": [
        "Recipe Step Difficulty.EASY",  # recipe.parsed: a dataclass with nested objects, an Enum
        "'enum': ['easy', 'hard']",  # the strict schema
        "'moons': ",  # every choice parsed into a dict
        "The question has",  # the reasoning, kept
        "Thought (",  # ... and shown collapsed
        "overrides the value oai_magic set",  # --param temperature
        "cached",  # the repeated prompt
        "≈ $",  # the estimate
        "restart resets",  # %oai usage
        "tokens",  # %chat list's tokens column
        "prices: genai-prices",  # issue 29: where the prices come from, said once
        'rel="noopener noreferrer nofollow" target="_blank">Practice source 1</a>',  # the sources
        "'url': 'https://example.com/practice/source-1?context=medium'",  # found.citations
        'class="oai-confidence',  # the tinted tokens
        "flex tier",  # the tier that served the answer
        "('flex', ",  # slow.service_tier, slow.cost
    ],
    "09-many-prompts": [
        "✓ 5 of 5 answered in",  # the summary line the progress bar leaves
        "practice · ",  # ... with the practice badge
        "≈ $",  # the estimate from the price table
        "<MapResult 5/5 done, 0 failed, 0 not run>",
        "Nothing to send: every item of graded has an answer.",  # --resume
        "Sent 5 requests as batch batch_",
        "completed: 5 of 5 answered",  # %chat batch wait
        "([], [], 5)",  # the batch's answers mapped back by custom_id: none missing or failed
    ],
}


def at_zero_delay(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with ``--delay 0`` added to its setup cell's ``%oai practice --if-no-key``."""
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    lines = setup.source.splitlines()
    assert SETUP_LINES[1] in lines, setup.source
    setup.source = "\n".join(line + " --delay 0" if line == SETUP_LINES[1] else line for line in lines)
    return notebook


def run_notebook(path: Path, workdir: Path, env: Optional[Dict[str, str]] = None, *,
                 unchanged: bool = False) -> nbformat.NotebookNode:
    """Run a copy of the notebook in a real kernel: as saved, or (by default) at zero delay."""
    notebook = nbformat.read(path, as_version=4)
    if not unchanged:
        notebook = at_zero_delay(notebook)
    if (NOTEBOOK_DIR / "data").is_dir():
        shutil.copytree(NOTEBOOK_DIR / "data", workdir / "data")
    client = NotebookClient(
        notebook,
        km=kernel_manager(sys.executable, workdir / "jupyter"),
        timeout=120,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env(workdir / "jupyter", env))
    return notebook


def output_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell showed: streams, plain text and HTML of displays and results, errors."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            parts.extend(str(output.data.get(kind, "")) for kind in ("text/plain", "text/html"))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "\n".join(parts)


def test_the_guides_are_there():
    assert set(GUIDES) <= {path.stem for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_saved_clean_and_starts_with_the_setup_cell(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert all(line in first_code.source.splitlines() for line in SETUP_LINES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom_without_a_key(path, tmp_path):
    notebook = run_notebook(path, tmp_path, unchanged=path.stem == PACED)

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    setup = output_text(code_cells[0])
    assert "answers are PRACTICE OUTPUT, not a real model" in setup
    assert "already loaded" not in setup  # autoload plus %load_ext: silent
    chat_cells = [cell for cell in code_cells
                  if cell.source.startswith("%%chat") and "--map" not in cell.source.splitlines()[0]]
    for cell in chat_cells:
        shown = output_text(cell)
        assert 'class="oai-answer' in shown, cell.source
        if "--no-footer" not in cell.source.splitlines()[0]:
            assert "oai-practice-badge" in shown, cell.source  # the footer's badge, from the header
    everything = "\n".join(output_text(cell) for cell in code_cells)
    for expected in EXPECTED.get(path.stem, []):
        assert expected in everything, expected
    # Every live answer widget was emptied and closed. nbclient keeps the last state of every widget
    # it saw, closed or not: for ours that is an empty shell (no module, no regions), and no output
    # points at one.
    saved = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    # Live answer surfaces only (they have a uid): not the panel's message box, and not a
    # microphone recorder, which waits for a browser and stays.
    live = [m["state"] for m in saved.get("state", {}).values() if m.get("model_name") == "AnyModel"
            and "uid" in m["state"] and "max_s" not in m["state"]]
    assert all(not m.get("_esm") and not m.get("regions") for m in live), "a live widget kept its state"
    for cell in chat_cells:
        assert all("application/vnd.jupyter.widget-view+json" not in o.get("data", {}) for o in cell.outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_unchanged_against_the_server_in_the_environment(path, tmp_path, server):
    """OPENAI_BASE_URL and OPENAI_API_KEY name another server: the kernel starts no practice server
    of its own, every request goes there with that key, no edits, no key shown.

    That server is the tests' practice server, run outside the kernel: it identifies itself with
    its header, so the setup cell says so and the answers carry the badge, as they must whatever
    URL reached it.
    """
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": TEST_KEY}
    notebook = run_notebook(path, tmp_path, env, unchanged=True)

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    setup = output_text(code_cells[0])
    assert f"Using {server.base_url} with your key sk-…abcd (from OPENAI_API_KEY): that is a practice server" in setup
    everything = "\n".join(output_text(cell) for cell in code_cells)
    assert "Using the practice server" not in everything and "Practice server at" not in everything
    assert "running at http" not in everything  # %oai status: no in-kernel practice server
    assert TEST_KEY not in everything and TEST_KEY[3:15] not in everything
    assert server.requests, "the notebook's requests went to the server from the environment"
    assert all(request.headers.get("authorization") == f"Bearer {TEST_KEY}" for request in server.requests)
    assert not any("openai-organization" in request.headers for request in server.requests)
