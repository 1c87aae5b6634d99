"""The durable log (CONTRACTS 9): one SQLite file, standard library only.

``Log`` is what the Session holds: it writes turns as they start and stream, the operations
that change conversations, usage amounts, batch jobs and ``--map`` items, and reads them back
for resume, ``%chat log``, search and budgets. It never raises into chat and never stores the
key. Nothing here imports IPython, and nothing of ours but the base modules.
"""

from .browse import Forgotten, LoggedTurn
from .connection import default_log_path, resolve_log_path
from .log import Log, fingerprint, this_notebook
from .resume import Resumed
from .schema import LATEST as SCHEMA_VERSION
from .schema import OPERATIONS
from .turns import TurnHandle

__all__ = ["Log", "TurnHandle", "LoggedTurn", "Resumed", "Forgotten", "OPERATIONS", "SCHEMA_VERSION",
           "default_log_path", "resolve_log_path", "fingerprint", "this_notebook"]
