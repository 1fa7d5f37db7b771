"""``python -m group_layers``: the same as the ``group-layers`` command."""

from .cli import run

run()
