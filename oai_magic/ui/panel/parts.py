"""The chat panel's parts that are not its chat logic: the chat view that runs in the request
thread (drawing through the same live surface as ``%%chat``), the layout, the side requests (model list,
audio upload), and small formatting helpers.

Imported only with the panel (it imports ipywidgets). Everything shown is escaped HTML: user
text and model output go through the same Markdown renderer as ``%%chat`` (raw HTML off).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import ipywidgets as widgets

from ...core.audio_sources import EXTENSIONS, AudioSource, _from_bytes, sniff_extension
from ...core.results import ChatResult
from ...errors import InputError, OAIError
from ...magics.settings_commands import listed_models
from ...render.live import LiveMarkdown
from ...render.markdown import IGNORE_MATH, answer_html, escape_html, render_footer, render_markdown
from ...state import KernelState, Message, content_text, redact
from ..notebook import footer_parts, result_mark, stop_line

# Shown in the model box until /v1/models answers (and kept if it cannot be listed).
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "o4-mini")
# Listed by /v1/models but not chat models: left out of the model box (still typeable).
NOT_CHAT = ("whisper", "transcribe", "tts", "embedding", "dall-e", "moderation", "davinci",
            "babbage")

_USER_STYLE = (
    "background:rgba(127,127,127,0.10);border-radius:6px;padding:0.1em 0.7em;margin:0.4em 0 0.2em 0"
)
_LABEL_STYLE = "font-size:smaller;opacity:0.6;margin:0.3em 0 0 0"


class PanelChatView:
    """The ChatView of one panel answer; its methods run in the request thread."""

    def __init__(
        self,
        turn: Any,
        *,
        render_interval: float,
        on_first_token: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.turn = turn
        self.render_interval = render_interval
        self.on_first_token = on_first_token
        self.clock = clock
        self.live: Optional[LiveMarkdown] = None
        self.surface: Any = None
        self._started = False
        self.thinking: Any = None

    def begin(self, notices: List[str]) -> None:
        from ...render.surface import LiveSurface
        from ..notebook import ANSWER_REGION, REASONING_REGION, LiveReasoning, notice_html

        for notice in notices:  # the sent-line carries its thumbnails
            self.turn.children = (*self.turn.children, widgets.HTML(notice_html(notice)))
        # The same live surface as %%chat, as a child of the turn instead of a cell output.
        self.surface = LiveSurface([("k", "", REASONING_REGION), ("a", "", ANSWER_REGION)],
                                   display_now=False, on_finish=self._swap)
        self.turn.children = (*self.turn.children, label_html("Assistant"), self.surface.widget)
        self.live = LiveMarkdown(self.surface, "a", render_interval=self.render_interval, clock=self.clock)
        self.thinking = LiveReasoning(self.surface, "k", self.render_interval, self.clock)

    def _swap(self, html: str, text: str) -> None:
        """The finished answer replaces the live widget: an HTMLMath kept in widget state."""
        final = widgets.HTMLMath(styled(html))
        self.turn.children = tuple(final if c is self.surface.widget else c for c in self.turn.children)

    def reasoning(self, index: int, text: str) -> None:
        """Streamed reasoning, collapsed above the answer."""
        if index == 0 and self.thinking is not None:
            self.thinking.append(text)

    def delta(self, index: int, text: str) -> None:
        if index != 0 or self.live is None:
            return
        if self.thinking is not None:
            self.thinking.settle()
        self.live.append(text)
        if not self._started and text:
            self._started = True
            self.on_first_token()

    def end(self, result: ChatResult) -> None:
        if self.live is not None:
            html, text = self.live.finish(
                footer_html=render_footer(footer_parts(result)),
                # No cell to end with the stop line (CONTRACTS 1), so the panel shows it as the mark.
                mark=stop_line(result) if result.interrupted else result_mark(result),
            )
            if result.reasoning:
                from ..notebook import reasoning_html

                html = reasoning_html(result.reasoning) + html
            self.surface.finish(html, text)


def styled(html: str) -> str:
    """Answer HTML with JupyterLab's rendered-Markdown styling (tables, code), as in a cell."""
    return f'<div class="jp-RenderedHTMLCommon jp-RenderedHTML">{html}</div>'


def label_html(label: str) -> Any:
    return widgets.HTML(f'<div style="{_LABEL_STYLE}">{escape_html(label)}</div>')


def user_html(text: str) -> str:
    """A user message: Markdown like the answers (raw HTML shown as text), on a grey card."""
    return f'<div class="oai-user" style="{_USER_STYLE}">{styled(answer_html(render_markdown(text)))}</div>'


def parts_card(content: List[Dict[str, Any]]) -> str:
    """A user message with context: the prompt, the context collapsed, images as thumbnails."""
    from ...magics.conversations import parts_html

    return f'<div class="oai-user" style="{_USER_STYLE}">{parts_html(content)}</div>'


