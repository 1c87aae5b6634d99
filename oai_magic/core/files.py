"""Files that go with a prompt (``--file PATH``): a PDF or text file as a ``file`` content part.

The chat completions API takes a file inline, as base64 ``file_data`` in a data URL with its
MIME type and its ``filename``. Checked (it exists, its size) before anything is sent, and
capped like images. The part is recorded in history like an image part, so export, load and
the next request keep it.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..errors import InputError
from .audio_sources import human_size
from .images import MAX_IMAGE_BYTES

MAX_FILE_BYTES = MAX_IMAGE_BYTES  # capped like images
_MAGIC = ((b"%PDF-", "application/pdf"), (b"PK\x03\x04", "application/zip"))


def mime_type(filename: str, data: bytes) -> str:
    """The MIME type by the file's first bytes (a PDF is a PDF whatever its name), else by
    its extension, else ``application/octet-stream``."""
    for signature, mime in _MAGIC:
        if data.startswith(signature) and not (mime == "application/zip" and "." in filename
                                               and mimetypes.guess_type(filename)[0]):
            return mime
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@dataclass
class FileAttachment:
    """A file sent with the prompt; it rides with the images in the sent-line (as a chip)."""

    label: str
    data: bytes
    mime: str
    header: Any = None  # not an image: no thumbnail, a chip

    def part(self, detail: Optional[str] = None) -> Dict[str, Any]:
        encoded = base64.b64encode(self.data).decode("ascii")
        return {"type": "file", "file": {"filename": self.label,
                                         "file_data": f"data:{self.mime};base64,{encoded}"}}

    def describe(self) -> str:
        return f"{self.label} ({self.mime}, {human_size(len(self.data))})"


def resolve_file(spec: str, max_bytes: int = MAX_FILE_BYTES) -> FileAttachment:
    """``--file PATH``: read and checked, or one line saying why nothing was sent."""
    path = os.path.expanduser(spec)
    if not os.path.isfile(path):
        raise InputError(f"--file {spec}: no such file; nothing sent.")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise InputError(f"--file {spec}: {human_size(size)} is over the "
                         f"{human_size(max_bytes)} limit; nothing sent.")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"--file {spec}: over the {human_size(max_bytes)} limit; nothing sent.")
    name = os.path.basename(path)
    return FileAttachment(name, data, mime_type(name, data))


def file_part_bytes(part: Dict[str, Any]) -> Optional[bytes]:
    """The bytes of a recorded ``file`` part (export writes them out), or None."""
    data = (part.get("file") or {}).get("file_data")
    if not isinstance(data, str) or ";base64," not in data:
        return None
    try:
        return base64.b64decode(data.split(";base64,", 1)[1], validate=True)
    except ValueError:
        return None
