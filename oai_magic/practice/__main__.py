"""``python -m oai_magic.practice``: serve the practice API until Ctrl-C."""

import sys

from .server import main

sys.exit(main())
