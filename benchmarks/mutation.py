"""A small mutation run over the stream and request code: do the tests notice a wrong line?

Each mutant changes one thing in one module (a comparison, a boundary constant by one, ``and``
for ``or``, a dropped ``not``, a return value, the text of an error, a whole statement), the
module's fast tests run against it, and the file is put back byte-exact (and with its old
modification time) in a ``finally``. A mutant is *killed* when a test fails or times out.

    .venv/bin/python benchmarks/mutation.py              # all three modules
    .venv/bin/python benchmarks/mutation.py sse --list   # only list one module's mutants

Standard library only; not part of CI (a full run takes a few minutes). Mutants that cannot be
told apart from the original by any test are listed in ``EQUIVALENT`` with the reason, and
reported as such when they survive.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "oai_magic" / "api"

# module -> the fast test files that cover it (real sockets, no browser).
TARGETS: Dict[str, Tuple[Path, List[str]]] = {
    "sse": (API / "sse.py", ["tests/test_sse_framing.py", "tests/test_stream_decoding.py",
                             "tests/test_client.py"]),
    "accumulator": (API / "accumulator.py", ["tests/test_chunk_folding.py",
                                             "tests/test_stream_decoding.py",
                                             "tests/test_client.py"]),
    "request": (API / "request.py", ["tests/test_request_checks.py"]),
}

# (module, the mutated line's code, mutation) -> why no test can tell the mutant from the
# original. Keyed by the code rather than the line number, so edits above it do not unhook it.
EQUIVALENT: Dict[Tuple[str, str, str], str] = {
    ("accumulator", "return ''", "return ... -> return None"):
        "the pass-through flush: None and '' are both 'nothing held back' to every caller",
    ("accumulator", "if len(self.content_parts) > 1:", "> -> >="):
        "joining a list of one piece gives that piece",
    ("accumulator", "if len(self.content_parts) > 1:", "1 -> 0"):
        "joining a list of one piece gives that piece",
    ("accumulator", "return self.content_parts[0] if self.content_parts else ''", "0 -> -1"):
        "the parts were just joined into one, so the first is the last",
}

TIMEOUT_SECONDS = 120
COMPARE_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                 ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
                 ast.Is: ast.IsNot, ast.IsNot: ast.Is}
SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
DELETABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise, ast.If,
             ast.For, ast.While, ast.With, ast.Try, ast.Continue, ast.Break)


@dataclass
class Mutant:
    node: int  # position of the node in ``ast.walk`` order
    kind: str
    line: int
    description: str
    value: object = None
    code: str = ""  # the mutated line, as ``ast.unparse`` writes it (for ``EQUIVALENT``)


def _is_docstring(node: ast.AST, parents: Dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    body = getattr(parent, "body", None)
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str) and bool(body) and body[0] is node
            and isinstance(parent, (ast.Module, ast.ClassDef, ast.FunctionDef)))


def _parents(tree: ast.AST) -> Dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _inside(node: ast.AST, parents: Dict[int, ast.AST], test) -> bool:
    while id(node) in parents:
        node = parents[id(node)]
        if test(node):
            return True
    return False


def _error_call(node: ast.AST) -> bool:
    """A call that builds an exception: ``APIError(...)``, ``MalformedChunk(...)``..."""
    if not isinstance(node, ast.Call):
        return False
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
    return name.endswith(("Error", "Chunk", "Exception"))


def find_mutants(tree: ast.Module) -> List[Mutant]:
    parents = _parents(tree)
    in_spec = {id(n) for spec in ast.walk(tree) if isinstance(spec, ast.FormattedValue)
               and spec.format_spec is not None for n in ast.walk(spec.format_spec)}
    found: List[Mutant] = []
    for i, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                other = COMPARE_SWAPS.get(type(op))
                if other is not None:
                    found.append(Mutant(i, "compare", line, f"{SYMBOLS[type(op)]} -> "
                                        f"{SYMBOLS[other]}", (k, other)))
        elif isinstance(node, ast.BoolOp):
            flip = "or" if isinstance(node.op, ast.And) else "and"
            found.append(Mutant(i, "boolop", line, f"{'and' if flip == 'or' else 'or'} -> {flip}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            found.append(Mutant(i, "not", line, "not x -> x"))
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            found.append(Mutant(i, "return", line, "return ... -> return None"))
        elif isinstance(node, ast.Constant) and id(node) not in in_spec:
            value = node.value
            if isinstance(value, bool):
                found.append(Mutant(i, "constant", line, f"{value} -> {not value}", not value))
            elif isinstance(value, (int, float)):
                for step in (1, -1):
                    found.append(Mutant(i, "constant", line, f"{value!r} -> {value + step!r}",
                                        value + step))
            elif isinstance(value, str) and value and _inside(node, parents, _error_call):
                found.append(Mutant(i, "constant", line, f"{value[:30]!r} -> 'XX'", "XX"))
        if isinstance(node, DELETABLE) and not _is_docstring(node, parents) and isinstance(
                parents.get(id(node)), (ast.FunctionDef, ast.If, ast.For, ast.While, ast.With,
                                        ast.Try, ast.ExceptHandler)):
            found.append(Mutant(i, "delete", line, f"delete {type(node).__name__.lower()} "
                                f"statement"))
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    for mutant in found:
        # The innermost statement on the mutant's line, compound ones by their header.
        here = [n for n in statements if n.lineno == mutant.line]
        if here:
            mutant.code = ast.unparse(here[-1]).splitlines()[0]
    return sorted(found, key=lambda mutant: mutant.line)


def apply(tree: ast.Module, mutant: Mutant) -> ast.Module:
    tree = copy.deepcopy(tree)
    parents = _parents(tree)
    node = list(ast.walk(tree))[mutant.node]
    if mutant.kind == "compare":
        k, op = mutant.value
        node.ops[k] = op()
    elif mutant.kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif mutant.kind == "constant":
        node.value = mutant.value
    elif mutant.kind == "return":
        node.value = ast.Constant(None)
    elif mutant.kind in ("not", "delete"):
        replacement = node.operand if mutant.kind == "not" else ast.Pass()
        parent = parents[id(node)]
        for field, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, field, replacement)
            elif isinstance(value, list) and any(v is node for v in value):
                value[[v is node for v in value].index(True)] = replacement
    return ast.fix_missing_locations(tree)


def run_tests(tests: List[str]) -> Tuple[bool, float]:
    """True when the tests fail (the mutant is killed). A timeout kills it too."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        code = process.wait(TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True, time.monotonic() - started
    return code != 0, time.monotonic() - started


