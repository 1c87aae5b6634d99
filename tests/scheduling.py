"""How pytest-xdist shares the suite between its workers: whole files, the longest first.

With ``--dist loadfile`` xdist hands out files in order of their number of tests, so a file of
four browser tests (a minute and more) or the wheel install came last and one worker ran it
alone at the end while the other sat idle. With ``--dist loadgroup``, ``Schedule`` (registered by
tests/conftest.py) gives xdist its own scheduler:

- a unit of work is a test file (its module fixtures start once, as with ``loadfile``), or a
  group: every test marked ``xdist_group(name)`` runs on one worker, whatever its file. Workers
  tell the controller each grouped test through a file (``tell_the_controller``): xdist 3.8 marks
  a group in the test's id, which pytest 9 no longer lets it change. The three browser files are
  one group, ``jupyterlab``, on one worker with one JupyterLab and one Chromium (session
  fixtures). They were once split into plain units, when the group was the run's critical path
  (over 130 s of waiting on paced answers and on lost Shift+Enter presses); with those waits
  gone (issue 26) the group takes about 90 s of a 130 s run, and three JupyterLabs and Chromiums
  cost about 12 CPU-seconds more: the suite is CPU-bound, and grouped it ran 4 s quicker
  (131.5 and 129.8 s against 132.8 and 136.1 s, interleaved, warm);
- units go out longest first (the largest-processing-time rule: the tail is short units), each
  when a worker is down to its last test. A unit's length is what it took in this checkout's
  last run (the pytest cache, ``oai_magic/unit_seconds``), else the estimate in
  ``KNOWN_SECONDS``, else a guess from its number of tests.

``-n 0`` runs everything in one process, in file order; the marks then change nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Dict, Optional

import pytest

CACHE_KEY = "oai_magic/unit_seconds"
GROUPS_KEY = "oai_magic_groups"  # in each worker's workerinput: the folder to write groups in
# Seconds per unit in one run of the whole suite on this 2-core machine (issue 26; three workers,
# CI=true, remeasured once bytecode was cached): only their order matters. A fresh clone (CI)
# has no cache, and ordered by stale figures it took 164 s against 150 s with this run's. Units
# not listed count SECONDS_PER_TEST per test (the median file's); the cache corrects both after
# one run.
KNOWN_SECONDS: Dict[str, float] = {
    "jupyterlab": 100.0,  # the three browser files, grouped
    "tests/test_mcp.py": 46.6,
    "tests/test_notebooks.py": 46.5,
    "tests/test_hostile.py": 43.0,
    "tests/test_hostile_bytes.py": 14.9,
    "tests/test_live.py": 14.7,
    "tests/test_autoload.py": 11.1,
    "tests/test_surface_dom.py": 9.9,
    "tests/test_map.py": 9.2,
    "tests/test_log_kernels.py": 8.9,
    "tests/test_choices.py": 7.7,
    "tests/test_context.py": 6.1,
    "tests/test_template_runs.py": 5.5,
    "tests/test_store_faults.py": 5.0,
    "tests/test_hostile_redaction.py": 4.7,
    "tests/test_panel_tools.py": 4.6,
    "tests/test_one_home.py": 4.5,
    "tests/test_first_five_minutes.py": 3.5,
    "tests/test_api_returns.py": 3.2,
    "tests/test_suite_schedule.py": 3.1,
    "tests/test_practice_if_no_key.py": 2.9,
    "tests/test_architecture.py": 2.7,
    "tests/test_mcp_wiring.py": 2.7,
    "tests/test_api_today.py": 2.5,
}
SECONDS_PER_TEST = 0.15


def group_of(item) -> Optional[str]:
    """The item's ``xdist_group`` name, as xdist reads it."""
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def tell_the_controller(config, items) -> None:
    """In a worker: write which collected tests belong to a group, for the controller's units."""
    folder = getattr(config, "workerinput", {}).get(GROUPS_KEY)
    if folder:
        groups = {item.nodeid: group_of(item) for item in items if group_of(item)}
        (Path(folder) / f"{config.workerinput['workerid']}.json").write_text(json.dumps(groups))


def unit_of(nodeid: str, groups: Optional[Dict[str, str]] = None) -> str:
    """The group of a grouped test (told by the workers, or ``path::name@group``), else its file."""
    if groups and nodeid in groups:
        return groups[nodeid]
    if "@" in nodeid:
        return nodeid.rsplit("@", 1)[-1]
    return nodeid.split("::", 1)[0]


class LongestFirstQueue(OrderedDict):
    """xdist's queue of units; taking the next one (``popitem(last=False)``) gives the longest."""

    def __init__(self, seconds: Dict[str, float]) -> None:
        super().__init__()
        self.seconds = seconds

    def length(self, unit: str) -> float:
        return self.seconds.get(unit, SECONDS_PER_TEST * len(self[unit]))

    def popitem(self, last: bool = True):
        if last:
            return super().popitem(last=True)
        unit = max(self, key=self.length)  # the first of equally long ones
        return unit, self.pop(unit)


class Schedule:
    """The controller's side: the scheduler, the folder where workers say which tests are
    grouped, and each unit's time (setup, call and teardown of its tests) kept in the pytest
    cache for the next run's order. A run of part of a unit (``-k``, one test) leaves its figure
    alone: it is updated only by a run of at least as many of its tests."""

    def __init__(self, config) -> None:
        self.config = config
        self.folder = Path(tempfile.mkdtemp(prefix="oai-magic-groups-"))
        self._groups: Optional[Dict[str, str]] = None
        self.seconds: Dict[str, float] = defaultdict(float)
        self.tests: Dict[str, set] = defaultdict(set)

    def unit(self, nodeid: str) -> str:
        if self._groups is None:  # every worker has written its file before it reports a test
            self._groups = {}
            for told in sorted(self.folder.glob("*.json")):
                self._groups.update(json.loads(told.read_text()))
        return unit_of(nodeid, self._groups)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput[GROUPS_KEY] = str(self.folder)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        return make_scheduler(config, log, self.unit)

    def pytest_runtest_logreport(self, report) -> None:
        unit = self.unit(report.nodeid)
        self.seconds[unit] += report.duration
        self.tests[unit].add(report.nodeid)

    def pytest_sessionfinish(self, session) -> None:
        cache = getattr(self.config, "cache", None)  # None under -p no:cacheprovider
        if cache is None or not self.seconds:
            return
        known = dict(cache.get(CACHE_KEY, {}) or {})
        counts = dict(cache.get(CACHE_KEY + "_tests", {}) or {})
        for unit, total in self.seconds.items():
            if len(self.tests[unit]) >= counts.get(unit, 0):
                known[unit] = round(total, 1)
                counts[unit] = len(self.tests[unit])
        cache.set(CACHE_KEY, known)
        cache.set(CACHE_KEY + "_tests", counts)

    def pytest_unconfigure(self, config) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def make_scheduler(config, log, unit=unit_of):
    """``loadscope`` with files and groups as its scopes, the longest unit handed out first."""
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):
        def __init__(self, config, log=None) -> None:
            super().__init__(config, log)
            cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
            cached = cache.get(CACHE_KEY, {}) if cache is not None else {}
            self.workqueue = LongestFirstQueue({**KNOWN_SECONDS, **(cached or {})})

        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

        def _reschedule(self, node) -> None:
            """The next unit is given when a worker has one test left, not two as in xdist: a
            worker starts a test once it knows the one after, so one left is the latest moment.
            Given while the last-but-one still ran (a 30 s paced browser test), a unit waited
            behind it while the other worker ran out of work."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return LongestFirst(config, log)
