"""``oai-magic-quickstart``: open the guide notebooks in a work folder of your own.

    oai-magic-quickstart [--dir FOLDER] [--no-lab] [jupyter lab options...]

The first run copies the notebooks (and their ``data/`` files) into FOLDER (default
``~/oai-magic-notebooks``, or ``$OAI_MAGIC_NOTEBOOKS``); later runs keep what is there, so your
answers and edits survive. JupyterLab then opens the quickstart from that folder. The committed
notebooks are never opened in place: saving them with outputs would make the test that keeps
them clean fail for the next person (and for you, running the README's second command).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

QUICKSTART = "01-quickstart.ipynb"


def shipped_notebooks() -> Path:
    """The guide notebooks: inside the installed wheel, or the checkout's ``notebooks/`` folder."""
    package = Path(__file__).resolve().parents[1]  # oai_magic/
    for candidate in (package / "notebooks", package.parent / "notebooks"):
        if (candidate / QUICKSTART).is_file():
            return candidate
    raise FileNotFoundError(
        f"The guide notebooks are not installed next to {package} (looked for notebooks/{QUICKSTART})."
    )


def default_folder() -> Path:
    return Path(os.environ.get("OAI_MAGIC_NOTEBOOKS") or Path.home() / "oai-magic-notebooks")


def copy_notebooks(source: Path, folder: Path) -> List[Path]:
    """Copy the notebooks and their data into ``folder``; files already there are kept as they are."""
    wanted = sorted(source.glob("*.ipynb")) + sorted(p for p in (source / "data").glob("*") if p.is_file())
    copied = []
    for path in wanted:
        target = folder / path.relative_to(source)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".ipynb":
            target.write_text(as_this_kernel_saves_it(path.read_text(encoding="utf-8")),
                              encoding="utf-8")
        else:
            shutil.copyfile(path, target)
        copied.append(target)
    return copied


def as_this_kernel_saves_it(text: str) -> str:
    """The notebook with this environment's kernel ``language_info``, as Jupyter saves it.

    On opening a notebook JupyterLab writes the kernel's ``language_info`` (Python version
    included) into its metadata; when that differs from the file, the notebook is "modified"
    before the user did anything. The committed notebooks carry no version (it depends on the
    machine), so the copy gets this one's. Without ipykernel the text is kept as it is.
    """
    try:
        from ipykernel.ipkernel import IPythonKernel
    except ImportError:
        return text
    notebook = json.loads(text)
    notebook.setdefault("metadata", {})["language_info"] = dict(IPythonKernel.language_info)
    # nbformat.write's form (jupyter_server saves with it): sorted keys, one-space indent.
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def lab_command(folder: Path, extra: List[str]) -> List[str]:
    """JupyterLab rooted at the work folder, showing the quickstart; root needs --allow-root.

    The URL JupyterLab prints (for when no browser opens) is its default URL: pointed at the
    quickstart, that link opens the notebook rather than the Launcher.
    """
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}"]
    if not any("default_url" in word for word in extra):
        command.append(f"--LabApp.default_url=/lab/tree/{QUICKSTART}")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")
    return [*command, *extra, QUICKSTART]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oai-magic-quickstart",
        description="Copy the oai_magic guide notebooks into a work folder (once) and open the "
        "quickstart there in JupyterLab.",
    )
    parser.add_argument("--dir", type=Path, default=None,
                        help="work folder (default: $OAI_MAGIC_NOTEBOOKS or ~/oai-magic-notebooks)")
    parser.add_argument("--no-lab", action="store_true",
                        help="only copy the notebooks; do not start JupyterLab")
    args, extra = parser.parse_known_args(argv)
    folder = (args.dir or default_folder()).expanduser().resolve()
    try:
        source = shipped_notebooks()
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    if folder == source.resolve():
        print("The work folder must not be the committed notebooks' folder: choose another --dir.",
              file=sys.stderr)
        return 2
    copied = copy_notebooks(source, folder)
    kept = "" if copied else " (already there: your copies are kept)"
    print(f"Guide notebooks in {folder}{kept}")
    if args.no_lab:
        return 0
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        print("JupyterLab is not installed here: pip install 'oai-magic[lab]' (or open the folder "
              "in your own Jupyter).", file=sys.stderr)
        return 1
    try:
        return subprocess.call(lab_command(folder, extra), cwd=folder)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
