"""What went with a prompt, as a notebook shows it: image thumbnails and the context collapsed.

Thumbnails are made here, not in ``core.context``: they are display, and PIL (when the user
has it loaded already) only ever shrinks an image for the page, never what is sent.
"""

from __future__ import annotations

import base64
import io
import sys
from typing import Any, Dict, List, Optional

from ..core.context import kilo
from ..core.images import Attachment
from ..history import content_files
from ..image_header import read_header
from ..state import content_images
from .markdown import IGNORE_MATH, escape_html, render_markdown

THUMBNAIL_EMBED_LIMIT = 200 * 1024  # without PIL, larger images show as a text chip
THUMBNAIL_PIXELS = 96
# A text part that starts so is context, not the prompt: shown collapsed.
COLLAPSED_CONTEXT = ("Context:", "The cell that failed")


def thumbnail_html(attachment: Attachment) -> str:
    """A small inline image, or a text chip when it would be big in the saved notebook."""
    chip = (f'<span class="oai-chip" style="border:1px solid #8888;border-radius:4px;'
            f'padding:0 4px;margin-right:4px">{escape_html(attachment.describe())}</span>')
    if attachment.data is None or attachment.header is None:  # a URL, or a file (--file)
        return chip
    small = _pil_thumbnail(attachment.data)
    if small is None:
        if len(attachment.data) > THUMBNAIL_EMBED_LIMIT:
            return chip
        small = attachment.data
    mime = (read_header(small) or attachment.header).mime
    src = f"data:{mime};base64,{base64.b64encode(small).decode('ascii')}"
    return (f'<img class="oai-thumbnail" src="{src}" alt="{escape_html(attachment.describe())}" '
            f'title="{escape_html(attachment.describe())}" '
            f'style="max-height:{THUMBNAIL_PIXELS // 2}px;max-width:{THUMBNAIL_PIXELS}px;'
            f'vertical-align:middle;margin-right:4px">')


def _pil_thumbnail(data: bytes) -> Optional[bytes]:
    """A small PNG made with PIL when the user has it loaded already (never imported here)."""
    image_module = sys.modules.get("PIL.Image")
    if image_module is None:
        return None
    try:
        image = image_module.open(io.BytesIO(data))
        image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    except Exception:  # a thumbnail is a courtesy: fall back to the size rule
        return None


def parts_html(content: List[Dict[str, Any]]) -> str:
    """Context compactly: a text part beyond the prompt collapsed, images as thumbnails."""
    texts = [p["text"] for p in content if p.get("type") == "text"]
    html = []
    for text in texts:
        if not text.startswith(COLLAPSED_CONTEXT):
            html.append(render_markdown(text))
            continue
        first = escape_html(text.split("\n", 1)[0][:80])
        html.append(f'<details class="oai-context {IGNORE_MATH}"><summary>{first} '
                    f'({kilo(len(text))} chars)</summary><pre>{escape_html(text)}</pre></details>')
    thumbs = []
    for number, url in enumerate(content_images(content), 1):
        if url.startswith("data:"):
            data = base64.b64decode(url.split(",", 1)[1])
            thumbs.append(thumbnail_html(Attachment(f"image {number}", data)))
        else:
            thumbs.append(thumbnail_html(Attachment(f"image {number}", url=url)))
    thumbs += [f'<span class="oai-chip" style="border:1px solid #8888;border-radius:4px;'
               f'padding:0 4px;margin-right:4px">{escape_html(name)}</span>'
               for name in content_files(content)]
    if thumbs:
        html.append(f'<div class="oai-thumbnails">{"".join(thumbs)}</div>')
    return "".join(html)
