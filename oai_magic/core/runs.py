"""A run: a use case that has not started yet, and the events it yields once it does.

Like llm's ``Response``, a run is lazy: nothing is sent until it is iterated, played into a view
or asked for its ``result()``. The use case itself is a function of one view (``work(view)``):
it tells that view what happens and returns its result. The run hands it an ``EventSink``, so
whatever consumes the run sees the same typed events:

- ``for event in run`` (a script): the work runs in a helper thread and its events come through
  a queue, so a script can stop reading at any point. Ctrl-C while reading stops the run (it is
  recorded as partial) and is raised again.
- ``run.play(view)`` (the magics, the panel): the work runs in the calling thread and each event
  is sent to the view as it happens, so Ctrl-C, ``input()`` and the kernel's tools behave as
  they do in any cell.
- ``run.result()``: plays the run into no view (or finishes the iteration) and returns the result.
- ``async for event in run`` and ``await run``: the same, for asyncio code (the work runs in a
  helper thread; the event loop is never blocked).

A run records itself once, when it ends, whichever way it ends (the use case does that; see
``core/turn.py``). A run left half-read is stopped and waited for when the next run starts on
its conversation (``Session``), so its partial answer is recorded before the next turn.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, AsyncIterator, Callable, Iterator, Optional

from .events import Event, EventSink, View
from .results import Cancellation

Work = Callable[[View], Any]
_END = object()


class Run:
    """One use case, run at most once: iterate it, ``play(view)`` it, or ask ``result()``."""

    def __init__(self, work: Work, cancellation: Optional[Cancellation] = None,
                 on_start: Optional[Callable[[Run], None]] = None) -> None:
        self._work = work
        self.cancellation = cancellation or Cancellation()
        self._on_start = on_start
        self._started = False
        self._finished = threading.Event()
        self._result: Any = None
        self._failure: Optional[BaseException] = None
        self._queue: Optional[queue.Queue] = None
        self._thread: Optional[threading.Thread] = None

    # --- the three ways to consume a run ------------------------------------------------

    def play(self, view: Optional[View] = None) -> Any:
        """Run in this thread, each event sent to ``view`` as it happens; returns the result."""
        self._start()
        target = view or View()

        def emit(event: Event) -> None:
            event.send_to(target)

        try:
            self._result = self._work(EventSink(emit))
            return self._result
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            self._finished.set()

    def __iter__(self) -> Iterator[Event]:
        if self._queue is None:
            if self._started:  # played already: there is no stream left to read
                raise RuntimeError("this run was played already: ask run.result() for its result")
            self._queue = queue.Queue()
            self._start()
            self._thread = threading.Thread(target=self._work_in_thread, name="oai-run", daemon=True)
            self._thread.start()
        while True:
            try:
                event = self._queue.get()
            except KeyboardInterrupt:
                self.stop()
                raise
            if event is _END:
                self._queue.put(_END)  # a second loop over a finished run ends at once too
                if self._failure is not None:
                    raise self._failure
                return
            yield event

    def result(self) -> Any:
        """Drive the run to its end (quietly, when nobody reads its events) and return what it
        made; the use case's error (nothing arrived, a refused option) is raised here."""
        if not self._started:
            self.play()
        elif self._queue is not None:
            for _ in self:
                pass
        else:
            self._finished.wait()
        if self._failure is not None:
            raise self._failure
        return self._result

    async def _events_async(self) -> AsyncIterator[Event]:
        events = iter(self)
        try:
            while True:
                event = await asyncio.to_thread(next, events, _END)
                if event is _END:
                    return
                yield event
        except asyncio.CancelledError:
            await asyncio.to_thread(self.stop)
            raise

    def __aiter__(self) -> AsyncIterator[Event]:
        """``async for event in run``: the same events, read without blocking the event loop
        (a cancelled task stops the run, which is recorded as partial)."""
        return self._events_async()

    def __await__(self) -> Any:
        """``await run``: the result, driven in a worker thread."""
        return asyncio.to_thread(self.result).__await__()

    def stop(self) -> None:
        """End the run early: what arrived is kept and recorded as partial (CONTRACTS 1, 2)."""
        self.cancellation.cancel()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def read_by_a_loop(self) -> bool:
        """Started by iterating it: a reader may have walked away from it mid-stream (a played
        run is driven to its end by the thread that plays it)."""
        return self._queue is not None

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def __repr__(self) -> str:
        state = "finished" if self.finished else ("running" if self._started else "not started")
        return f"<Run {state}>"

    # --- inside ---------------------------------------------------------------------------

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("this run has started already: iterate it once, or call result()")
        self._started = True
        if self._on_start is not None:
            self._on_start(self)

    def _work_in_thread(self) -> None:
        assert self._queue is not None

        def emit(event: Event) -> None:
            self._queue.put(event)

        try:
            self._result = self._work(EventSink(emit))
        except BaseException as exc:  # handed to the reader, raised in its thread
            self._failure = exc
        finally:
            self._finished.set()
            self._queue.put(_END)
