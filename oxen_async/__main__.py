"""``python -m oxen_async``: the same as the ``oxen-async`` command."""

import sys

from .cli import main

sys.exit(main())
