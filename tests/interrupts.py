"""Real Ctrl-C in tests: a SIGINT that reaches the main thread, and a wait that ends.

A suite started with SIGINT ignored (``nohup``, a background job of a non-interactive shell)
would have these tests wait out a 600 s read timeout: the signal is sent, nothing happens, the
server holds the stream. So, for the block only, SIGINT raises ``KeyboardInterrupt`` again, as
in a terminal or a Jupyter kernel; and if the cell has still not stopped after ``within_s``,
``release`` lets the server end the stream and the test fails, saying why.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest

SIGINT_WAIT_S = 30.0


@contextmanager
def real_sigint(release: Callable[[], None] = lambda: None, within_s: float = SIGINT_WAIT_S
                ) -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    expired = threading.Event()

    def give_up() -> None:
        expired.set()
        release()

    timer = threading.Timer(within_s, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield
    except BaseException as error:
        if expired.is_set():
            pytest.fail(f"the SIGINT did not stop the cell within {within_s:.0f} s "
                        f"(was SIGINT delivered to the main thread?): {error}", pytrace=False)
        raise
    else:
        if expired.is_set():
            pytest.fail(f"the SIGINT did not stop the cell within {within_s:.0f} s", pytrace=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def default_sigint_in_child() -> None:
    """``preexec_fn`` for a child that must stop on Ctrl-C: SIGINT as a terminal gives it, even
    when this process ignores it (a child inherits an ignored signal)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
