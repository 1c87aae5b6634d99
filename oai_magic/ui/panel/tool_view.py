"""The panel's tool calls: each call a card (the notebook's card, ``tool_cards.LiveCard`` while it
streams, then ``card_html``) with Approve and Deny buttons while the turn's thread waits.

The panel answers in a thread, which cannot ask ``[y/N]`` on stdin: ``ToolApproval.confirm`` is
the ``confirm`` of ``chat_setup.with_tools`` instead. It shows the buttons on the card of the call
about to run and waits on a ``threading.Event``: Approve runs the call, Deny sends the model the
same refusal as the ``[y/N]`` "no", and Stop (or the kernel shutting down) ends the turn as
an interrupt, so the unrun calls are recorded as "Not run" and the partial exchange is kept.

Names and arguments come from the model and the MCP server: escaped (``card_html``), bidi shown
(``call_preview``), inert to MathJax and redacted here.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any, Callable, Dict, List, Optional

import ipywidgets as widgets

from ...core.tools import ToolOutcome
from ...render.markdown import IGNORE_MATH
from ...render.reasoning import reasoning_html
from ...state import redact
from ..tool_cards import LiveCard, card_html, card_text
from .chat_view import PanelChatView

APPROVE, DENY, STOP = "Approve", "Deny", "stop"


class PanelCard:
    """One call's card, with the Approve and Deny buttons under it while the call waits.

    While its arguments stream it is the cell's card (``tool_cards.LiveCard``) on a live surface
    of its own: megabytes of arguments are appended piece by piece within a byte budget, never
    redrawn whole per frame. When the call is over (or the turn ends) the card becomes one
    static HTML widget, kept in widget state as the panel's answers are.
    """

    def __init__(self, key: Optional[str], interval: float, clock: Callable[[], float]) -> None:
        from ...render.surface import LiveSurface

        self.key = key
        self.surface = LiveSurface([("x", "", "<div></div>")], display_now=False,
                                   on_finish=self._swap)
        self.surface.widget.add_class("oai-panel-tool")
        self.live = LiveCard(self.surface, "c", interval, clock)
        self.html: Any = None  # the finished card
        self.buttons = widgets.HBox()
        self.widget = widgets.VBox([self.surface.widget, self.buttons])

    @property
    def call(self) -> Dict[str, Any]:
        return self.live.call

    @property
    def outcome(self) -> Optional[ToolOutcome]:
        return self.live.outcome

    def show(self, call: Dict[str, Any], *, force: bool = False) -> None:
        self.live.show(call, force=force)

    def done(self, outcome: ToolOutcome) -> None:
        self.live.pacer.stop()  # the static card replaces the live one: no last live draw
        with self.live.pacer.lock:
            self.live.outcome = outcome
        self.settle()
        self.finish()

    def finish(self) -> None:
        """The live card becomes the static one (once): its call and outcome as they are now."""
        if self.html is None:
            self.live.pacer.stop()
            with self.live.pacer.lock:
                html = card_html(self.call, self.outcome)
            self.surface.finish(html, card_text(self.call, self.outcome))

    def _swap(self, html: str, _text: str) -> None:
        self.html = widgets.HTML(f'<div class="oai-panel-tool {IGNORE_MATH}">'
                                 f"{redact(html, self.key)}</div>")
        self.widget.children = tuple(self.html if c is self.surface.widget else c
                                     for c in self.widget.children)

    def ask(self, decide: Callable[[str], None]) -> None:
        """Show Approve and Deny; a click calls ``decide("Approve")`` or ``decide("Deny")``."""
        approve = widgets.Button(description=APPROVE, button_style="success", icon="check",
                                 tooltip="Run this tool call", layout=widgets.Layout(width="auto"))
        deny = widgets.Button(description=DENY, button_style="danger", icon="times",
                              tooltip="Do not run it: the model is told you declined",
                              layout=widgets.Layout(width="auto"))
        approve.on_click(lambda _: decide(APPROVE))
        deny.on_click(lambda _: decide(DENY))
        self.buttons.children = (approve, deny)

    def settle(self) -> None:
        """The buttons go once the user answered (or the turn stopped)."""
        old, self.buttons.children = self.buttons.children, ()
        for button in old:
            button.close()


class PanelToolView(PanelChatView):
    """A panel answer with tools: each round's text, then its calls as cards (with buttons)."""

    def __init__(self, turn: Any, *, key: Optional[str] = None, **options: Any) -> None:
        super().__init__(turn, **options)
        self.key = key
        self.cards: List[PanelCard] = []
        self.rounds = 0

    def begin(self, notices: List[str]) -> None:
        """Called per request: the first opens the answer, later ones a new region under the cards."""
        self.rounds += 1
        if self.rounds == 1:
            super().begin(notices)
        else:
            self._open_answer()
        self.cards = []

    def tool_calls(self, index: int, calls: List[Dict[str, Any]]) -> None:
        if index != 0:
            return
        if self.thinking is not None:
            self.thinking.settle()
        for position, call in enumerate(calls):
            self._card(position).show(call)

    def _card(self, position: int) -> PanelCard:
        while position >= len(self.cards):
            card = PanelCard(self.key, self.render_interval, self.clock)
            self.cards.append(card)
            self.turn.children = (*self.turn.children, card.widget)
        return self.cards[position]

    def end_round(self, result: Any) -> None:
        """The round's text settles above its cards (or goes, when there was none)."""
        if self.live is not None:
            html, text = self.live.finish()
            if self.thinking is not None and self.thinking.parts:
                html = reasoning_html("".join(self.thinking.parts)) + html
            self.surface.finish(html, text)
            if not text.strip() and not (self.thinking and self.thinking.parts):
                self.turn.children = tuple(c for c in self.turn.children
                                           if c is not self.answer_widget)
            self.live = self.thinking = None
        calls = result.choices[0].tool_calls if result.choices else []
        for position, call in enumerate(calls):
            self._card(position).show(call, force=True)

    def tool_outcome(self, index: int, outcome: ToolOutcome) -> None:
        if index < len(self.cards):
            self.cards[index].done(outcome)

    def waiting_card(self) -> Optional[PanelCard]:
        """The card of the call about to run: calls run in order, each told its outcome."""
        return next((c for c in self.cards if c.outcome is None), None)

    def end(self, result: Any) -> None:
        for card in self.cards:
            card.settle()
            card.finish()  # a call never run (Stop, Deny of an earlier one) keeps its card
        if self.live is not None:
            super().end(result)


