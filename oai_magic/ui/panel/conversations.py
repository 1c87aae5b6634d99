"""The panel's conversation picker, its fields that write the session, and Resume.

Every switch redraws the transcript from the Session's conversation (``_show_conversation``),
never from a copy the panel keeps. After a kernel restart, ``%chat_panel`` offers Resume when
this notebook has conversations in the log (issue 24 point 9): the button calls
``Session.resume``, and the redraw follows from the session's "conversation" event.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets

from ...errors import InputError
from .chat_view import note_html


class PicksConversations:
    """The part of ``ChatPanel`` that switches, starts and resumes conversations."""

    state: Any
    conversation: str
    _busy: bool
    _lock: Any
    _syncing: bool
    _guarded: Callable[[Callable[[], Any]], bool]
    _refresh_selector: Callable[[], None]
    _show_conversation: Callable[[], None]

    def select(self, name: str) -> None:
        """Show conversation ``name`` (created on its first message)."""
        if name == self.conversation:
            return
        if self._busy:
            raise InputError("Stop the answer (or wait for it) before switching conversations.")
        with self._lock:
            self.conversation = name
        self._refresh_selector()
        self._show_conversation()

    def new_conversation(self) -> str:
        """Start a new, empty conversation (``chat-1``, ``chat-2``…) and switch to it."""
        if self._busy:
            raise InputError("Stop the answer (or wait for it) before starting a conversation.")
        with self.state.lock:
            number = 1
            while f"chat-{number}" in self.state.conversations:
                number += 1
            name = f"chat-{number}"
            self.state.conversation(name)
        self.select(name)
        self.state.notify("conversation", {"name": name, "command": "new"})
        return name

    def resume(self) -> int:
        """Bring this notebook's logged conversations back (``%chat resume``); how many."""
        if self._busy:
            raise InputError("Stop the answer (or wait for it) before resuming.")
        found = self.state.resume()
        self.resume_bar.layout.display = "none"
        self._refresh_selector()
        self._show_conversation()
        return len(found)

    def _offer_resume(self) -> None:
        """A new kernel whose notebook has saved conversations: say so, with Resume."""
        from ...core.durable import saved_conversation_count

        with self.state.lock:
            fresh = not any(t.messages for t in self.state.conversations.values())
        count = saved_conversation_count(self.state) if fresh else 0  # a kernel that has them
        self.resume_button = widgets.Button(description="Resume", icon="history",
                                            button_style="info", layout=widgets.Layout(width="auto"),
                                            tooltip="Bring back this notebook's conversations "
                                                    "from the log (%chat resume)")
        self.resume_button.on_click(lambda _: self._guarded(self.resume))
        s = "s" if count != 1 else ""
        note = widgets.HTML(note_html(f"This notebook has {count} saved conversation{s} in the log."))
        self.resume_bar = widgets.HBox([note, self.resume_button],
                                       layout=widgets.Layout(display=None if count else "none",
                                                             align_items="center"))

    def _on_select(self, change: Any) -> None:
        if self._syncing or not change["new"]:
            return
        if not self._guarded(lambda: self.select(change["new"])):
            self._refresh_selector()

    def _on_system(self, change: Any) -> None:
        if self._syncing:
            return
        with self.state.lock:
            self.state.conversation(self.conversation).system = change["new"].strip() or None
        self.state.notify("conversation", {"name": self.conversation, "command": "system"})

    def _on_setting(self, name: str, change: Any) -> None:
        if self._syncing:
            return
        value = change["new"].strip() or None
        if getattr(self.state.settings, name) != value:
            self.state.configure(**{name: value})  # the magics' trait follows
