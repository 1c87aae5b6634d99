"""Images that go with a prompt: a file, a variable, the last figure or an https URL.

Checked by their first bytes (``image_header``) and size before anything is sent. Like the rest
of ``core/context``, duck-typed: PIL and matplotlib are never imported here.
"""

from __future__ import annotations

import base64
import io
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from ..errors import InputError
from ..image_header import read_header
from .audio_sources import human_size

MAX_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass
class Attachment:
    """An image that goes with the prompt: bytes for a data URL, or an https URL as is."""

    label: str
    data: Optional[bytes] = None
    url: Optional[str] = None

    @property
    def header(self) -> Any:
        return read_header(self.data) if self.data is not None else None

    def data_url(self) -> str:
        if self.url:
            return self.url
        return f"data:{self.header.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def part(self, detail: Optional[str] = None) -> Dict[str, Any]:
        image: Dict[str, Any] = {"url": self.data_url()}
        if detail:
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}

    def describe(self) -> str:
        if self.data is None:
            return f"{self.label} (URL)"
        head = self.header
        return f"{self.label} {head.width}×{head.height} {head.format} {human_size(len(self.data))}"


def figure_png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def checked_image(label: str, data: bytes) -> Attachment:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"--image {label}: {human_size(len(data))} is over the 20 MB limit; nothing sent.")
    if read_header(data) is None:
        raise InputError(f"--image {label}: not a PNG, JPEG, GIF or WebP image (by its first bytes); "
                         "nothing sent.")
    return Attachment(label, data)


def resolve_image(spec: str, namespace: Mapping[str, Any], last_figure: Any = None) -> Attachment:
    """``--image SPEC``: a file, a variable (bytes, Image, PIL image, Figure), ``figure`` or a URL."""
    if spec.startswith("https://"):
        return Attachment("image", url=spec)
    if spec.startswith("http://"):
        raise InputError(f"--image {spec}: only https:// URLs are sent as is (download it, or use https).")
    if spec == "figure" and "figure" not in namespace:
        if last_figure is None:
            raise InputError("--image figure: no matplotlib figure has been shown in this kernel yet.")
        return checked_image("figure", figure_png(last_figure))
    if spec.isidentifier() and spec in namespace:
        return checked_image(spec, user_image_bytes(spec, namespace[spec]))
    path = os.path.expanduser(spec)
    try:
        if not os.path.isfile(path):
            raise InputError(f"--image {spec}: no such file or variable.")
        size = os.path.getsize(path)
        if size > MAX_IMAGE_BYTES:
            raise InputError(f"--image {spec}: {human_size(size)} is over the 20 MB limit; nothing sent.")
        with open(path, "rb") as handle:  # read within the limit: /proc files say size 0
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"--image {spec}: cannot be read ({exc.strerror or type(exc).__name__}); "
                         "nothing sent.") from None
    return checked_image(os.path.basename(path), data)


def user_image_bytes(name: str, value: Any) -> bytes:
    """:func:`image_bytes`, with a user object that fails (its ``__getattr__``, ``save`` or
    ``savefig`` raises or recurses) as one line naming the variable."""
    try:
        return image_bytes(name, value)
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"--image {name}: reading it recursed without end; nothing sent.") from None
    except Exception as exc:
        raise InputError(f"--image {name}: reading it raised {type(exc).__name__}; nothing sent.") from None


def image_bytes(name: str, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    data = getattr(value, "data", None)
    if isinstance(data, bytes):
        return data  # IPython.display.Image
    if callable(getattr(value, "savefig", None)):  # a matplotlib Figure
        return figure_png(value)
    if callable(getattr(value, "save", None)) and hasattr(value, "size") and hasattr(value, "mode"):
        out = io.BytesIO()  # a PIL image
        value.save(out, format="PNG")
        return out.getvalue()
    if isinstance(getattr(value, "url", None), str) and data is None:
        raise InputError(f"--image {name}: an Image with only a URL: pass the https:// URL itself.")
    raise InputError(f"--image {name}: expected bytes, an IPython Image, a PIL image or a "
                     f"matplotlib Figure, got {type(value).__name__}.")


class FigureWatcher:
    """Keeps the last matplotlib figure drawn, before the inline backend closes it.

    ``%%chat`` must start its own cell, and the inline backend closes figures at the end of each
    cell, so ``plt.gcf()`` is blank by then. This ``post_execute`` hook runs first and keeps a
    reference to the active figure; ``saw`` is told of every figure displayed (a display
    formatter in ``magics``). It never imports matplotlib: it looks only when the user did.
    """

    def __init__(self) -> None:
        self.last_figure: Any = None

    def saw(self, figure: Any) -> None:
        """A figure was displayed (the inline backend's ``plt.show()``, or ``display(fig)``)."""
        self.last_figure = figure

    def __call__(self, *args: Any) -> None:
        helpers = sys.modules.get("matplotlib._pylab_helpers")
        if helpers is None:
            return
        try:
            manager = helpers.Gcf.get_active()
        except Exception:
            return
        if manager is not None and getattr(manager.canvas, "figure", None) is not None:
            self.last_figure = manager.canvas.figure