class ToolApproval:
    """The panel's ``confirm``: Approve/Deny on the waiting call's card, or Stop, ends the wait."""

    def __init__(self, on_ask: Callable[[str], None] = lambda name: None) -> None:
        self.on_ask = on_ask  # the panel's status line says what the turn waits for
        self.view: Optional[PanelToolView] = None
        self._lock = threading.Lock()
        self._decided = threading.Event()
        self._answer: Optional[str] = None
        self.stopped = False
        self.asking = threading.Event()  # set while a card shows Approve and Deny

    def confirm(self, name: str, arguments: Dict[str, Any]) -> bool:
        card = self.view.waiting_card() if self.view is not None else None
        with self._lock:
            if self.stopped:
                raise KeyboardInterrupt
            if card is None:  # nowhere to ask: as the [y/N] question without an answer
                return False
            self._decided.clear()
            self._answer = None
        card.ask(self._decide)
        self.on_ask(name)
        self.asking.set()
        atexit.register(self.stop)  # a kernel shutdown ends the wait
        try:
            self._decided.wait()
        finally:
            atexit.unregister(self.stop)
            card.settle()
        if self._answer == STOP:
            raise KeyboardInterrupt  # the tool loop records the call as not run, as on Ctrl-C
        return self._answer == APPROVE

    def _decide(self, answer: str) -> None:
        with self._lock:
            if not self._decided.is_set():
                self._answer = answer
                self.asking.clear()
                self._decided.set()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
        self._decide(STOP)
