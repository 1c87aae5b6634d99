"""Terminal quickstart: stream one %%chat answer, offline when OPENAI_API_KEY is unset.

    python -m oai_magic.demo ["your prompt"]
"""

from __future__ import annotations

import os
import sys


def main(argv: list = None) -> int:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    argv = sys.argv[1:] if argv is None else argv
    prompt = " ".join(argv) or "Show me what oai_magic can render: a table, some code and a formula."
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "oai_magic")
    shell.run_line_magic("config", "OAIMagics.display_mode = 'plain'")
    if not os.environ.get("OPENAI_API_KEY"):
        shell.run_line_magic("oai", "practice --delay 0.01")
    result = shell.run_cell(f"%%chat -o answer\n{prompt}", store_history=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
