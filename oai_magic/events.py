"""``oai_magic.events``: the typed events a run yields (their home is ``core.events``)."""

from .core.events import *  # noqa: F403
from .core.events import __all__  # noqa: F401
