"""The chat panel: a second face (ipywidgets 8) on the kernel state the magics use.

Same conversations, same settings, same ``ChatTurn`` as ``%%chat``: a turn sent in the panel is in
``%chat history``, and a ``%%chat`` turn or ``%oai org …`` shows up in the panel (it subscribes
to the state). Requests run in a background thread so the kernel keeps handling widget messages
while an answer streams; Stop shuts the socket, so a blocked read returns at once and the
partial answer is kept. The API key never enters a widget: widget state is saved in notebooks.

Imported lazily (``oai_magic.ChatPanel``, ``%chat_panel``): ``%load_ext`` never loads ipywidgets.
"""

from __future__ import annotations

import threading
import time
from typing import Any, List, Optional

import ipywidgets as widgets

from ...core.chat_options import request_options
from ...core.results import Cancellation, ChatResult, StoppedAnswer
from ...core.session import Session, session_of
from ...core.tools import visible
from ...core.turn_options import HistoryBudget, TurnOptions
from ...errors import InputError, OAIError
from ...render.chrome import kept_as_partial
from . import parts
from .answer_actions import AnswerActions, lab_frontend, panel_turn_id
from .chat_view import PanelChatView, label_html, parts_card, status_parts, user_html
from .conversations import PicksConversations
from .following import FollowsState
from .input_bar import TakesInput
from .tool_view import PanelToolView, ToolApproval


