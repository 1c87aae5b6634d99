"""The panel docked beside the notebook through ``sidecar`` (the ``lab`` extra; issue 30).

One docked panel per conversation and session: opening it again shows the same panel and
focuses its area (a second view of a Sidecar activates the first one). The cell that opened it
shows one line. Without sidecar the panel shows in the cell with one line saying why; in a
frontend without the sidecar extension (Notebook 7, VS Code) the page never reports the panel
as shown docked, and after ``panel_dock_wait_s`` it shows in the cell instead, with that line.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional

import ipywidgets as widgets

from .chat_view import note_html

NO_SIDECAR = ("sidecar is not installed, so the panel shows here "
              "(pip install 'oai-magic[lab]' docks it beside the notebook)")
NO_DOCK = ("this frontend did not dock the panel (it needs JupyterLab with the sidecar "
           "extension), so it shows here")


def docked_panels(state: Any) -> Dict[str, Any]:
    """The session's docked panels by conversation (kept on the session, not on a class)."""
    return state.docked_panels


def docked_panel(state: Any, conversation: str) -> Optional[Any]:
    """The panel docked for ``conversation`` that is still open, if any."""
    panel = docked_panels(state).get(conversation)
    return panel if panel is not None and panel.dock is not None and panel.dock.open else None


class Dock:
    """Where a docked panel lives: the Sidecar area and the cell's one-line slot."""

    def __init__(self, panel: Any) -> None:
        from sidecar import Sidecar

        self.panel = panel
        self.open = True
        self.shown_docked = threading.Event()
        self.fell_back = threading.Event()  # shown in the cell instead
        self.sidecar = Sidecar(title=f"Chat: {panel.conversation}", anchor="split-right")
        self.sidecar.append_display_data(panel.widget)
        self.note = widgets.HTML(note_html(f"The chat panel for '{panel.conversation}' is docked "
                                           "beside the notebook."))
        self.slot = widgets.VBox([self.note])  # the first cell's line (the panel, if not docked)
        self._shown_once = False
        docked_panels(panel.state)[panel.conversation] = panel
        wait_s = panel.state.settings.panel_dock_wait_s
        threading.Thread(target=self._fall_back_unless_shown, args=(wait_s,), daemon=True,
                         name="oai-chat-panel-dock").start()

    def cell_view(self) -> Any:
        """What the cell that asked shows: the line; asked again, the line and a second view of
        the Sidecar, which hides itself and activates the docked area (sidecar's own focus)."""
        if not self._shown_once:
            self._shown_once = True
            return self.slot
        return widgets.VBox([self.note, self.sidecar])

    def on_shown(self, docked: bool) -> None:
        if docked:
            self.shown_docked.set()

    def on_gone(self) -> None:
        """The user closed the docked area: the next ``%chat_panel --side`` docks a new one."""
        self.open = False
        self.shown_docked.set()  # its waiting thread ends now
        panels = docked_panels(self.panel.state)
        if panels.get(self.panel.conversation) is self.panel:
            del panels[self.panel.conversation]

    def _fall_back_unless_shown(self, wait_s: float) -> None:
        if self.shown_docked.wait(wait_s) or not self.open:
            return  # shown docked, or closed meanwhile
        self.note.value = note_html(NO_DOCK)
        self.slot.children = (self.note, self.panel.widget)
        self.on_gone()
        self.fell_back.set()


def dock(panel: Any) -> Optional[Dock]:
    """Dock ``panel``; None (and one line in its status) when sidecar is not installed."""
    try:
        import sidecar  # noqa: F401
    except ImportError:
        panel._set_status([NO_SIDECAR])
        return None
    return Dock(panel)
