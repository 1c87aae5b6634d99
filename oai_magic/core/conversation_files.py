"""A conversation as a file: ``%chat export`` writes Markdown (images beside it) or JSON, and
``%chat load`` reads the JSON back, checked as untrusted input (CONTRACTS 5)."""

from __future__ import annotations

import json
import os
import re
from typing import Any, List, Optional, Tuple

from ..errors import InputError
from ..history import content_files
from ..state import Conversation, Message, content_images, content_text


def export_conversation(thread: Conversation, path: str) -> int:
    """Write ``thread`` to ``path`` (.md or .json by extension); returns the images written."""
    target = os.path.expanduser(path)
    images: List[Any] = []
    if target.endswith(".json"):
        text = json.dumps(thread.to_dict(), indent=2, ensure_ascii=False)  # images as data URLs
    elif target.endswith(".md"):
        text = transcript_markdown(thread, images)
    else:
        raise InputError(f"Export to .md or .json, got {path!r}.")
    folder = os.path.join(os.path.dirname(target), "images")
    if images:
        os.makedirs(folder, exist_ok=True)
        for name, data in images:
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(data)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    return len(images)


def read_conversation(path: str) -> Tuple[List[Message], Optional[str]]:
    """The messages and system prompt of a ``%chat export`` JSON file, or one line saying why not."""
    target = os.path.expanduser(path)
    if not os.path.exists(target):
        raise InputError(f"No such file: {path}")
    if not target.endswith(".json"):
        raise InputError("Load takes a .json file written by %chat export.")
    from .loaded_files import read_loaded_text

    text = read_loaded_text(target, "%chat load")  # within a size limit, strict UTF-8
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the file is not a JSON object")
        raw_messages = data.get("messages", [])
        if not isinstance(raw_messages, list):
            raise ValueError("messages must be a list")
        messages = [Message.from_dict(m, f"messages[{i}]") for i, m in enumerate(raw_messages)]
        system = data.get("system")
        if system is not None and not isinstance(system, str):
            raise ValueError("system must be text")
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path} is not a conversation export: {exc}") from None
    return messages, system


def transcript_markdown(thread: Conversation, images: Optional[List[Any]] = None) -> str:
    """The conversation as Markdown. With ``images`` (a list to fill), images in content parts
    become links to ``images/NAME`` and (NAME, bytes) pairs are added for the caller to write;
    without it they are a short text mark."""
    parts: List[str] = [f"# Conversation: {thread.name}\n"]
    if thread.system:
        parts.append(f"**system:** {thread.system}\n")
    for message in thread.messages:
        label = message.role + (" (partial)" if message.partial else "")
        body = _markdown_body(thread.name, message, images)
        if message.tool_calls:
            calls = ", ".join(
                f"{c['function']['name']}({c['function']['arguments']})" for c in message.tool_calls
            )
            body = (body + "\n\n" if body else "") + f"*tool calls:* `{calls}`"
        parts.append(f"### {label}\n\n{body}\n")
    return "\n".join(parts)


def _markdown_body(name: str, message: Message, images: Optional[List[Any]]) -> str:
    if not isinstance(message.content, list):
        return message.content or ""
    if images is None:
        return content_text(message.content)
    import base64

    from ..image_header import read_header

    pieces = [p["text"] for p in message.content if p.get("type") == "text"]
    for url in content_images(message.content):
        if not url.startswith("data:"):
            pieces.append(f"![image]({url})")
            continue
        data = base64.b64decode(url.split(",", 1)[1])
        header = read_header(data)
        extension = header.format.lower() if header else "bin"
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        filename = f"{safe}-{len(images) + 1}.{extension}"
        images.append((filename, data))
        pieces.append(f"![image {len(images)}](images/{filename})")
    pieces += [f"[file: {name}]" for name in content_files(message.content)]
    return "\n\n".join(pieces)
