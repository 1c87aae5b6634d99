"""A DisplayPublisher that records what would be sent to the frontend, for display tests.

Swap it in on a real shell (``shell.display_pub = RecordingPublisher(shell=shell)``) and
everything ``IPython.display`` sends is kept in ``messages``, with its size in bytes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from IPython.core.displaypub import DisplayPublisher


class RecordingPublisher(DisplayPublisher):
    """Records display / update / clear messages as dicts, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: List[Dict[str, Any]] = []

    def publish(  # type: ignore[override]
        self,
        data: Dict[str, Any],
        metadata: Optional[Dict[str, Any]] = None,
        source: Any = None,
        *,
        transient: Optional[Dict[str, Any]] = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        self._validate_data(data, metadata)
        self.messages.append(
            {
                "kind": "update" if update else "display",
                "data": dict(data),
                "metadata": dict(metadata or {}),
                "display_id": (transient or {}).get("display_id"),
                "nbytes": sum(len(str(v).encode("utf-8")) for v in data.values()),
            }
        )

    def clear_output(self, wait: bool = False) -> None:
        self.messages.append({"kind": "clear", "data": {}, "display_id": None, "nbytes": 0, "wait": wait})

    @property
    def total_bytes(self) -> int:
        return sum(m["nbytes"] for m in self.messages)

    def kinds(self) -> List[str]:
        return [m["kind"] for m in self.messages]

    def reset(self) -> None:
        self.messages.clear()


class Notebook:
    """Cells run as a notebook frontend receives them: rich display, every message recorded.

    ``with Notebook(shell) as publisher: run(shell, cell)``; plain display again afterwards.
    """

    def __init__(self, shell: Any) -> None:
        self.shell, self.magics = shell, shell.magics_manager.registry["OAIMagics"]
        self.saved = shell.display_pub
        self.publisher = RecordingPublisher(shell=shell)

    def __enter__(self) -> RecordingPublisher:
        self.shell.display_pub = self.publisher
        self.magics.display_mode = "rich"
        return self.publisher

    def __exit__(self, *exc: Any) -> None:
        self.shell.display_pub = self.saved
        self.magics.display_mode = "plain"
