"""The chat panel's parts that are not its chat logic: the layout and the side requests (model
list, audio upload). What the panel draws (its chat view, cards, status lines) is in
``chat_view``; ChatPanel reaches all of it through this module.

Imported only with the panel (it imports ipywidgets).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional

import ipywidgets as widgets

from ...core.audio_sources import EXTENSIONS, AudioSource, from_bytes, sniff_extension
from ...core.models import MODELS_NOT_LISTED, chat_models
from ...errors import InputError, OAIError
from ...state import KernelState, redact
from .chat_view import banner_html, note_html, status_html

# Shown in the model box until /v1/models answers (and kept if it cannot be listed).
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "o4-mini")
def uploaded_source(item: Dict[str, Any]) -> AudioSource:
    """An ipywidgets 8 FileUpload entry (``name``, ``content`` memoryview) as an upload."""
    name = str(item.get("name") or "upload")
    data = bytes(item.get("content") or b"")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if data and extension not in EXTENSIONS and sniff_extension(data) is None:
        raise InputError(f"{name} is not an audio file the API takes ({', '.join(EXTENSIONS)})")
    return from_bytes(name, data, name)


def descendants(root: Any) -> Iterator[Any]:
    """Every widget under ``root`` (children, layouts, styles), root first, in display order."""
    seen = set()
    stack = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        yield widget
        found: List[Any] = []
        for name in widget.keys:
            value = getattr(widget, name, None)
            if isinstance(value, widgets.Widget):
                found.append(value)
            elif isinstance(value, (tuple, list)):
                found.extend(v for v in value if isinstance(v, widgets.Widget))
        stack.extend(reversed(found))  # depth first, in display order


class PanelLayout:
    """The panel's widgets and how its state is shown on them; ChatPanel adds the behaviour.

    Plain attributes (``state``, the client) live on the panel object, never in a widget trait:
    widget state is what a notebook saves.
    """

    state: KernelState
    error: Optional[str] = None
    _syncing: bool = False

    def _build_layout(self, model: str, models: List[str]) -> None:
        w = widgets
        auto = {"description_width": "initial"}
        self.selector = w.Dropdown(description="Conversation", style=auto,
                                   layout=w.Layout(width="auto"))
        self.new_button = w.Button(description="New", icon="plus", layout=w.Layout(width="auto"),
                                   tooltip="Start a new conversation")
        self.model = w.Combobox(value=model, description="Model", style=auto,
                                options=models, ensure_option=False, placeholder=model)
        self.refresh_models_button = w.Button(icon="refresh", layout=w.Layout(width="36px"),
                                              tooltip="Reload the model list (/v1/models)")
        self.models_note = w.HTML()
        self.temperature = w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05,
                                         description="Temperature", style=auto,
                                         readout_format=".2f", continuous_update=False)
        self.system = w.Textarea(description="System prompt", style=auto, rows=2,
                                 continuous_update=False, layout=w.Layout(width="98%"),
                                 placeholder="Shared with %%chat -s for this conversation")
        self.organization = w.Text(description="Organization", style=auto, continuous_update=False)
        self.project = w.Text(description="Project", style=auto, continuous_update=False)
        self.transcript = w.VBox(layout=w.Layout(width="100%"))
        self.banner = w.HTML(layout=w.Layout(display="none"))
        from .input_bar import message_box

        self.input = message_box({"send": self._on_enter, "stop": lambda _: self.stop(),
                                  "shown": self._on_shown})
        self.input.layout = w.Layout(flex="1 1 auto", width="auto")
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True,
                                    tooltip="End the answer now; the partial answer is kept")
        self.upload = w.FileUpload(accept="audio/*", multiple=False, description="Audio",
                                   icon="microphone")
        self.image_upload = w.FileUpload(accept="image/*", multiple=True, description="Attach image",
                                         icon="image")
        self.fix_button = w.Button(description="Ask about the last error", icon="bug",
                                   layout=w.Layout(width="auto"),
                                   tooltip="Send the cell that failed last and its traceback")
        # issue 27: the tools the model may call (as %%chat --tools) and whether to ask first.
        self.tools = w.Text(description="Tools", style=auto, placeholder="f, mcp:server/tool",
                            continuous_update=False,
                            tooltip="Kernel functions and MCP tools the model may call "
                                    "(as %%chat --tools)", layout=w.Layout(width="17em"))
        self.auto_tools = w.Checkbox(description="auto-approve", indent=False,
                                     tooltip="Run tool calls without Approve (as --auto-tools)",
                                     layout=w.Layout(width="auto"))
        self.attachments = w.HBox()  # chips of the images waiting to go with the next message
        self.status = w.HTML()
        settings = w.VBox([self.temperature, self.system, w.HBox([self.organization, self.project])])
        self.settings_box = w.Accordion(children=[settings], titles=("Settings",))
        header = w.HBox([self.selector, self.new_button, self.model, self.refresh_models_button,
                         self.models_note], layout=w.Layout(flex_flow="row wrap"))
        self.transcript.add_class("oai-transcript")
        # issue 30: the input bar; ``input_controls`` is the slot for controls beside the box
        # (the microphone's Record button): ``add_input_control(widget)``.
        self.input_controls = w.HBox()
        self.input_bar = w.HBox([self.input, self.input_controls, self.send_button,
                                 self.stop_button], layout=w.Layout(width="100%"))
        self.input_bar.add_class("oai-input-bar")
        controls = w.HBox([self.upload, self.image_upload, self.fix_button, self.tools,
                           self.auto_tools], layout=w.Layout(flex_flow="row wrap"))
        self.widget = w.VBox([header, self.settings_box, self.transcript, self.banner,
                              self.attachments, self.input_bar, controls, self.status])
        self.widget.add_class("oai-panel")

    _on_enter: Callable[[Dict[str, Any]], None]  # ChatPanel's: Enter in the box
    _on_shown: Callable[[Dict[str, Any]], None]  # ChatPanel's: the page drew the box
    stop: Callable[[], None]

    def add_input_control(self, widget: Any) -> None:
        """Put ``widget`` (a Record button, say) in the input bar, right of the message box."""
        self.input_controls.children = (*self.input_controls.children, widget)

    def _show_error(self, message: str) -> None:
        self.error = redact(message, self._key())
        self.banner.value = banner_html(message, key=self._key())
        self.banner.layout.display = None

    def _hide_error(self) -> None:
        self.error = None
        self.banner.value = ""
        self.banner.layout.display = "none"

    def _set_status(self, items: List[str]) -> None:
        self.status.value = status_html(items, key=self._key())

    def _set_busy_controls(self, busy: bool) -> None:
        self.send_button.disabled = busy
        self.fix_button.disabled = busy
        self.stop_button.disabled = not busy
        self.selector.disabled = busy
        self.new_button.disabled = busy
        self.input.busy = busy

    def _remove(self, widget: Any) -> None:
        self.transcript.children = tuple(c for c in self.transcript.children if c is not widget)
        for piece in list(descendants(widget)):
            piece.close()

    def _close_children(self, box: Any) -> None:
        old = box.children
        box.children = ()
        for child in old:
            for piece in list(descendants(child)):
                piece.close()

    @contextlib.contextmanager
    def _sync(self) -> Iterator[None]:
        """Widget values set from the state must not be written back to it."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    def _key(self) -> Optional[str]:
        return self.state.settings.resolved_key()


