"""The chat panel follows the kernel state: a turn recorded elsewhere, a ``%chat`` command,
a setting changed by ``%oai``.

A recorded turn announces its messages (``core/turn.record_exchange``), so they are appended
as they are; a command redraws the conversation from its history. Nothing is compared.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

import ipywidgets as widgets

from ...render.chrome import rate_limits_left
from ...state import content_text
from .chat_view import message_widgets


class FollowsState:
    """The part of ``ChatPanel`` that keeps its transcript, selector and fields in step."""

    state: Any
    conversation: str
    transcript: Any
    _lock: Any
    _busy: bool
    _stale: bool
    _thread: Optional[threading.Thread]
    _regenerate_buttons: list
    answer_actions: Any

    def _on_state_event(self, event: str, info: Any) -> None:
        if event in ("settings", "model"):
            self._show_settings()
        elif event == "conversation":
            self._refresh_selector()
            if threading.current_thread() is self._thread:
                return  # our own answer: _finish_answer knows what its turn recorded
            with self._lock:
                self._follow(info)
        elif event == "response" and not self._busy:
            self._set_status([rate_limits_left(self.state.last_headers)])

    def _follow(self, info: Any) -> None:
        """Follow a change made elsewhere: a recorded turn is appended, a command redraws."""
        ours = info.get("name") == self.conversation
        recorded = info.get("recorded")
        if self._busy:
            self._stale = self._stale or (ours and info.get("command") != "system")
            if ours:
                self._show_system()
        elif recorded is not None and not info.get("new"):
            if ours:
                added = [self._drawn(m) for m in recorded]
                self.transcript.children = (*self.transcript.children, *added)
                self._show_system()
        elif info.get("command") == "system":
            self._show_system()
        else:
            self._show_conversation()

    def _show_conversation(self, drop_last_turn: bool = False) -> None:
        """Draw the transcript from the Session's conversation (never from a copy of ours);
        ``drop_last_turn``: without the last prompt and its answer (Regenerate asks it again)."""
        with self._lock:
            self._stale = False
            self._close_children(self.transcript)
            with self.state.lock:
                thread = self.state.conversations.get(self.conversation)
                messages = list(thread.messages) if thread else []
            if drop_last_turn:
                users = [i for i, m in enumerate(messages) if m.role == "user"]
                messages = messages[:users[-1]] if users else messages
            self._regenerate_buttons = []
            self.transcript.children = tuple(self._drawn(m) for m in messages)
            self._show_system()

    def _drawn(self, message: Any) -> Any:
        """A recorded message as a box; an answer with its row of actions under it."""
        shown = message_widgets(message)
        if message.role == "assistant" and not message.tool_calls:
            shown.append(self.answer_actions(content_text(message.content)))
        return widgets.VBox(shown)

    def _show_system(self) -> None:
        thread = self.state.conversations.get(self.conversation)
        with self._sync():
            self.system.value = (thread.system if thread else None) or ""

    def _refresh_selector(self) -> None:
        names = sorted(set(self.state.conversations) | {self.conversation})
        with self._sync():
            if tuple(self.selector.options) != tuple(names):
                self.selector.options = names
            self.selector.value = self.conversation

    def _show_settings(self) -> None:
        settings = self.state.settings
        with self._sync():
            if settings.model != getattr(self, "_session_model", settings.model):
                self.model.value = settings.model  # the model picker follows %oai model
            self._session_model = settings.model
            for field, env, widget in (("organization", "OPENAI_ORG_ID", self.organization),
                                       ("project", "OPENAI_PROJECT_ID", self.project)):
                widget.value = getattr(settings, field) or ""
                fallback = getattr(settings, f"resolved_{field}")()
                widget.placeholder = f"{fallback} (from {env})" if fallback else "the key's default"