def mutate_module(name: str, list_only: bool = False) -> Iterator[Tuple[Mutant, Optional[bool]]]:
    path, tests = TARGETS[name]
    original = path.read_bytes()
    stat = path.stat()
    tree = ast.parse(original)
    for mutant in find_mutants(tree):
        if list_only:
            yield mutant, None
            continue
        try:
            path.write_text(ast.unparse(apply(tree, mutant)), encoding="utf-8")
            killed, _ = run_tests(tests)
        finally:
            path.write_bytes(original)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        yield mutant, killed


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args(argv)
    names = args.modules or list(TARGETS)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; choose from {', '.join(TARGETS)}")
    for name in [] if args.list else names:  # the tests must pass before judging any mutant
        failed, _ = run_tests(TARGETS[name][1])
        if failed:
            print(f"{name}: the tests fail without any mutant; fix them first", file=sys.stderr)
            return 2
    totals = [0, 0, 0]  # mutants, killed, equivalent survivors
    for name in names:
        count = killed = equivalent = 0
        survivors = []
        started = time.monotonic()
        for mutant, dead in mutate_module(name, args.list):
            count += 1
            if args.list:
                print(f"{name}.py:{mutant.line}: {mutant.description}    | {mutant.code}")
                continue
            if dead:
                killed += 1
            else:
                why = EQUIVALENT.get((name, mutant.code, mutant.description))
                equivalent += why is not None
                survivors.append(f"  survived {name}.py:{mutant.line}: {mutant.description}"
                                 + (f"  (equivalent: {why})" if why else ""))
            if sys.stderr.isatty():
                print(f"\r{name}: {count} mutants, {killed} killed", end="", file=sys.stderr,
                      flush=True)
        if args.list:
            continue
        if sys.stderr.isatty():
            print(file=sys.stderr)
        share = 100.0 * killed / count if count else 100.0
        print(f"{name}.py: {count} mutants, {killed} killed, {count - killed} survived "
              f"({equivalent} equivalent): {share:.1f}% killed "
              f"in {time.monotonic() - started:.0f} s")
        for line in survivors:
            print(line)
        totals = [totals[0] + count, totals[1] + killed, totals[2] + equivalent]
    if not args.list and totals[0]:
        count, killed, equivalent = totals
        print(f"all: {count} mutants, {killed} killed ({100.0 * killed / count:.1f}%); "
              f"counting the {equivalent} equivalent survivors as killed: "
              f"{100.0 * (killed + equivalent) / count:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