class SideRequests(PanelLayout):
    """The model list and the audio upload: requests beside the chat, each in its own thread,
    so neither blocks the kernel nor the answer streaming next to it."""

    client: Any
    _lock: Any
    _transcribe_model: Optional[str]
    _models_requested: bool = False
    _models_thread: Optional[threading.Thread] = None
    _audio_thread: Optional[threading.Thread] = None

    def load_models(self) -> None:
        """Fill the model box from ``/v1/models`` in the background (free text still works)."""
        with self._lock:
            self._models_requested = True
            if self._models_thread is not None and self._models_thread.is_alive():
                return
            self.models_note.value = note_html("loading models…")
            self._models_thread = threading.Thread(target=self._load_models, daemon=True,
                                                   name="oai-chat-panel-models")
            self._models_thread.start()

    def _on_upload(self, change: Any) -> None:
        items = change["new"]
        if not items:
            return
        try:
            source = uploaded_source(items[0])
        except OAIError as exc:
            self._show_error(str(exc))
            return
        finally:
            with self._sync():
                self.upload.value = ()  # audio bytes do not belong in the saved widget state
        with self._lock:
            if self._audio_thread is not None and self._audio_thread.is_alive():
                self._show_error("Still transcribing the previous file.")
                return
            self.upload.disabled = True
            self._set_status([f"Transcribing {source.filename}…"])
            self._audio_thread = threading.Thread(target=self._transcribe, args=(source,),
                                                  daemon=True, name="oai-chat-panel-audio")
            self._audio_thread.start()

    _attached: List[Any]
    attach_image: Callable[[str, bytes], None]  # ChatPanel's: check and keep one image
    remove_attachment: Callable[[int], None]

    def _on_image_upload(self, change: Any) -> None:
        """Uploaded images wait, as removable chips, for the next message."""
        items = change["new"]
        if not items:
            return
        try:
            for item in items:
                self.attach_image(str(item.get("name") or "image"), bytes(item["content"]))
        except OAIError as exc:
            self._show_error(str(exc))
        finally:
            with self._sync():
                self.image_upload.value = ()  # the bytes go with the message, not into widget state

    def _show_attachments(self) -> None:
        chips = []
        for index, attachment in enumerate(self._attached):
            chip = widgets.Button(description=f"{attachment.describe()} ✕", icon="image",
                                  tooltip="Remove this image", layout=widgets.Layout(width="auto"))
            chip.on_click(lambda _, i=index: self.remove_attachment(i))
            chips.append(chip)
        old = self.attachments.children
        self.attachments.children = tuple(chips)
        for widget in old:
            widget.close()

    def _transcribe(self, source: Any) -> None:
        from ...core.transcribe import account_transcription, transcribe_one
        from ...core.transcription_options import TranscribeOptions, checked_options
        from ...render.chrome import transcript_footer_parts

        try:
            options = checked_options(TranscribeOptions(), default_model=self._audio_model())
            result = transcribe_one(self.state.audio_client(), source, options)
            self.state.remember_headers(result.headers)
            account_transcription(self.state, result)  # priced and counted like %transcribe
            current = self.input.value
            self.input.value = f"{current.rstrip()}\n{result.text}" if current.strip() else result.text
            self._set_status([f"Transcribed {source.filename}",
                              *transcript_footer_parts(result, named=False)])
        except OAIError as exc:
            self._show_error(str(exc))
        except Exception as exc:  # keep the panel usable whatever happens
            self._show_error(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self.upload.disabled = False

    def _load_models(self) -> None:
        from ...errors import NotFoundError

        try:
            ids = chat_models(self.client)
        except NotFoundError:  # faster-whisper-server, some proxies: no /models at all
            self.models_note.value = note_html(f"{MODELS_NOT_LISTED.capitalize()}; type a model name.")
            return
        except Exception as exc:  # any failure: keep the defaults, say why in one line
            reason = str(exc) if isinstance(exc, OAIError) else type(exc).__name__
            self.models_note.value = note_html(
                f"Model list unavailable ({reason}); type a model name.", key=self._key())
            return
        if ids:
            self.model.options = ids
            self.models_note.value = ""
        else:
            self.models_note.value = note_html("No chat models listed; type a model name.")

    def _audio_model(self) -> str:
        return self._transcribe_model or self.state.settings.transcribe_model