def message_widgets(message: Message) -> List[Any]:
    """A recorded message as widgets: a label and its rendered content."""
    if message.role == "user" and isinstance(message.content, list):  # context: our chrome
        return [label_html("You"), widgets.HTML(parts_card(message.content))]
    if message.role == "user":
        return [label_html("You"), widgets.HTML(user_html(message.content or ""))]
    text = content_text(message.content)
    if message.tool_calls:
        calls = ", ".join(str(c.get("function", {}).get("name", "?")) for c in message.tool_calls)
        text = (text + "\n\n" if text else "") + f"*tool calls:* `{calls}`"
    mark = "■ partial answer" if message.partial else None
    label = "Assistant" if message.role == "assistant" else message.role.capitalize()
    return [label_html(label), widgets.HTMLMath(styled(answer_html(render_markdown(text), mark)))]


def rate_limits(headers: Dict[str, str]) -> str:
    """``9,998 requests · 199,990 tokens left`` from the rate-limit headers, or ""."""
    parts = []
    for kind in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        if remaining is not None:
            shown = f"{int(remaining):,}" if remaining.isascii() and remaining.isdigit() else remaining
            parts.append(f"{shown} {kind}")
    return " · ".join(parts) + " left" if parts else ""


def status_parts(result: ChatResult) -> List[str]:
    """The status line after an answer: tokens, latency, request id, rate limits."""
    parts = footer_parts(result)
    limits = rate_limits(result.headers)
    if limits:
        parts.append(limits)
    return parts


def status_html(parts: List[str], *, key: Optional[str] = None) -> str:
    line = " · ".join(redact(p, key) for p in parts if p)
    style = "font-size:smaller;opacity:0.7"
    return f'<div class="oai-status {IGNORE_MATH}" style="{style}">{escape_html(line)}</div>'


def banner_html(message: str, *, key: Optional[str] = None) -> str:
    return (
        f'<div class="oai-error {IGNORE_MATH}" style="background:rgba(220,50,47,0.12);'
        f'border-left:4px solid #dc322f;padding:0.3em 0.6em">⚠ {escape_html(redact(message, key))}</div>'
    )


def note_html(message: str, *, key: Optional[str] = None) -> str:
    return (
        f'<span class="{IGNORE_MATH}" style="font-size:smaller;opacity:0.7">'
        f"{escape_html(redact(message, key))}</span>"
    )


def chat_model_ids(data: Any) -> List[str]:
    """Model ids from a ``/v1/models`` body, without the audio/embedding/image ones.

    At most ``MAX_MODELS`` ids: the list lands in widget state, saved with the notebook.
    """
    ids = [str(m.get("id")) for m in listed_models(data) if isinstance(m, dict)]
    return sorted(i for i in ids if i and not any(word in i.lower() for word in NOT_CHAT))


def uploaded_source(item: Dict[str, Any]) -> AudioSource:
    """An ipywidgets 8 FileUpload entry (``name``, ``content`` memoryview) as an upload."""
    name = str(item.get("name") or "upload")
    data = bytes(item.get("content") or b"")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if data and extension not in EXTENSIONS and sniff_extension(data) is None:
        raise InputError(f"{name} is not an audio file the API takes ({', '.join(EXTENSIONS)})")
    return _from_bytes(name, data, name)


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
        self.input = w.Textarea(placeholder="Message (Markdown)", rows=3,
                                layout=w.Layout(width="98%"))
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
        self.attachments = w.HBox()  # chips of the images waiting to go with the next message
        self.status = w.HTML()
        settings = w.VBox([self.temperature, self.system, w.HBox([self.organization, self.project])])
        self.settings_box = w.Accordion(children=[settings], titles=("Settings",))
        header = w.HBox([self.selector, self.new_button, self.model, self.refresh_models_button,
                         self.models_note])
        controls = w.HBox([self.send_button, self.stop_button, self.upload, self.image_upload,
                           self.fix_button])
        self.widget = w.VBox([header, self.settings_box, self.transcript, self.banner,
                              self.input, self.attachments, controls, self.status])

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
    _magics: Any
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
        from ...core.transcribe import TranscribeOptions, checked_options, transcribe_one

        try:
            options = checked_options(TranscribeOptions(), default_model=self._audio_model())
            result = transcribe_one(self.client, source, options)
            self.state.remember_headers(result.headers)
            current = self.input.value
            self.input.value = f"{current.rstrip()}\n{result.text}" if current.strip() else result.text
            self._set_status([f"Transcribed {source.filename} ({result.model})",
                              result.request_id or ""])
        except OAIError as exc:
            self._show_error(str(exc))
        except Exception as exc:  # keep the panel usable whatever happens
            self._show_error(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self.upload.disabled = False

    def _load_models(self) -> None:
        from ...errors import NotFoundError
        from ...magics.settings_commands import MODELS_NOT_LISTED

        try:
            ids = chat_model_ids(self.client.list_models().data)
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
        return self._transcribe_model or getattr(self._magics, "transcribe_model", "whisper-1")
