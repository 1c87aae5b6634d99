"""What the magics watch in the kernel: the last error and the last figure shown.

``%chat fix``, ``{error}`` and ``--image figure`` read them; the hooks are added once, when the
magics are registered.
"""

from __future__ import annotations

from typing import Any

from IPython.core.formatters import BaseFormatter
from traitlets import ObjectName, Unicode

from ..core.session import session_of


def remember_error(state: Any, result: Any) -> None:
    """A ``post_run_cell`` hook: keep the last exception that is not our own ``UsageError``."""
    from IPython.core.error import UsageError

    from ..core.context import LastError
    from ..errors import CellStopped

    exc = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    if exc is None or isinstance(exc, (UsageError, CellStopped)):
        return
    info = getattr(result, "info", None)
    state.last_error = LastError(getattr(info, "raw_cell", "") or "", exc)


class FiguresShown(BaseFormatter):
    """A display formatter that shows nothing: it notes each matplotlib Figure displayed.

    It goes by the class's module and name, so matplotlib is never imported, and not by the
    formatter's type registry, which the inline backend clears of Figure when it starts. It
    returns None, so no output is added.
    """

    format_type = Unicode("application/x-oai-figure-shown")
    print_method = ObjectName("_repr_oai_figure_shown_")
    watcher: Any = None

    def __call__(self, obj: Any) -> None:
        kind = type(obj)
        if self.watcher is not None and kind.__name__ == "Figure" and kind.__module__ == "matplotlib.figure":
            self.watcher.saw(obj)


def guard_outputs(ipython: Any) -> None:
    """Every output of this kernel is redacted after rendering, as it leaves: display and
    update messages (the publisher's hooks), execute results (the displayhook), and the live
    surface's widget messages (``redact_outbound``). One key source: this shell's settings."""
    from ..redaction import redact_outbound, set_outbound_key

    set_outbound_key(lambda: session_of(ipython).settings.resolved_key())

    def display_hook(msg: Any) -> Any:
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, dict) and "data" in content:
            content["data"] = redact_outbound(content["data"])
        return msg

    publisher = getattr(ipython, "display_pub", None)
    if callable(getattr(publisher, "register_hook", None)):
        publisher.register_hook(display_hook)
    displayhook = getattr(ipython, "displayhook", None)
    write = getattr(displayhook, "write_format_data", None)
    if write is not None and not getattr(write, "_oai_guarded", False):
        def guarded(format_dict: Any, md_dict: Any = None) -> Any:
            return write(redact_outbound(format_dict), md_dict)

        guarded._oai_guarded = True  # type: ignore[attr-defined]
        displayhook.write_format_data = guarded


def watch_the_kernel(ipython: Any) -> None:
    """Hooks that keep the last error and the last figure shown, for %chat fix, {error} and
    --image figure. The figure hook runs before the inline backend closes the cell's figures."""
    from ..core.images import FigureWatcher

    magics = ipython.magics_manager.registry["OAIMagics"]
    watcher = magics.figure_watcher = FigureWatcher()
    ipython.events.callbacks["post_execute"].insert(0, watcher)
    formatters = getattr(getattr(ipython, "display_formatter", None), "formatters", None)
    if formatters is not None:  # the inline backend's plt.show() displays, then closes
        seen = FiguresShown(parent=ipython.display_formatter)
        seen.watcher = watcher
        formatters[seen.format_type] = seen
    ipython.events.register(
        "post_run_cell", lambda result=None: remember_error(session_of(ipython), result))
    ipython.events.register("pre_run_cell", lambda info=None: remember_cell(session_of(ipython), info))
    guard_outputs(ipython)


def remember_cell(state: Any, info: Any) -> None:
    """A ``pre_run_cell`` hook: the id of the cell being run (JupyterLab sends it; a terminal
    and nbclient send none), so a re-run cell's turn replaces its earlier one (issue 24)."""
    state.cell_id = getattr(info, "cell_id", None)
