"""Masking beyond one string (issue 29): text that came in pieces kept apart (logprobs tokens),
and the headers a user adds (``OAIMagics.extra_headers``), whose secret values stay masked
wherever they are shown. Built on ``redaction``, the one home of finding the key.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from .errors import InputError
from .redaction import Secret, _key_matches, mask_key

_SECRET_HEADER = re.compile(r"key|token|auth|secret|password|cookie|signature|credential", re.I)
_SECRET_VALUE = re.compile(r"(?:bearer\s+)?[A-Za-z0-9_\-.=+/]{20,}", re.I)


def looks_secret(name: str, value: str) -> bool:
    """A header value to keep masked: a secret-sounding name (``api-key``, ``Authorization``,
    ``x-auth-token``) or a long key-like value."""
    return bool(_SECRET_HEADER.search(name) or _SECRET_VALUE.fullmatch(value.strip()))


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_OWN_HEADERS = ("content-type", "content-length", "host", "accept", "transfer-encoding")


def checked_extra_headers(headers: Any) -> Dict[str, Any]:
    """``OAIMagics.extra_headers`` checked once, at ``%config``: names are HTTP tokens, values
    one line of text; a value that looks like a secret is kept as a ``Secret`` (masked in
    ``%config``, ``%oai`` and every repr, revealed only into the request)."""
    if not isinstance(headers, dict):
        raise InputError('OAIMagics.extra_headers takes a dict, e.g. {"api-key": "…"}')
    checked: Dict[str, Any] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InputError(f"OAIMagics.extra_headers: {name!r} is not a header name")
        if name.lower() in _OWN_HEADERS:
            raise InputError(f"OAIMagics.extra_headers: {name} is set by oai_magic itself")
        text = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(text, str) or any(c in text for c in "\r\n\0"):
            raise InputError(f"OAIMagics.extra_headers[{name!r}] must be one line of text")
        checked[name] = Secret(text) if looks_secret(name, text) else text
    return checked


def shown_headers(headers: Dict[str, Any]) -> str:
    """``name: value`` pairs for ``%oai``, secret values masked."""
    return ", ".join(f"{name}: {mask_key(v.reveal()) if isinstance(v, Secret) else v}"
                     for name, v in headers.items())


def redact_pieces(pieces: List[str], key: Optional[str]) -> List[str]:
    """Redaction of text that came in pieces kept apart (logprobs tokens): the pieces are
    checked joined, and every piece that touches a run of the key is masked (the first of
    them shows the mask, the others become empty), so a key split across tokens is masked too."""
    if not key or len(key) < 4 or not pieces:
        return list(pieces)
    spans = _key_matches("".join(pieces), key)
    if not spans:
        return list(pieces)
    out, pos, masked_spans = [], 0, set()
    for piece in pieces:
        start, end = pos, pos + len(piece)
        pos = end
        hit = next((i for i, (a, b) in enumerate(spans) if a < end and start < b), None)
        if hit is None:
            out.append(piece)
        else:
            out.append("" if hit in masked_spans else mask_key(key))
            masked_spans.add(hit)
    return out
