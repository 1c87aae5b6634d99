"""How the suite is shared between xdist's workers (tests/scheduling.py, issue 26)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.scheduling import (
    BROWSER_GROUP,
    SECONDS_PER_TEST,
    LongestFirstQueue,
    UnitTimes,
    mark_browser_tests,
    unit_of,
)


class Item:
    """What mark_browser_tests reads of a collected test: its fixtures and its marks."""

    def __init__(self, *fixtures: str, group: str = "") -> None:
        self.fixturenames = ["private_log", *fixtures]
        self.marks = [pytest.mark.xdist_group(group).mark] if group else []

    def get_closest_marker(self, name):
        return next((mark for mark in self.marks if mark.name == name), None)

    def add_marker(self, marker):
        self.marks.append(marker.mark)


def test_every_test_using_a_browser_fixture_joins_the_one_browser_group():
    page, lab, chromium, own, plain = (Item("lab", "page", "browser"), Item("lab"), Item("browser"),
                                       Item("page", group="mine"), Item("shell"))
    mark_browser_tests([page, lab, chromium, own, plain])
    for item in (page, lab, chromium):
        assert item.get_closest_marker("xdist_group").args == (BROWSER_GROUP,)
    assert own.get_closest_marker("xdist_group").args == ("mine",)  # a group it names stays
    assert plain.get_closest_marker("xdist_group") is None


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
    times = UnitTimes(SimpleNamespace(cache=cache))
    for name in ("a", "b", "c"):
        times.pytest_runtest_logreport(report(f"tests/t.py::{name}", 10.0))
    times.pytest_sessionfinish(None)
    assert cache["oai_magic/unit_seconds"] == {"tests/t.py": 30.0}

    part = UnitTimes(SimpleNamespace(cache=cache))
    part.pytest_runtest_logreport(report("tests/t.py::a", 1.0))
    part.pytest_runtest_logreport(report("tests/u.py::a@browser", 5.0))
    part.pytest_sessionfinish(None)
    assert cache["oai_magic/unit_seconds"] == {"tests/t.py": 30.0, "browser": 5.0}
