"""How long a kernel interrupt (SIGINT) takes to stop a streaming %%chat and keep the partial answer.

    python benchmarks/bench_interrupt.py [--runs 20]

The practice server runs in its own process (CONTRACTS 4) and sends a token every second
(``[[pace=1000]]``), as a slow model would: after the second token the main thread is blocked
reading the stream. 50 ms later a thread sends SIGINT to the main thread, exactly as ipykernel's
interrupt does, and the time until the cell has finished (partial answer recorded, connection
closed) is measured.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402

from benchmarks.practice_process import practice_server  # noqa: E402
from oai_magic.state import Secret, get_state  # noqa: E402

PACE_MS = 1000  # the third token is this far away when SIGINT comes: it cannot end the read


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "oai_magic")
    shell.run_line_magic("config", "OAIMagics.display_mode = 'plain'")
    magics = shell.magics_manager.registry["OAIMagics"]
    timings = []
    with practice_server(0.0) as base_url:
        state = get_state(shell)
        state.settings.base_url, state.settings.api_key = base_url, Secret("sk-bench-00000000")
        for _ in range(args.runs):
            sent_at = []
            factory = magics.chat_view

            def signalling_view(parsed, factory=factory, sent_at=sent_at):
                view = factory(parsed)
                delta = view.delta
                main = threading.main_thread().ident
                seen = []

                def interrupt_later():
                    time.sleep(0.05)  # the main thread is now blocked reading the paced stream
                    sent_at.append(time.perf_counter())
                    signal.pthread_kill(main, signal.SIGINT)

                def on_delta(index, text):
                    delta(index, text)
                    seen.append(text)
                    if len(seen) == 2:
                        threading.Thread(target=interrupt_later).start()

                view.delta = on_delta
                return view

            magics.chat_view = signalling_view
            try:
                shell.run_cell(f"%%chat -n\nTell me [[tokens=50]] [[pace={PACE_MS}]]", store_history=False)
            except KeyboardInterrupt:
                pass
            finally:
                magics.chat_view = factory
                done = time.perf_counter()
            assert state.conversations["default"].messages[-1].partial
            timings.append(done - sent_at[0])
    print(f"SIGINT → cell finished with the partial answer recorded ({args.runs} runs; the server in its "
          "own process):")
    print(f"  median {1000 * statistics.median(timings):.1f} ms, worst {1000 * max(timings):.1f} ms (target: 500 ms)")


if __name__ == "__main__":
    main()
