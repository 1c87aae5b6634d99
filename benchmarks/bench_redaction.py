"""What redaction at both ends costs: the stream redactor and ``redact`` on text with and
without ``&``/``%`` (where encoded keys are looked for), side by side.

    python benchmarks/bench_redaction.py [--chars 110000] [--repeat 5]

Run it on two checkouts (``PYTHONPATH=...``) to compare branches: it prints one line per case.
"""

from __future__ import annotations

import argparse
import statistics
import time

from oai_magic.redaction import StreamRedactor, redact

KEY = "sk-bench-SECRETKEY-0123456789abcd"
TEXTS = {
    "prose": "plain words of an answer, with no ampersand or percent sign at all. ",
    "code with & and %": 'if (a && b) { x = y % 2; s = "&amp; 50%"; }\n',
}


def stream_seconds(text: str, piece: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        redactor = StreamRedactor(KEY)
        started = time.perf_counter()
        for i in range(0, len(text), piece):
            redactor.feed(text[i:i + piece])
        redactor.flush()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def whole_seconds(text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        redact(text, KEY)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=110_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'text':<20} {'5-char deltas':>14} {'20-char deltas':>15} {'whole text':>11}")
    for name, unit in TEXTS.items():
        text = unit * (args.chars // len(unit))
        print(f"{name:<20} {stream_seconds(text, 5, args.repeat):>12.3f} s "
              f"{stream_seconds(text, 20, args.repeat):>13.3f} s "
              f"{whole_seconds(text, args.repeat):>9.4f} s")


if __name__ == "__main__":
    main()
