"""Peak memory of a shell meeting each hostile flood (issue 25), side by side.

    PYTHONPATH=. python benchmarks/bench_floods.py

Each flood runs in a fresh process (tests/flood_probe.py) under ``prlimit --as`` set to the
normal peak + 512 MB, and prints the growth of ``VmHWM``, the time and the line the user saw.
Run it from another checkout to compare (on main every flood died of MemoryError).
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.hostile_server import HostileServer  # noqa: E402
from tests.test_hostile import FLOODS, _probe  # noqa: E402


def main() -> None:
    server = HostileServer().start()
    tmp = pathlib.Path(tempfile.mkdtemp())
    try:
        peak = _probe(server, tmp, "ok", "%%chat\nhello")["vm_peak_mb"]
        print(f"normal VmPeak {peak:.0f} MB; each flood under prlimit --as={peak + 512:.0f} MB")
        for mode, (cell, _) in sorted(FLOODS.items()):
            started = time.monotonic()
            report = _probe(server, tmp, mode, cell, address_space_mb=peak + 512)
            said = report["result_error"] or report["error"] or report["printed"].strip()[-120:]
            print(f"  {mode:12s} peak +{report['growth_mb']:6.1f} MB  {time.monotonic() - started:5.1f} s  "
                  f"{report['error_type'] or 'ok':12s} {said[:110]}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
