"""Terminal quickstart: stream one %%chat answer, offline when OPENAI_API_KEY is unset.

    oai-magic-demo ["your prompt"]      (or: python -m oai_magic.demo ...)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

DEFAULT_PROMPT = "Show me what oai_magic can render: a table, some code and a formula."


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oai-magic-demo",
        description="Stream one %%chat answer in the terminal: from the model named by "
        "OPENAI_API_KEY (and OPENAI_BASE_URL), or from the offline practice server when no key "
        "is set.",
    )
    parser.add_argument("prompt", nargs="*", help=f"what to ask (default: {DEFAULT_PROMPT!r})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    prompt = " ".join(args.prompt) or DEFAULT_PROMPT

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from ..core.session import session_of
    from ..magics import settings_commands

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "oai_magic")
    shell.run_line_magic("config", "OAIMagics.display_mode = 'plain'")
    state = session_of(shell)
    if not os.environ.get("OPENAI_API_KEY"):
        settings_commands.practice(state, ["--delay", "0.01"])
        print("No OPENAI_API_KEY: answering from the offline practice server (set the key for a "
              "real model).\n")
    try:
        result = shell.run_cell(f"%%chat -o answer\n{prompt}", store_history=False)
    finally:
        if state.practice_server is not None:
            settings_commands.practice(state, ["--stop"])
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
