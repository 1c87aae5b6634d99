"""Under each answer in the panel: Copy, Insert as cell, Regenerate (issue 30).

- Copy puts the answer's Markdown source on the clipboard (the message box's module writes it:
  only the page can reach the clipboard).
- Insert as cell makes the answer's last code block a new cell below the notebook's active cell,
  through JupyterLab's own commands reached with ``ipylab`` (the ``lab`` extra). IPython's
  ``set_next_input`` cannot serve a button: its payload rides on an execute reply. Without
  ipylab only Copy shows.
- Regenerate sends the conversation's last prompt again and replaces the last answer by the
  rule of cell-owned turns (issue 24): every panel turn is owned by a ``panel:`` id, as a cell's
  turn by its cell id, and the new turn takes the owner of the one it replaces.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, List, Optional

import ipywidgets as widgets

from ...errors import InputError
from ...plain_text import last_code_block
from ...state import content_text

NOT_REGENERABLE = ("Regenerate replaces the last answer of this conversation, and only while "
                   "it is still the last turn (a command since, or a turn with no owner, ends that).")


def lab_frontend() -> Any:
    """ipylab's handle on JupyterLab's commands, or None without ipylab."""
    try:
        from ipylab import JupyterFrontEnd
    except ImportError:
        return None
    return JupyterFrontEnd()


def panel_turn_id() -> str:
    """The owner id of one panel turn (what a cell id is to a ``%%chat`` turn)."""
    return f"panel:{uuid.uuid4().hex[:12]}"


class AnswerActions:
    """The part of ``ChatPanel`` that puts a row of buttons under each answer."""

    state: Any
    conversation: str
    input: Any
    _busy: bool
    _lab: Any = None
    _guarded: Callable[[Callable[[], Any]], bool]
    _show_error: Callable[[str], None]
    _regenerate_buttons: List[Any]

    def answer_actions(self, text: str) -> Any:
        """The row under an answer whose Markdown source is ``text``."""
        copy = widgets.Button(description="Copy", icon="copy", layout=widgets.Layout(width="auto"),
                              tooltip="Copy the answer's Markdown")
        copy.on_click(lambda _: self.copy_answer(text))
        buttons = [copy]
        if self._lab is not None and last_code_block(text) is not None:
            insert = widgets.Button(description="Insert as cell", icon="plus-square",
                                    layout=widgets.Layout(width="auto"),
                                    tooltip="The last code block becomes a new cell below the active cell")
            insert.on_click(lambda _: self._guarded(lambda: self.insert_as_cell(text)))
            buttons.append(insert)
        regenerate = widgets.Button(description="Regenerate", icon="redo",
                                    layout=widgets.Layout(width="auto"),
                                    tooltip="Ask again: the new answer replaces this one")
        regenerate.on_click(lambda _: self._guarded(self.regenerate))
        for earlier in self._regenerate_buttons:  # only the last answer can be replaced
            earlier.layout.display = "none"
        self._regenerate_buttons = [regenerate]
        buttons.append(regenerate)
        row = widgets.HBox(buttons)
        row.add_class("oai-answer-actions")
        return row

    def copy_answer(self, text: str) -> None:
        self.input.send({"copy": text})

    def insert_as_cell(self, text: str) -> None:
        """The last code block of ``text`` as a new code cell below the active cell."""
        code = last_code_block(text)
        if code is None:
            raise InputError("This answer has no code block to insert.")
        if self._lab is None:
            raise InputError("Insert as cell needs ipylab (pip install 'oai-magic[lab]').")
        self._lab.commands.execute("notebook:insert-cell-below")
        self._lab.commands.execute("notebook:replace-selection", {"text": code})

    _start: Callable[..., None]
    _show_conversation: Callable[[], None]
    _lock: Any

    def regenerate(self) -> None:
        """Ask the conversation's last prompt again; the new answer replaces the last one."""
        if self._busy:
            raise InputError("This panel is still answering: Stop it or wait for the answer.")
        with self.state.lock:
            owner = self.state.__dict__.get("cell_turns", {}).get(self.conversation)
            thread = self.state.conversations.get(self.conversation)
            prompt = _last_prompt(thread.messages if thread else [])
        if owner is None or prompt is None:
            raise InputError(NOT_REGENERABLE)
        with self._lock:
            self._show_conversation(drop_last_turn=True)
            text = prompt if isinstance(prompt, str) else content_text(prompt)
            self._start(text, prompt, None, owner=owner[0])


def _last_prompt(messages: List[Any]) -> Optional[Any]:
    """The content of the last user message (the prompt of the last turn)."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return None
