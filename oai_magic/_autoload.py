"""What kernels load at start (``extra_extensions``), under a name of its own.

IPython remembers loaded extensions by module name. Autoloading ``oai_magic`` itself made the
notebooks' own ``%load_ext oai_magic`` print "The oai_magic extension is already loaded", which
reads like a warning as a notebook's first output. Autoloading this module instead leaves the
name ``oai_magic`` free, so that ``%load_ext oai_magic`` loads silently (and registers nothing
twice: see ``magics.register``).
"""

from __future__ import annotations


def load_ipython_extension(ipython) -> None:
    from . import load_ipython_extension as load

    load(ipython)
