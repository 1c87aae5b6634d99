"""The one live surface: a single widget per cell, updated by small append-only messages.

JupyterLab shows at most 50 outputs per cell, and replacing an output re-sends all of it, so
neither "one output per piece" nor "re-render the answer" keeps a long answer moving on
screen. Here each streaming cell (or the panel's transcript) holds ONE anywidget whose ES
module (``surface.js``) owns the answer's DOM. The kernel sends operations on named regions
(notices, reasoning, columns, tool cards, the answer): append a finished block, patch the open
block (its HTML keeps a prefix and gains a suffix), seal it, replace a small region. Every
HTML string comes from our renderer (raw HTML off, text escaped); the module only inserts it.

``finish`` replaces the widget's output, through its display handle, with one static HTML
block plus ``text/plain`` and closes the widget, so saved notebooks hold no widget state and
frontends without widgets (nbclient, nbconvert, ``jupyter console``, classic Notebook without
ipywidgets) show the placeholder line while streaming and then the final block.

anywidget and ipywidgets are imported when the first surface is made, never at load time.
"""

from __future__ import annotations

import json
import threading
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..redaction import redact_outbound

PLACEHOLDER = "answer streaming…"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@lru_cache(maxsize=1)
def _widget_class() -> Any:
    import anywidget
    import traitlets

    class LiveSurfaceWidget(anywidget.AnyWidget):
        """The front-end half of :class:`LiveSurface`; its state is only the module and an id."""

        _esm = (Path(__file__).with_name("surface.js")).read_text(encoding="utf-8")
        uid = traitlets.Unicode("").tag(sync=True)
        # The regions known at creation travel with the widget's state, so they exist before
        # the module can receive its first message.
        regions = traitlets.List([]).tag(sync=True)

    return LiveSurfaceWidget


