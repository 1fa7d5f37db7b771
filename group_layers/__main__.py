"""``python -m group_layers``: the same as the ``group-layers`` command."""

import sys

from .cli import run

sys.exit(run())
