"""The practice server's life in a session: start it and point the session at it, stop it and
go back. ``%oai practice`` and ``Session.start_practice`` share this; the session holds the handle
(``session.practice_server``) and the base URL it replaced.
"""

from __future__ import annotations

from typing import Any

from ..state import PRACTICE_KEY, Secret, from_practice_server


def local_practice_server(base_url: str, key: str, timeout: float = 1.0) -> bool:
    """Does a server on this machine say it is the practice server (``x-oai-practice: 1``)?

    Only loopback URLs are asked (``GET /models`` with the key, as any request would send it),
    once, with a short timeout: asking a remote URL could hang the setup cell on an unreachable
    network. Anything else counts as "not known to be practice".
    """
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    from ..state import PRACTICE_HEADER

    if urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return False
    try:
        request = urllib.request.Request(base_url.rstrip("/") + "/models",
                                         headers={"Authorization": f"Bearer {key}"})
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
        with direct.open(request, timeout=timeout) as response:
            headers = response.headers
    except urllib.error.HTTPError as error:  # e.g. 401 without a key: the header is still there
        headers = error.headers
    except (OSError, ValueError):
        return False
    return from_practice_server({PRACTICE_HEADER: headers.get(PRACTICE_HEADER, "")})


def start_practice(session: Any, delay: float) -> None:
    from ..practice import BOUNDED_LOG_REQUESTS, PracticeServer

    if session.practice_server is None:
        session.base_url_before_practice = session.settings.base_url
        session.practice_server = PracticeServer(token_delay=delay, log_limit=BOUNDED_LOG_REQUESTS).start()
    else:
        session.practice_server.token_delay = delay
    session.settings.base_url = session.practice_server.base_url
    if not session.settings.resolved_key():
        session.settings.api_key = Secret(PRACTICE_KEY)


def stop_practice(session: Any) -> str:
    if session.practice_server is None:
        return "The practice server is not running."
    if session.settings.base_url == session.practice_server.base_url:  # not changed since: go back
        session.settings.base_url = session.base_url_before_practice
    session.practice_server.stop()
    session.practice_server = None
    session.base_url_before_practice = None
    if session.settings.api_key is not None and session.settings.api_key.reveal() == PRACTICE_KEY:
        session.settings.api_key = None
    return "Practice server stopped; requests go to the configured base URL again."