def js_length(text: str) -> int:
    """Length in UTF-16 code units: what JavaScript's ``String.length`` and ``slice`` count."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2  # in C: called on every draw


class LiveSurface:
    """One widget in one output; operations are queued per draw and sent by :meth:`flush`.

    ``regions`` is the layout created at once (e.g. notices above the answer), as
    ``(region id, parent id, element HTML)`` triples. ``display_now=False`` with ``on_finish``
    puts the widget inside another (the chat panel) instead of a cell output.
    """

    def __init__(self, regions: Optional[List[tuple]] = None, *, placeholder: str = PLACEHOLDER,
                 display_now: bool = True, on_finish: Optional[Callable[[str, str], None]] = None) -> None:
        self.widget = _widget_class()(uid=uuid.uuid4().hex,
                                      regions=[list(r) for r in regions or []])
        self.placeholder = placeholder
        self.stats: Dict[str, int] = {"messages": 0, "bytes": 0}
        self._ops: List[List[Any]] = []
        self._lock = threading.RLock()
        self._closed = False
        self._open_lengths: Dict[str, int] = {}  # each open block's length as the page has it
        self._last_open = ""  # the region the page patched last: a bare string appends to it
        self.handle: Any = None
        self.on_finish = on_finish  # where the final block goes when not in a cell output (the panel)
        if display_now:
            self.show()

    # --- the output -----------------------------------------------------------------------

    def bundle(self) -> Dict[str, Any]:
        """The widget's MIME bundle, with a one-line text for frontends that cannot show it."""
        from .markdown import escape_html

        return {
            WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
            "text/plain": self.placeholder,
            "text/html": f'<div class="oai-placeholder" style="opacity:0.6">'
                          f"{escape_html(self.placeholder)}</div>",
        }

    def show(self) -> None:
        from IPython.display import display

        self.flush()
        self.handle = display(self.bundle(), raw=True, display_id=True)

    # --- operations -----------------------------------------------------------------------

    def add_region(self, region: str, html: str = "<div></div>", *, parent: str = "") -> None:
        self._queue(["r", region, parent, html])

    def append_block(self, region: str, html: str) -> None:
        if html:
            self._queue(["b", region, html])

    def patch_open(self, region: str, keep: int, html: str) -> None:
        """The open block's HTML keeps its first ``keep`` UTF-16 units and gains ``html``."""
        self._queue(["o", region, keep, html])

    def seal(self, region: str) -> None:
        self._queue(["s", region])

    def set_html(self, region: str, html: str) -> None:
        self._queue(["h", region, html])

    def _queue(self, op: List[Any]) -> None:
        with self._lock:
            self._ops.append(op)

    def flush(self) -> None:
        """Send the queued operations as one message, the common draw in a short form.

        Drawing once a frame, a draw often carries one token: its framing must be small for
        the bytes to stay within the budget. Text appended to the open block the page patched
        last is sent as a bare JSON string (2 bytes of framing); to another region's open block
        as ``{region: html}``; anything else as ``{"x": [operations]}`` (see surface.js).
        """
        with self._lock:
            ops, self._ops = self._ops, []
            if not ops or self._closed:
                return
            message, size = self._framed(ops)
            self._account(ops)
            self.stats["messages"] += 1
            self.stats["bytes"] += size
            LiveSurface._last_message_bytes = size
            self.widget.send(redact_outbound(message))

    # The size of the last live message this kernel sent, whatever its surface: see _framed.
    _last_message_bytes = 0

    def _framed(self, ops: List[List[Any]]) -> Tuple[Any, int]:
        """The message for ``ops`` and its size: the shortest form whose size differs from the
        last message's.

        Jupyter's server writes kernel messages to the page's socket with Nagle's algorithm on
        (Tornado's default), so a message waits in the server until the page's TCP has
        acknowledged the one before; and Linux delays its ACK of a segment exactly as long as
        the segment before it (no "push" is noted for it). A stream of same-sized draws (a
        list of same-length words: one token, one message) then lost 20-40 ms every few
        tokens (issue 26). Every form below means the same to the page; the next one in the
        list differs in size from the first, so two messages in a row never have one size.
        """
        forms: List[Any] = [{"x": ops}, {"x": ops, "_": 0}]  # surface.js ignores "_"
        if len(ops) == 1 and ops[0][0] == "o" and ops[0][2] == self._open_length(ops[0][1]):
            region, html = ops[0][1], ops[0][3]
            forms = ([html] if region == self._last_open and html else []) + [{region: html}, {"x": ops}]
        for form in forms:
            size = len(json.dumps(form, ensure_ascii=False).encode("utf-8"))
            if size != LiveSurface._last_message_bytes:
                break
        return form, size

    def _open_length(self, region: str) -> int:
        return self._open_lengths.get(region, 0)

    def _account(self, ops: List[List[Any]]) -> None:
        lengths = self._open_lengths
        for op in ops:
            if op[0] == "o":
                lengths[op[1]] = op[2] + js_length(op[3])
                self._last_open = op[1]
            elif op[0] in ("s", "h"):
                lengths[op[1]] = 0

    # --- the end ----------------------------------------------------------------------------

    def finish(self, html: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> None:
        """Replace the widget with one static block (HTML and plain text), then close it;
        ``metadata`` goes with that block into the saved notebook (provenance, issue 24)."""
        with self._lock:
            self._ops = []
            bundle = redact_outbound({"text/html": html, "text/plain": text})
            html, text = bundle["text/html"], bundle["text/plain"]
            if self.on_finish is not None:
                self.on_finish(html, text)
            elif self.handle is not None:
                self.handle.update(bundle, raw=True, metadata=metadata)
            else:
                from IPython.display import display

                display(bundle, raw=True, metadata=metadata)
            self.stats["bytes"] += len(html.encode("utf-8")) + len(text.encode("utf-8"))
            self.close()

    def withdraw(self, html: str = "", text: str = "") -> None:
        """Nothing arrived: take the widget away (the cell holds only its answer), leaving at
        most ``html`` (notices); the cell's one error line follows it."""
        with self._lock:
            self._ops = []
            if self.on_finish is not None:
                self.on_finish(html, text)
            elif self.handle is not None:
                from IPython.display import clear_output, display

                clear_output()
                if html:
                    display({"text/html": html, "text/plain": text}, raw=True)
            self.close()

    def close(self) -> None:
        """Close the widget's comm: no widget state is left in a saved notebook."""
        with self._lock:
            if not self._closed:
                self._closed = True
                layout = getattr(self.widget, "layout", None)  # a DOMWidget's own child model
                # nbclient (nbconvert --execute) saves the last state of every widget it saw, open
                # or closed: empty ours first, so a saved notebook carries no module or layout.
                with self.widget.hold_sync():
                    self.widget.regions = []
                    self.widget._esm = ""
                self.widget.close()
                if layout is not None:
                    layout.close()


class Throttle:
    """At most one draw per ``interval`` of an injected clock (the first is always due): the
    pacing of ``--map``'s progress bar. Live answers, reasoning and tool cards draw within a
    frame instead (``frames.FramePacer``)."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval, self.clock = interval, clock
        self.last: Optional[float] = None

    def due(self, *, force: bool = False) -> bool:
        """Read the clock once; True (and the draw counted now) if a draw may happen."""
        now = self.clock()
        if not force and self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        return True
