"""The log over 10,000 turns: listing, search and resume times, and what writing a turn costs.

    python benchmarks/bench_log.py [--turns 10000] [--repeat 20]

Builds a log in a temporary folder (20 notebooks; prompts and answers in English, German,
Russian, Chinese and Japanese), then prints, side by side, the median and slowest of
``--repeat`` runs for ``%chat log`` (recent turns), ``%chat search`` (full-text with trigrams,
and LIKE for two-character words), resume and today's spend; the issue asks for at most
100 ms. Then the cost of writing one turn (start, five flushes while it streams, commit,
usage), in WAL mode and with a rollback journal, and of a streaming update that is not due.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, List

from oai_magic.history import Message
from oai_magic.store import Log

TEXTS = [
    "The gradient descent step size decides how far each update moves the weights. ",
    "Die Fehlerfunktion wird mit jedem Schritt kleiner, bis das Minimum erreicht ist. ",
    "Градиентный спуск ищет минимум функции потерь шаг за шагом. ",
    "机器学习是人工智能的一个分支，它让计算机从数据中学习。",
    "東京は日本の首都で、人口が最も多い都市です。",
]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def fill(path: Path, turns: int) -> None:
    rng = random.Random(24)
    clock = Clock()
    logs = [Log(path, notebook=f"notebook-{n}.ipynb", kernel=f"k{n}", clock=clock) for n in range(20)]
    for n in range(turns):
        log = logs[n % len(logs)]
        prompt = f"question {n}: " + "".join(rng.choice(TEXTS) for _ in range(rng.randint(1, 4)))
        answer = "".join(rng.choice(TEXTS) for _ in range(rng.randint(3, 20)))
        turn = log.start_turn(f"conversation-{n % 3}", [Message("user", prompt)], model="gpt-4o-mini")
        turn.commit([Message("assistant", answer)], usage={"prompt_tokens": 50, "completion_tokens": 200},
                    cost_usd=0.0001)
        log.record_usage({"prompt_tokens": 50, "completion_tokens": 200}, "gpt-4o-mini",
                         f"conversation-{n % 3}", 0.0001, turn=turn)
    for log in logs:
        log.close()


def timed(action: Callable[[], object], repeat: int) -> List[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def write_cost(path: Path, turns: int, connect=sqlite3.connect) -> float:
    """Milliseconds per turn: start, five answer flushes, commit, a usage row."""
    clock = Clock()
    log = Log(path, notebook="writer.ipynb", clock=clock, connect=connect)
    log.spent_today()  # opened before the clock starts
    start = time.perf_counter()
    for n in range(turns):
        turn = log.start_turn("default", [Message("user", f"question {n} " + TEXTS[n % 5])])
        text = ""
        for piece in range(5):
            text += TEXTS[(n + piece) % 5]
            clock.t += 1.0
            turn.update_answer(text)
        turn.commit([Message("assistant", text)], usage={"prompt_tokens": 9}, cost_usd=0.0001)
        log.record_usage({"prompt_tokens": 9}, "m", "default", 0.0001, turn=turn)
    elapsed = (time.perf_counter() - start) * 1000 / turns
    assert log.problem is None, log.problem
    log.close()
    return elapsed


def no_locks(name, **kwargs):
    """SQLite's unix-none VFS refuses WAL: the log falls back to a rollback journal."""
    return sqlite3.connect(f"file:{name}?vfs=unix-none", uri=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        start = time.perf_counter()
        fill(path, args.turns)
        size = sum(p.stat().st_size for p in Path(tmp).glob("history.db*"))
        print(f"built a log of {args.turns:,} turns in {time.perf_counter() - start:.1f} s "
              f"({size / 1e6:.1f} MB)\n")
        started = time.perf_counter()
        log = Log(path, notebook="notebook-3.ipynb", kernel="bench")
        log.spent_today()
        print(f"opening the log (first call of a kernel): {(time.perf_counter() - started) * 1000:.1f} ms"
              f"; full-text index: {'FTS5 trigram' if log.full_text else 'none (LIKE)'}\n")
        cases = [
            ("%chat log (this notebook, 20)", lambda: log.recent(20)),
            ("%chat log --all (20)", lambda: log.recent(20, all_notebooks=True)),
            ("%chat log -c NAME (20)", lambda: log.recent(20, conversation="conversation-1")),
            ("search 'gradient descent' (common)", lambda: log.search("gradient descent")),
            ("search 'question 9876:' (one turn)", lambda: log.search("question 9876:")),
            ("search '人工智能' (Chinese)", lambda: log.search("人工智能")),
            ("search '首都' (2 chars: LIKE)", lambda: log.search("首都")),
            ("search 'nowhere to be found'", lambda: log.search("nowhere to be found")),
            ("search 'zq' (2 chars, no match: LIKE)", lambda: log.search("zq")),
            ("search '首都' in this notebook", lambda: log.search("首都", all_notebooks=False)),
            ("search 'descent' in this notebook", lambda: log.search("descent", all_notebooks=False)),
            ("resume (this notebook)", lambda: log.rebuild()),
            ("today's spend", lambda: log.spent_today()),
        ]
        print(f"{'operation':40} {'median ms':>10} {'slowest ms':>11}  ≤ 100 ms")
        for name, action in cases:
            times = timed(action, args.repeat)
            slowest = max(times)
            print(f"{name:40} {statistics.median(times):10.2f} {slowest:11.2f}  "
                  f"{'yes' if slowest <= 100 else 'NO'}")
        log.close()
        print()
        wal = write_cost(Path(tmp) / "wal.db", 300)
        rollback = write_cost(Path(tmp) / "rollback.db", 300, connect=no_locks)
        print(f"{'writing one turn (start, 5 flushes, commit, usage)':52} {'WAL':>8} {'rollback':>9}")
        print(f"{'  ms per turn':52} {wal:8.2f} {rollback:9.2f}")
        clock = Clock()
        quiet = Log(Path(tmp) / "quiet.db", notebook="q", clock=clock)
        turn = quiet.start_turn("default", [Message("user", "q")])
        text = "an answer so far " * 100
        start = time.perf_counter()
        for _ in range(100_000):
            turn.update_answer(text)  # never due: the clock stands still
        per_call = (time.perf_counter() - start) * 1e9 / 100_000
        print(f"a streaming update that is not due (the per-token path): {per_call:.0f} ns")


if __name__ == "__main__":
    main()
