"""Run one flood in a shell of its own and report the memory it cost (tests/test_hostile.py).

``python tests/flood_probe.py BASE_URL CELL OUT.json``: loads the extension in a fresh IPython
shell, warms it up with a normal answer from the same server, resets ``VmHWM`` (writing 5 to
``/proc/self/clear_refs``), runs ``CELL`` against ``BASE_URL`` and writes what happened to
``OUT.json``: the peak's growth in MB, the exception (type and text) and the process's
``VmPeak``. The test runs it under ``prlimit --as``, so a flood that allocates gigabytes dies
of ``MemoryError`` instead of taking the machine with it.
"""

from __future__ import annotations

import json
import re
import sys


def status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        return int(re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.M).group(1))


def main() -> None:
    base_url, cell, out = sys.argv[1], sys.argv[2], sys.argv[3]
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "oai_magic")
    shell.run_line_magic("config", "OAIMagics.display_mode = 'plain'")
    shell.run_line_magic("config", "OAIMagics.max_retries = 0")
    warm_up = base_url.rsplit("/", 2)[0] + "/ok/v1"
    shell.run_line_magic("oai", f"base-url {warm_up}")
    assert shell.run_cell("%%chat\nwarm up").success
    shell.run_line_magic("oai", f"base-url {base_url}")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")
    before = status_kb("VmRSS")
    result = shell.run_cell(cell)
    error = result.error_in_exec
    report = {
        "growth_mb": (status_kb("VmHWM") - before) / 1024,
        "error_type": type(error).__name__ if error is not None else None,
        "error": str(error) if error is not None else None,
        "vm_peak_mb": status_kb("VmPeak") / 1024,
        "result_error": getattr(shell.user_ns.get("r"), "error", None),  # the result's reason
        "result_text_chars": len(getattr(shell.user_ns.get("r"), "text", "") or ""),
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main()
