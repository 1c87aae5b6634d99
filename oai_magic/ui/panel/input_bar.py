"""The panel's message box: an anywidget, because ipywidgets' Textarea gives the kernel no key
events (issue 30). Enter sends, Shift+Enter makes a new line, Up recalls the last prompt, Esc
stops; the module (``input.js``) also keeps the transcript following the answer and says so in
the panel when the kernel restarted. The panel's CSS travels with it (``panel.css``).

``value`` stays a synced trait, so code and tests use ``panel.input.value`` as before.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict

RESTART_NOTICE = ("The kernel restarted: run %chat_panel to continue; your conversations are "
                  "in the log.")


@lru_cache(maxsize=1)
def _input_class() -> Any:
    import anywidget
    import traitlets

    here = Path(__file__).parent

    class PanelInput(anywidget.AnyWidget):
        """The box and its keys; messages from the page go to the panel's handlers."""

        _esm = (here / "input.js").read_text(encoding="utf-8")
        _css = (here / "panel.css").read_text(encoding="utf-8")
        value = traitlets.Unicode("").tag(sync=True)
        placeholder = traitlets.Unicode("Message (Markdown)").tag(sync=True)
        disabled = traitlets.Bool(False).tag(sync=True)
        busy = traitlets.Bool(False).tag(sync=True)  # Enter does not send while an answer streams
        last_prompt = traitlets.Unicode("").tag(sync=True)  # what Up recalls
        restart_notice = traitlets.Unicode(RESTART_NOTICE).tag(sync=True)

    return PanelInput


def message_box(handlers: Dict[str, Callable[[Dict[str, Any]], None]]) -> Any:
    """A new message box whose page messages (``{"kind": ...}``) call ``handlers[kind]``."""
    box = _input_class()()

    def received(_widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") in handlers:
            handlers[content["kind"]](content)

    box.on_msg(received)
    return box


class TakesInput:
    """The part of ``ChatPanel`` that takes what the box and the Send button send."""

    input: Any
    dock: Any
    send: Callable[[str], None]
    _guarded: Callable[[Callable[[], Any]], bool]

    def _on_send_click(self) -> None:
        text = self.input.value
        if self._guarded(lambda: self.send(text)):
            self.input.value = ""

    def _on_enter(self, message: Dict[str, Any]) -> None:
        """Enter in the box: the text comes with the key, so nothing typed is lost to a race."""
        text = str(message.get("text") or "")
        if not self._guarded(lambda: self.send(text)):
            self.input.value = text  # the page emptied the box: the text goes back

    def _on_shown(self, message: Dict[str, Any]) -> None:
        if self.dock is not None:
            if message.get("gone"):
                self.dock.on_gone()
            else:
                self.dock.on_shown(bool(message.get("docked")))

