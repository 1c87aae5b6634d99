"""What a page shows for a live surface: the operations of surface.js, applied in Python.

Tests and benchmarks drive LiveMarkdown into this model instead of a browser, and compare the
visible HTML with the final block at every step. Open blocks keep their HTML as a string, as
the ES module does (its length counted in UTF-16 units, like JavaScript's).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


class PageRegion:
    def __init__(self) -> None:
        self.blocks: List[str] = []
        self.open = ""  # as UTF-16 bytes would be awkward; kept as str, sliced by UTF-16 units
        self.html: Optional[str] = None  # set by "h"
        self.element = ""  # the element an "r" operation made it from
        self.children: List[PageRegion] = []  # regions made inside it, in order

    def visible(self) -> str:
        """Its content, then each region made inside it (as surface.js appends them)."""
        shown = self.html if self.html is not None else "".join(self.blocks) + self.open
        for child in self.children:
            end = child.element.rfind("</")
            end = len(child.element) if end < 0 else end
            shown += child.element[:end] + child.visible() + child.element[end:]
        return shown


class PageModel:
    """A LiveSurface stand-in: records operations and what the page would show."""

    def __init__(self, clock: Any = None) -> None:
        self.regions: Dict[str, PageRegion] = {}
        self.messages = 0
        self.ops: List[List[Any]] = []
        self.clock = clock
        self.draw_times: List[float] = []
        self.final: Optional[tuple] = None
        self._queued: List[List[Any]] = []

    def region(self, name: str) -> PageRegion:
        return self.regions.setdefault(name, PageRegion())

    def add_region(self, region: str, html: str = "<div></div>", *, parent: str = "") -> None:
        self._queued.append(["r", region, parent, html])

    def append_block(self, region: str, html: str) -> None:
        self._queued.append(["b", region, html])

    def patch_open(self, region: str, keep: int, html: str) -> None:
        self._queued.append(["o", region, keep, html])

    def seal(self, region: str) -> None:
        self._queued.append(["s", region])

    def set_html(self, region: str, html: str) -> None:
        self._queued.append(["h", region, html])

    def flush(self) -> None:
        if not self._queued:
            return
        self.messages += 1
        for op in self._queued:
            self.apply(op)
        self.ops += self._queued
        self._queued = []
        if self.clock is not None:
            self.draw_times.append(self.clock.now)

    def apply(self, op: List[Any]) -> None:
        kind, region = op[0], self.region(op[1])
        if kind == "r":
            region.element = op[3]
            if op[2]:
                self.region(op[2]).children.append(region)
        elif kind == "b":
            region.blocks.append(op[2])
        elif kind == "o":
            kept = _utf16(region.open)[: 2 * op[2]].decode("utf-16-le", "surrogatepass")
            assert len(_utf16(kept)) == 2 * op[2], "keep beyond the open block"
            region.open = kept + op[3]
        elif kind == "s":
            region.blocks.append(region.open)
            region.open = ""
        elif kind == "h":
            region.html = op[2]

    def finish(self, html: str, text: str) -> None:
        self.final = (html, text)

    def visible(self, region: str = "a") -> str:
        return self.region(region).visible()


class WidgetFrontend:
    """What a widget frontend would hold, from the comm messages alone: every model's state,
    and for each live surface (by model id) a PageModel fed its custom messages."""

    def __init__(self) -> None:
        self.models: Dict[str, Dict[str, Any]] = {}
        self.opened: Dict[str, Dict[str, Any]] = {}
        self.pages: Dict[str, PageModel] = {}
        self.closed: List[str] = []
        self.bytes = 0
        self.received = 0  # comm messages, of every kind
        self.on_custom: Any = None  # called with each live-surface message's content
        self.last_open: Dict[str, str] = {}  # per model: the region a bare string appends to
        self.customs: Dict[str, List[Any]] = {}  # every custom message's content, per model

    def custom_to(self, model_id: str) -> List[Any]:
        """The custom messages a widget was sent, in order."""
        return self.customs.get(model_id, [])

    def visible_anywhere(self) -> str:
        """Everything every live surface shows (joined)."""
        return "".join(r.visible() for page in self.pages.values() for r in page.regions.values())

    def receive(self, comm_id: str, msg_type: str, data: Any) -> None:
        import json

        data = data or {}
        self.received += 1
        self.bytes += len(json.dumps(data.get("state") or data.get("content") or {},
                                     ensure_ascii=False, default=str).encode("utf-8"))
        if msg_type == "comm_open":
            self.models[comm_id] = dict(data["state"])
            self.opened[comm_id] = dict(data["state"])  # as created (closing empties a live surface)
            if "regions" in data["state"]:
                page = self.pages[comm_id] = PageModel()
                for region, _parent, html in data["state"]["regions"]:
                    page.region(region).html = None
                    page.region(region).blocks.append("") if not html else None
        elif msg_type == "comm_msg" and data.get("method") == "update":
            self.models[comm_id].update(data["state"])
        elif msg_type == "comm_msg" and data.get("method") == "custom":
            content = data["content"]
            self.customs.setdefault(comm_id, []).append(content)
            if "regions" not in self.opened.get(comm_id, {"regions": []}):
                return  # not a live surface (a recorder): its messages are only kept
            page = self.pages.setdefault(comm_id, PageModel())
            if isinstance(content, str):  # the shortest form: append to the block patched last
                ops = [["o", self.last_open[comm_id], None, content]]
            else:
                ops = content["x"] if "x" in content else [["o", k, None, v] for k, v in content.items()]
            for op in ops:
                if op[0] == "o":
                    self.last_open[comm_id] = op[1]
                if op[0] == "o" and op[2] is None:  # the short form: append to the open block
                    op = ["o", op[1], len(_utf16(page.region(op[1]).open)) // 2, op[3]]
                if op[0] == "r":
                    page.apply(op) if op[2] else page.region(op[1])
                    continue
                page.apply(op)
                page.ops.append(op)
            if self.on_custom is not None:
                self.on_custom(content)
        elif msg_type == "comm_close":
            self.closed.append(comm_id)

    def comm_class(self) -> type:
        """A Comm class whose every message this frontend receives: patch ``comm.create_comm``
        to make these, and widgets talk to this frontend instead of a kernel's."""
        from comm.base_comm import BaseComm

        frontend = self

        class FrontendComm(BaseComm):
            def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
                frontend.receive(self.comm_id, msg_type, data)

        return FrontendComm

    def children(self, model_id: str) -> List[str]:
        return [c.replace("IPY_MODEL_", "") for c in self.models[model_id].get("children", [])]

    def text_under(self, model_id: str) -> str:
        """All HTML values below a model, in display order (a live surface: what it shows)."""
        if model_id in self.pages:
            page = self.pages[model_id]
            return "".join(r.visible() for r in page.regions.values())
        model = self.models[model_id]
        if "children" in model:
            return "".join(self.text_under(c) for c in self.children(model_id))
        return model.get("value", "")
