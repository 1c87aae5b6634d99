"""How the suite is shared between xdist's workers (tests/scheduling.py, issue 26)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tests.scheduling import (
    SECONDS_PER_TEST,
    LongestFirstQueue,
    Schedule,
    unit_of,
)


def test_units_are_files_or_groups():
    assert unit_of("tests/test_x.py::test_a[1-b]") == "tests/test_x.py"
    assert unit_of("tests/test_x.py::Case::test_a") == "tests/test_x.py"
    assert unit_of("tests/test_e2e_browser.py::test_a@browser") == "browser"


def test_the_longest_unit_is_handed_out_first_and_unknown_ones_by_their_number_of_tests():
    queue = LongestFirstQueue({"tests/slow.py": 60.0, "browser": 90.0})
    queue["tests/many.py"] = {f"tests/many.py::t{i}": False for i in range(int(70 / SECONDS_PER_TEST))}
    queue["tests/slow.py"] = {"tests/slow.py::t": False}
    queue["tests/quick.py"] = {"tests/quick.py::t": False}
    queue["browser"] = {"tests/a.py::t@browser": False, "tests/b.py::t@browser": False}
    taken = [queue.popitem(last=False)[0] for _ in range(4)]
    assert taken == ["browser", "tests/many.py", "tests/slow.py", "tests/quick.py"]
    assert not queue


class Cache(dict):
    def get(self, key, default):
        return super().get(key, default)

    def set(self, key, value):
        self[key] = value


def report(nodeid: str, seconds: float):
    return SimpleNamespace(nodeid=nodeid, duration=seconds)


def test_a_run_of_part_of_a_file_keeps_the_whole_files_time_for_the_next_order():
    cache = Cache()
    times = Schedule(SimpleNamespace(cache=cache))
    for name in ("a", "b", "c"):
        times.pytest_runtest_logreport(report(f"tests/t.py::{name}", 10.0))
    times.pytest_sessionfinish(None)
    assert cache["oai_magic/unit_seconds"] == {"tests/t.py": 30.0}

    part = Schedule(SimpleNamespace(cache=cache))
    part.pytest_runtest_logreport(report("tests/t.py::a", 1.0))
    part.pytest_runtest_logreport(report("tests/u.py::a@browser", 5.0))
    part.pytest_sessionfinish(None)
    assert cache["oai_magic/unit_seconds"] == {"tests/t.py": 30.0, "browser": 5.0}
    for schedule in (times, part):
        schedule.pytest_unconfigure(None)


CONFTEST = """
import os, pytest
from tests import scheduling

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):  # as tests/conftest.py does
    scheduling.tell_the_controller(config, items)

def pytest_configure(config):
    if not hasattr(config, "workerinput") and config.option.dist == "loadgroup":
        config.pluginmanager.register(scheduling.Schedule(config), "oai-magic-schedule")

@pytest.fixture
def page(request):
    with open("ran.txt", "a") as ran:
        ran.write(request.node.name + " " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_under_two_workers_each_file_and_each_group_runs_on_one_worker(tmp_path):
    """A real ``pytest -n 2 --dist loadgroup`` of a few files: the tests of a browser file share
    a worker (its JupyterLab starts once there), two browser files may run side by side, a group
    spanning two files stays on one worker, and the units' times are kept."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("one", "two"):
        (tmp_path / f"test_browser_{name}.py").write_text(
            f"def test_{name}_a(page):\n    pass\n\ndef test_{name}_b(page):\n    pass\n")
        (tmp_path / f"test_grouped_{name}.py").write_text(
            "import pytest\n\n@pytest.mark.xdist_group('shared')\n"
            f"def test_grouped_{name}(page):\n    pass\n")
    for index in range(4):
        (tmp_path / f"test_plain_{index}.py").write_text(
            "".join(f"def test_{index}_{n}():\n    pass\n" for n in range(5)))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup"],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = dict(line.split() for line in (tmp_path / "ran.txt").read_text().splitlines())
    assert len(ran) == 6, ran
    for first, second in (("one_a", "one_b"), ("two_a", "two_b"), ("grouped_one", "grouped_two")):
        assert ran[f"test_{first}"] == ran[f"test_{second}"], ran
    kept = json.loads((tmp_path / ".pytest_cache" / "v" / "oai_magic" / "unit_seconds").read_text())
    assert set(kept) == {"shared", "test_browser_one.py", "test_browser_two.py",
                         *(f"test_plain_{index}.py" for index in range(4))}
