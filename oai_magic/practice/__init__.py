"""The offline practice server: an OpenAI-compatible API on 127.0.0.1, standard library only.

``python -m oai_magic.practice --port 8765`` serves it; ``PracticeServer()`` starts one in a
thread (tests, demos, ``%oai practice``). This package imports nothing else of ours, so it runs
wherever Python does.
"""

from .batch import RateLimit
from .handler import BOUNDED_LOG_REQUESTS, PRACTICE_HEADER, RecordedRequest, Scripted
from .server import PracticeServer, main
from .wire import error_body, sse_event

__all__ = ["BOUNDED_LOG_REQUESTS", "PRACTICE_HEADER", "PracticeServer", "RateLimit", "RecordedRequest",
           "Scripted", "error_body", "main", "sse_event"]
