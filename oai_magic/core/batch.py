"""``%%chat --map ITEMS --batch``: the same request bodies sent through OpenAI's Batch API.

A JSONL file of ``/v1/chat/completions`` requests (``custom_id`` = the item's index, no stream
fields) is uploaded with ``POST /v1/files`` (purpose ``batch``) and started with
``POST /v1/batches`` (``completion_window`` 24h). A job over the per-file limits is split into
several batches. ``BatchJob`` follows them; its results come back by ``custom_id`` into the same
``MapResult`` that ``--map`` fills, whatever order the output file has. Partial results of a
cancelled or expired batch are kept, and the items with no line are listed as missing.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import urlsplit

from ..api.limits import LimitReached
from ..errors import APIError, InputError
from ..plain_text import terminal_safe
from ..state import KernelState, redact
from . import durable
from .mapping import ItemResult, MapResult, item_from_completion

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS_PER_FILE = 50_000  # the Batch API's limits per input file
MAX_BYTES_PER_FILE = 200 * 1024 * 1024
TERMINAL = ("completed", "failed", "expired", "cancelled")
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.25, 1.5, 60.0


def batch_lines(payloads: Dict[int, Dict[str, Any]]) -> List[str]:
    """One JSON line per item; ``custom_id`` is its index. Bodies never carry stream fields."""
    lines = []
    for index in sorted(payloads):
        body = {k: v for k, v in payloads[index].items() if k not in ("stream", "stream_options")}
        lines.append(json.dumps({"custom_id": str(index), "method": "POST", "url": ENDPOINT,
                                 "body": body}, ensure_ascii=False))
    return lines


def split_files(lines: List[str], max_requests: int = MAX_REQUESTS_PER_FILE,
                max_bytes: int = MAX_BYTES_PER_FILE) -> List[bytes]:
    """Lines grouped into files within both limits, in order."""
    files: List[bytes] = []
    current: List[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8") + b"\n"
        if len(data) > max_bytes:
            raise InputError(f"one batch request is {len(data):,} bytes, over the Batch API's "
                             f"{max_bytes:,} bytes per file")
        if current and (len(current) >= max_requests or size + len(data) > max_bytes):
            files.append(b"".join(current))
            current, size = [], 0
        current.append(data)
        size += len(data)
    if current:
        files.append(b"".join(current))
    return files


class BatchJob:
    """One ``--batch`` job: one or more Batch API batches over the items of one MapResult."""

    def __init__(self, client: Any, ids: List[str], count: int, *, model: Optional[str] = None,
                 index: Optional[List[Any]] = None, organization: Optional[str] = None,
                 project: Optional[str] = None, prices: Optional[Dict[str, Any]] = None,
                 ledger: Any = None) -> None:
        self._client = client
        self.ids = list(ids)
        self.count = count
        self.model = model
        self.index = index
        self.organization, self.project = organization, project
        self.batches: Dict[str, Dict[str, Any]] = {}
        # Priced at the batch price (costs.estimate_cost, tier "batch"); each answered item's
        # usage reaches the session's ledger once, however often the results are fetched.
        self.prices = dict(prices or {})
        self._ledger = ledger
        self._counted: set = set()

    def __repr__(self) -> str:
        counts = self.request_counts
        more = f" (+{len(self.ids) - 1} more)" if len(self.ids) > 1 else ""
        return terminal_safe(f"<BatchJob {self.id}{more}"
                f" {self.status}: {counts['completed']}/{counts['total']} done, "
                f"{counts['failed']} failed>")

    @property
    def id(self) -> str:
        return self.ids[0]

    def _target(self) -> Dict[str, Any]:
        return {"organization": self.organization, "project": self.project}

    @property
    def status(self) -> str:
        states = [b.get("status", "validating") for b in self.batches.values()] or ["validating"]
        if len(set(states)) == 1:
            return states[0]
        if any(s not in TERMINAL for s in states):
            return "in_progress"
        return "completed" if "completed" in states else states[0]

    @property
    def done(self) -> bool:
        return len(self.batches) == len(self.ids) and self.status in TERMINAL

    @property
    def request_counts(self) -> Dict[str, int]:
        """Counts the server reports, each an integer within one file's limit (else 0): a
        ``total`` of 10**9 must not size a result list (CONTRACTS 10)."""
        totals = {"total": 0, "completed": 0, "failed": 0}
        for b in self.batches.values():
            counts = b.get("request_counts")
            for name in totals:
                value = counts.get(name) if isinstance(counts, dict) else None
                if type(value) is int and 0 <= value <= MAX_REQUESTS_PER_FILE:
                    totals[name] += value
        return totals

    def refresh(self) -> BatchJob:
        for batch_id in self.ids:
            data = self._client.get(f"/batches/{batch_id}", **self._target()).data
            if not isinstance(data, dict):
                raise InputError(f"%chat batch: the server's answer for {batch_id} "
                                 f"is not a batch object (a JSON {type(data).__name__})")
            self.batches[batch_id] = data
        return self

    def cancel(self) -> BatchJob:
        for batch_id in self.ids:
            if self.batches.get(batch_id, {}).get("status") not in TERMINAL:
                self.batches[batch_id] = self._client.post(
                    f"/batches/{batch_id}/cancel", **self._target()).data
        return self

    def wait(self, on_poll: Callable[[BatchJob], None] = lambda job: None,
             sleep: Callable[[float], None] = time.sleep) -> BatchJob:
        """Poll with back-off until every batch has ended; Ctrl-C ends the wait, not the job."""
        delay = POLL_FIRST
        while True:
            self.refresh()
            on_poll(self)
            if self.done:
                return self
            sleep(delay)
            delay = min(POLL_MAX, delay * POLL_FACTOR)

    def results(self) -> MapResult:
        """Download the output and error files and map each line back by ``custom_id``."""
        if len(self.batches) < len(self.ids):
            self.refresh()
        key = self._client.settings.resolved_key()
        # A job rebuilt from its id knows its size from the server's counts; when they were
        # unusable (0), the files say it, within the Batch API's limit per file.
        limit = self.count or MAX_REQUESTS_PER_FILE * len(self.ids)
        items: Dict[int, ItemResult] = {}
        notices: List[str] = []
        cut_short: Optional[str] = None
        for batch in self.batches.values():
            for field in ("output_file_id", "error_file_id"):
                file_id = batch.get(field)
                if file_id and isinstance(file_id, str):
                    cut = self._read_file(f"{field[:-3]} {file_id}", file_id, key, limit, items,
                                          notices)
                    cut_short = cut_short or cut
        count = self.count or (max(items) + 1 if items else 0)
        result = MapResult(count, model=self.model, index=self.index, prices=self.prices,
                           tier="batch")
        result.notices = notices
        for index, item in items.items():
            result.results[index] = item
        self._account(result)
        if self.status != "completed" or result.missing:
            result.stopped = self.status in ("cancelled", "expired", "failed")
            result.stop_reason = f"batch {self.status}" if result.stopped else None
        if cut_short:  # a limit ended a file: the items after it are missing, and this says why
            result.stop_reason = "; ".join(filter(None, [result.stop_reason, cut_short]))
        return result

    def _read_file(self, name: str, file_id: str, key: Optional[str], limit: int,
                   items: Dict[int, ItemResult], notices: List[str]) -> Optional[str]:
        """Put each line of one output or error file into ``items``, line by line (the file is
        never held whole). A limit (``OAIMagics.max_batch_file_*``) ends it and is returned; a
        file that cannot be read, or lines that name no item, are a notice: the good lines stay."""
        bad = 0
        try:
            for line in self._client.download_lines(f"/files/{file_id}/content", **self._target()):
                if line.strip():
                    item = result_line(line, key, limit)
                    if item is None:
                        bad += 1
                    else:
                        items[item.index] = item
        except LimitReached as exc:
            return f"{file_id}: {exc}"
        except APIError as error:  # a 404 on the error file costs the output file nothing
            notices.append(redact(f"{name} could not be read: {error}", key))
        finally:
            if bad:
                notices.append(f"{bad} line{'s' if bad != 1 else ''} of {name} could not be read "
                               "(not JSON, or no item of this job)")
        return None

    def _account(self, result: MapResult) -> None:
        """Each answered item's usage and batch price into the session's ledger, once."""
        if self._ledger is None:
            return
        for item in result.results:
            if item is not None and item.usage and item.index not in self._counted:
                self._counted.add(item.index)
                self._ledger.record(item.usage, item.model or self.model, "--batch",
                                    result.item_cost(item))


_CANONICAL_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def custom_index(custom_id: Any, count: int) -> Optional[int]:
    """The item a ``custom_id`` names: a canonical decimal index below ``count`` (we wrote it
    as ``str(index)``); ``1.9``, ``true``, ``" 2 "`` or ``01`` name no item."""
    if not isinstance(custom_id, str) or not _CANONICAL_INDEX.fullmatch(custom_id):
        return None
    index = int(custom_id)
    return index if index < count else None


def result_line(line: str, key: Optional[str], count: int) -> Optional[ItemResult]:
    """One line of an output or error file as the item it answers (None if unreadable).

    A line whose ``custom_id`` is good but whose ``response`` is not an object is that item's
    error: one bad part never costs the other lines (nor this item's reason)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    index = custom_index(record.get("custom_id"), count)
    if index is None:
        return None
    response = record.get("response")
    if response is not None and not isinstance(response, dict):
        return ItemResult(index, error="the batch line's response is not an object")
    response = response or {}
    body = response.get("body")
    status = response.get("status_code")
    if record.get("error"):
        error = record["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return ItemResult(index, error=redact(str(message), key))
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        request_id = response.get("request_id")
        return ItemResult(index, error=redact(f"HTTP {status}: {message or 'no answer'}", key),
                          request_id=redact(request_id, key) if isinstance(request_id, str) else None)
    item = item_from_completion(index, body, key)
    request_id = response.get("request_id")
    item.request_id = redact(request_id, key) if isinstance(request_id, str) else None
    return item


def submit(state: KernelState, client: Any, payloads: Dict[int, Dict[str, Any]], count: int,
           options: Any, *, model: Optional[str] = None, index: Optional[List[Any]] = None,
           max_requests: int = MAX_REQUESTS_PER_FILE, max_bytes: int = MAX_BYTES_PER_FILE) -> BatchJob:
    """Upload the items' requests and start one batch per file; kept in ``state.batches``."""
    target = {"organization": options.organization, "project": options.project}
    ids = []
    files = split_files(batch_lines(payloads), max_requests, max_bytes)
    for number, data in enumerate(files):
        upload = client.post("/files", data={"purpose": "batch"},
                             files={"file": (f"oai_magic_map_{number}.jsonl", data,
                                             "application/jsonl")}, **target)
        created = client.post("/batches", json_body={
            "input_file_id": upload.data["id"], "endpoint": ENDPOINT, "completion_window": "24h"},
            **target)
        ids.append(created.data["id"])
    from .costs import ledger_of

    job = BatchJob(client, ids, count, model=model, index=index, prices=state.prices,
                   ledger=ledger_of(state), **target)
    job.refresh()
    with state.lock:
        state.batches[job.id] = job
    log_batch(state, job)
    return job


def submitted_line(job: BatchJob, out: Optional[str]) -> str:
    parts = f"{len(job.ids)} batches" if len(job.ids) > 1 else "batch"
    kept = f" (in {out})" if out else ""
    return (f"Sent {job.request_counts['total'] or job.count} requests as {parts} {job.id}{kept}, "
            f"status {job.status}. Results within 24 h: %chat batch wait, then "
            f"%chat batch results {job.id}")


def job_for(state: KernelState, client: Any, batch_id: Optional[str]) -> BatchJob:
    """The job of this session named by id (the last one when none is given), or one rebuilt
    from the id alone after a kernel restart."""
    if batch_id is None:
        if not state.batches:
            job = logged_batch(state, client)  # this notebook's last, from before a restart
            if job is None:
                raise InputError("%chat batch: no batch in this session or in this notebook's "
                                 "log; give its id (%chat batch status batch_...)")
            return job
        return list(state.batches.values())[-1]
    for job in state.batches.values():
        if batch_id in job.ids:
            return job
    from .costs import ledger_of

    job = BatchJob(client, [batch_id], 0, prices=state.prices, ledger=ledger_of(state))
    job.refresh()
    job.count = job.request_counts["total"]
    with state.lock:
        state.batches[batch_id] = job
    return job


def log_batch(state: Any, job: Any) -> None:
    """A batch job as sent, so ``%chat batch status`` finds it after a restart."""
    with contextlib.suppress(Exception):
        durable.log_of(state).log_batch(job.ids, job.count, model=job.model,
                                server_host=urlsplit(state.settings.resolved_base_url()).hostname,
                                organization=job.organization, project=job.project,
                                labels=job.index, status=job.status)


def logged_batch(state: Any, client: Any) -> Any:
    """This notebook's last batch job, rebuilt from the log (None: the log has none)."""
    try:
        found = durable.log_of(state).last_batch()
    except Exception:
        return None
    if not found:
        return None
    from .costs import ledger_of

    job = BatchJob(client, found["batch_ids"], found["count"], model=found["model"],
                   index=found["labels"], organization=found["organization"],
                   project=found["project"], prices=state.prices, ledger=ledger_of(state))
    job.refresh()
    with state.lock:
        state.batches[job.id] = job
    return job

