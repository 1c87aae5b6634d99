"""An answer's sources: its ``url_citation`` annotations as a numbered list under the answer,
before the footer (CONTRACTS 1). OpenAI asks that cited sources be shown and clickable.

Citations are server text (CONTRACTS 5): only ``http`` and ``https`` URLs become links, with
``rel="noopener noreferrer nofollow"`` and ``target="_blank"``; titles and every other scheme
(``javascript:``, ``data:``) are escaped text, inside an element MathJax ignores.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

from ..plain_text import terminal_safe
from .chrome import one_line
from .markdown import IGNORE_MATH, escape_html

LINK_ATTRIBUTES = 'rel="noopener noreferrer nofollow" target="_blank"'


def cited_sources(citations: Iterable[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(url, title) of each source once, in the order first cited."""
    seen: Dict[str, str] = {}
    for cited in citations:
        seen.setdefault(cited["url"], cited.get("title") or "")
    return list(seen.items())


def _is_web_link(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and url == url.strip() \
        and not any(c.isspace() or ord(c) < 32 for c in url)


def sources_html(citations: Iterable[Dict[str, Any]]) -> str:
    """A numbered list of sources; only http(s) URLs become links, titles and every other
    scheme stay escaped text, all kept away from MathJax ("" when there are none)."""
    items = []
    for url, title in cited_sources(citations):
        label = escape_html(one_line(title) or url)
        if _is_web_link(url):
            items.append(f'<li><a href="{escape_html(url)}" {LINK_ATTRIBUTES}>{label}</a></li>')
        else:
            items.append(f"<li>{label} <code>{escape_html(url)}</code></li>")
    if not items:
        return ""
    return (f'<div class="oai-sources {IGNORE_MATH}" style="font-size:smaller;margin-top:0.4em">'
            f'Sources<ol style="margin:0.2em 0 0 0;padding-left:1.6em">{"".join(items)}</ol></div>')


def sources_text(citations: Iterable[Dict[str, Any]]) -> str:
    """The sources as plain lines: ``[1] Title — https://…`` ("" when there are none)."""
    return "\n".join(terminal_safe(f"[{n}] {one_line(title) or url} — {url}")
                      for n, (url, title) in enumerate(cited_sources(citations), 1))
