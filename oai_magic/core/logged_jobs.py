"""``--map`` items in the log (issue 24): found again after a crash or a restart.

A ``--map`` job logs each item as it finishes, and ``--resume`` when OUT is gone sends only the
items the log lacks. (Batch jobs are logged by ``core/batch.py`` itself.)
"""

from __future__ import annotations

from typing import Any, List, Optional

from .durable import log_of


def map_fingerprint(template: str, model: Optional[str], system: Optional[str],
                    elements: List[Any]) -> str:
    """What a ``--map`` job asks, as one id: the same cell over the same items, the same id."""
    from ..store import fingerprint

    return fingerprint(template, model, system, [_shown(element) for element in elements])


def _shown(element: Any) -> str:
    """An item as the fingerprint sees it: a user object whose repr fails is left to the
    plan, which says so in one line."""
    try:
        return repr(element)
    except Exception:
        return f"<{type(element).__name__}>"


def log_map_items(state: Any, plan: Any, target: str, asked: str) -> None:
    """Each item of ``plan`` is logged as it finishes (``--resume`` after a crash reads them)."""
    try:
        log = log_of(state)
        job = log.start_map(target, asked, len(plan.result), model=plan.model,
                            cell_id=getattr(state, "cell_id", None))
    except Exception:
        return
    if job is not None:
        plan.on_item = lambda item: log.record_map_item(job, item.to_dict())


def logged_map_result(state: Any, target: str, asked: str, listed: Any) -> Any:
    """``--resume`` when OUT is gone (a crash, a restart): the MapResult of the same job's
    finished items, from the log; only the rest is sent."""
    from ..errors import InputError
    from .mapping import ItemResult, MapResult

    done = log_of(state).finished_map_items(target, asked)
    if not done:
        raise InputError(f"--resume: {target} does not exist, and the log has no finished item of "
                         "this job (the same cell over the same items): run without --resume.")
    result = MapResult(len(listed.elements), index=listed.index,
                       series_factory=listed.series_factory)
    for index, item in done.items():
        if 0 <= index < len(result):
            result.results[index] = ItemResult.from_dict(item)
    result.model = next((r.model for r in result if r is not None and r.model), None)
    return result
