"""README command 1 opens the guides from a work folder, so saving them never breaks command 2."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from oai_magic.cli import quickstart

from . import test_notebooks
from .test_notebooks import NOTEBOOK_DIR, NOTEBOOKS

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_command_1_runs_the_quickstart_entry_point_not_the_committed_notebook():
    first, second = readme_commands()
    assert "oai-magic-quickstart" in first
    assert "notebooks/" not in first
    assert "pytest" in second


def test_saving_the_quickstart_with_outputs_leaves_the_committed_notebooks_clean(tmp_path, capsys):
    before = {path.name: path.read_bytes() for path in NOTEBOOKS}
    assert quickstart.main(["--dir", str(tmp_path), "--no-lab"]) == 0
    assert f"Guide notebooks in {tmp_path}" in capsys.readouterr().out
    copy = tmp_path / "01-quickstart.ipynb"
    assert (tmp_path / "data" / "hello.wav").is_file()
    # The user runs the cells and JupyterLab autosaves the outputs into the copy.
    notebook = nbformat.read(copy, as_version=4)
    cell = next(c for c in notebook.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", text="my answer")]
    cell.execution_count = 1
    nbformat.write(notebook, copy)

    assert quickstart.main(["--dir", str(tmp_path), "--no-lab"]) == 0
    assert "your copies are kept" in capsys.readouterr().out
    assert "my answer" in copy.read_text(encoding="utf-8")
    assert {path.name: path.read_bytes() for path in NOTEBOOKS} == before
    for path in NOTEBOOKS:  # README command 2's check of the committed notebooks still passes
        test_notebooks.test_notebook_is_saved_clean_and_starts_with_the_setup_cell(path)


def test_the_committed_folder_is_refused_as_a_work_folder(capsys):
    assert quickstart.main(["--dir", str(NOTEBOOK_DIR), "--no-lab"]) == 2
    assert "must not be the committed notebooks' folder" in capsys.readouterr().err


def test_jupyterlab_is_rooted_at_the_work_folder_and_opens_the_quickstart(tmp_path):
    command = quickstart.lab_command(tmp_path, ["--port", "0"])
    assert command[1:3] == ["-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert command[-1] == "01-quickstart.ipynb" and "--port" in command