class ChatPanel(parts.SideRequests, FollowsState, PicksConversations, AnswerActions, TakesInput):
    """``ChatPanel(conversation="default")``: chat in a panel; display it like any widget.

    For demos and tests: ``send(text)`` starts a request and returns at once, ``wait()``
    blocks until the panel is idle (and returns the last ChatResult), ``stop()`` ends the
    answer in flight, ``close()`` unsubscribes and closes the widgets. With tools (the Tools
    field, as ``--tools``), ``wait_for_approval()`` blocks until a call shows Approve and Deny.
    ``side=True`` docks it beside the notebook (sidecar); one docked panel per conversation,
    so asking again returns (and focuses) the one already docked.
    """

    def __new__(cls, conversation: str = "default", **kwargs: Any) -> ChatPanel:
        if kwargs.get("side"):
            from .docking import docked_panel

            state = kwargs.get("session") or kwargs.get("state")
            existing = docked_panel(state, conversation) if state is not None else None
            if existing is not None:
                return existing
        return super().__new__(cls)

    def __init__(
        self,
        conversation: str = "default",
        *,
        session: Optional[Session] = None,
        state: Optional[Session] = None,
        client: Any = None,
        render_interval: Optional[float] = None,
        transcribe_model: Optional[str] = None,
        budget: Optional[HistoryBudget] = None,
        side: bool = False,
    ) -> None:
        if getattr(self, "dock", None) is not None:
            return  # the docked panel of this conversation, asked for again (see __new__)
        state = session or state  # the session the panel is a face of (``state``: its old name)
        if state is None:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is None:
                raise InputError("ChatPanel needs an IPython kernel (or pass session=Session(...)).")
            state = session_of(shell)
        self.state: Session = state
        self.client = client if client is not None else state.client()
        self._render_interval = render_interval
        self._transcribe_model = transcribe_model
        self._budget = budget
        self.conversation = conversation
        self._lock = threading.RLock()
        self._busy = False
        self._thread: Optional[threading.Thread] = None
        self._models_thread: Optional[threading.Thread] = None
        self._audio_thread: Optional[threading.Thread] = None
        self._cancellation: Optional[Cancellation] = None
        self._approval = ToolApproval()
        self._result: Optional[ChatResult] = None
        self._sent_at = 0.0
        self._stale = False  # the conversation changed elsewhere while this panel answered
        self._attached: List[Any] = []  # context.Attachment: images for the next message
        self._syncing = False
        self._models_requested = False
        self.error: Optional[str] = None
        self._regenerate_buttons: List[Any] = []
        self._lab = lab_frontend()
        self._build_layout(state.settings.model, self._default_models())
        self._offer_resume()
        self.widget.children = (self.widget.children[0], self.resume_bar, *self.widget.children[1:])
        self._wire()
        self._show_settings()
        self._refresh_selector()
        self._show_conversation()
        self._unsubscribe = state.subscribe(self._on_state_event)
        self.dock: Any = None
        if side:
            from .docking import dock

            self.dock = dock(self)

    # --- wiring and display ---------------------------------------------------------------

    def _wire(self) -> None:
        self.send_button.on_click(lambda _: self._on_send_click())
        self.stop_button.on_click(lambda _: self.stop())
        self.new_button.on_click(lambda _: self._guarded(self.new_conversation))
        self.refresh_models_button.on_click(lambda _: self.load_models())
        self.selector.observe(self._on_select, "value")
        self.system.observe(self._on_system, "value")
        self.organization.observe(lambda c: self._on_setting("organization", c), "value")
        self.project.observe(lambda c: self._on_setting("project", c), "value")
        self.upload.observe(self._on_upload, "value")
        self.image_upload.observe(self._on_image_upload, "value")
        self.fix_button.on_click(lambda _: self._guarded(self.ask_about_error))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if not self._models_requested:
            self.load_models()
        shown = self.dock.cell_view() if self.dock is not None else self.widget  # docked: a line
        bundle = shown._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"<ChatPanel conversation={self.conversation!r} model={self._model_name()!r}>"

    # --- the programmatic API -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while an answer is being requested or streamed."""
        return self._busy

    @property
    def result(self) -> Optional[ChatResult]:
        """The last answer's ChatResult (None after an error that produced no answer)."""
        return self._result

    def send(self, text: str) -> None:
        """Start a request for ``text`` in the current conversation; returns at once.

        Attached images (``attach_image``) go with it, as content parts, and are then cleared.
        """
        if not text.strip():
            raise InputError("Write a message first.")
        from ...core.context import Sent, user_content

        with self._lock:
            if self._busy:
                raise InputError("This panel is still answering: Stop it or wait for the answer.")
            images = list(self._attached)
            content = user_content(text, None, images, None)
            self._start(text, content, Sent(images=images).notice())
            self._attached = []
            self._show_attachments()

    def ask_about_error(self) -> None:
        """Like ``%chat fix``: the cell that failed last and its traceback, in this conversation."""
        from ...core.context import fix_request

        with self._lock:
            if self._busy:
                raise InputError("This panel is still answering: Stop it or wait for the answer.")
            content, notice, last = fix_request(self.state, self.state.settings.max_context_chars)
            self._start(f"Ask about the last error ({last.name})", content, notice)

    def attach_image(self, name: str, data: bytes) -> None:
        """Add an image to the next message (checked by its first bytes, at most 20 MB)."""
        from ...core.images import checked_image

        with self._lock:
            self._attached.append(checked_image(name, bytes(data)))
            self._show_attachments()

    def remove_attachment(self, index: int) -> None:
        with self._lock:
            del self._attached[index]
            self._show_attachments()

    def _start(self, text: str, content: Any, notice: Optional[str],
               owner: Optional[str] = None) -> None:
        """Show the user's turn and answer it in the request thread (the lock is held).

        Every panel turn has an owner id, as a cell's turn has its cell id; Regenerate passes
        the owner of the turn it replaces (issue 24's rule for re-run cells)."""
        cancellation = Cancellation()
        options = TurnOptions(
            request_options(self.state.settings, model=self._model_name(),
                            temperature=self._temperature()),
            conversation=self.conversation, budget=self._history_budget(), cancellation=cancellation,
            cell_id=owner or panel_turn_id(),
        )
        approval = ToolApproval(on_ask=lambda name: self._set_status(
            [f"The tool {visible(name)} waits for Approve or Deny", "Stop ends the turn"]))
        options = self._with_tools(options, approval)  # a bad entry raises before anything shows
        self._cancellation, self._approval = cancellation, approval
        self._regenerating = owner is not None
        self.input.last_prompt = text  # what Up recalls in the empty box
        self._result = None
        self._hide_error()
        shown = (widgets.HTML(user_html(text)) if isinstance(content, str) else
                 widgets.HTML(parts_card(content)))
        turn = widgets.VBox([label_html("You"), shown])
        self.transcript.children = (*self.transcript.children, turn)
        self._busy = True
        self._set_busy_controls(True)
        self._sent_at = time.monotonic()
        self._set_status(["Waiting for the first token…"])
        with self.state.lock:
            self.state.context_notices = [notice] if notice else []
        thread = threading.Thread(
            target=self._answer, args=(content, options, turn, approval),
            name="oai-chat-panel", daemon=True,
        )
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """End the answer in flight: the connection closes and the partial answer is kept."""
        with self._lock:
            if self._busy and self._cancellation is not None:
                self._cancellation.cancel()
                self._approval.stop()  # a call waiting for Approve is not run

    def wait(self, timeout: Optional[float] = None) -> Optional[ChatResult]:
        """Block until the panel is idle (answer, model list, transcription); the last result."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._thread, self._models_thread, self._audio_thread):
            if thread is None or thread is threading.current_thread():
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise TimeoutError(f"the chat panel is still busy after {timeout} s")
        return self._result

    def wait_for_approval(self, timeout: Optional[float] = None) -> bool:
        """Block until a tool call waits for Approve or Deny on its card (True), or ``timeout``."""
        return self._approval.asking.wait(timeout)

    def close(self) -> None:
        """Stop, unsubscribe from the kernel state and close every widget of the panel."""
        self.stop()
        self._unsubscribe()
        for widget in list(parts.descendants(self.widget)):
            widget.close()
        if self.dock is not None:  # its docked area goes too, and the next --side docks anew
            self.dock.on_gone()
            self.dock.sidecar.close()

    # --- sending (the request thread) -----------------------------------------------------

    def _with_tools(self, options: TurnOptions, approval: ToolApproval) -> TurnOptions:
        """The Tools field as ``--tools`` (same resolver); Approve/Deny unless auto-approve."""
        from ...core.chat_setup import with_tools
        from ...core.tools import resolve_tools

        names = (self.tools.value or "").strip()
        if not names:
            return options
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
        try:
            given = resolve_tools(names, namespace)
            return with_tools(options, given, None, bool(self.auto_tools.value), self.state,
                              confirm=approval.confirm)
        except InputError as exc:
            raise InputError(str(exc).replace("--tools", "Tools", 1)) from None

    def _answer(self, prompt: Any, options: TurnOptions, shown: Any, approval: ToolApproval) -> None:
        if options.tools:
            view: PanelChatView = PanelToolView(
                shown, key=self._key(), render_interval=self._interval(),
                on_first_token=self._on_first_token)
            approval.view = view
        else:
            view = PanelChatView(shown, render_interval=self._interval(),
                                 on_first_token=self._on_first_token)
        run = self.state.start_turn(prompt, options, client=self.client)
        result: Optional[ChatResult] = None
        error: Optional[str] = None
        try:
            result = run.play(view)
        except StoppedAnswer as stop:
            result = stop.result
        except OAIError as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not leave the panel stuck with Send disabled
            error = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            try:
                self._finish_answer(prompt, shown, options.conversation, result, error)
            finally:
                with self._lock:
                    self._busy = False
                    self._set_busy_controls(False)

    def _on_first_token(self) -> None:
        seconds = time.monotonic() - self._sent_at
        self._set_status([f"Answering… first token after {seconds:.2f} s", "Stop ends it"])

    def _finish_answer(self, prompt: Any, shown: Any, name: str,
                       result: Optional[ChatResult], error: Optional[str]) -> None:
        """The result says whether anything was recorded: the live widget stays, or goes."""
        recorded = result is not None and bool(result.choices) and not result.nothing_arrived
        with self._lock:
            self._result = result
            if name == self.conversation:
                if self._stale or (self._regenerating and not recorded):
                    self._show_conversation()  # changed elsewhere meanwhile: draw it afresh
                elif recorded and result is not None:
                    shown.children = (*shown.children, self.answer_actions(result.text or ""))
                elif not recorded:
                    self._remove(shown)  # nothing recorded: the prompt goes back to the input
                    if not self.input.value.strip() and isinstance(prompt, str):
                        self.input.value = prompt
        self.input.send({"focus": True})  # the box takes the focus back for the next prompt
        if result is None:
            self._show_error(error or "no answer")
            self._set_status(["Nothing was recorded"])
            return
        if result.error:
            self._show_error(f"{result.error} — {kept_as_partial(name)}")
        if result.interrupted:
            lead = "Stopped: partial answer kept" if result.text else "Stopped before the answer began"
            self._set_status([lead, *status_parts(result)])
        else:
            self._set_status(status_parts(result))

    # --- widget events --------------------------------------------------------------------

    # --- small helpers --------------------------------------------------------------------

    def _guarded(self, action: Any) -> bool:
        """Run a button's action; our errors go to the banner instead of the log."""
        try:
            action()
        except OAIError as exc:
            self._show_error(str(exc))
            return False
        return True

    def _model_name(self) -> str:
        return (self.model.value or "").strip() or self.state.settings.model

    def _temperature(self) -> Optional[float]:
        value = round(float(self.temperature.value), 2)
        return None if value == 1.0 else value  # 1 is the API default: leave it out

    def _default_models(self) -> List[str]:
        return list(dict.fromkeys((self.state.settings.model, *parts.DEFAULT_MODELS)))

    def _interval(self) -> float:
        if self._render_interval is not None:
            return self._render_interval
        return self.state.settings.render_interval

    def _history_budget(self) -> HistoryBudget:
        if self._budget is not None:
            return self._budget
        return HistoryBudget.of(self.state.settings)

